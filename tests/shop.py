"""A small shop for order and payment tests: products, stock, a customer, and documents."""

from __future__ import annotations

import dataclasses
from typing import Any
from uuid import UUID

from domain import catalog, customers, inventory
from services import catalog as catalog_services
from services import customers as customer_services
from services import inventory as inventory_services
from tables import catalog as catalog_tables
from tables import events as outbox
from tables import inventory as inventory_tables
from tests.documents import META, payload

MODULES = ("catalog", "customers", "inventory", "orders", "payments")
PRICES = {"TEE-S": 1500, "TEE-M": 1500, "MUG": 800}

ORDER_FIELDS = """
id number status currency priceListId createdAt
subtotal { amount currency } discountTotal { amount } taxTotal { amount } total { amount currency }
customer { id email }
lines { sku title quantity unitPrice { amount currency } discount { amount } lineTotal { amount }
        variant { id sku } }
"""
MONEY_FIELDS = """
id status total { amount }
capturedAmount { amount currency } refundedAmount { amount } authorizedAmount { amount }
balance { amount } payments { kind amount { amount currency } reference }
"""

CREATE_ORDER = f"""
mutation CreateOrder($input: OrderCreateInput!) {{
  createOrder(input: $input) {{ order {{ {ORDER_FIELDS} }} errors {{ field message code }} }}
}}
"""
ORDER = f"query Order($id: ID!) {{ order(id: $id) {{ {ORDER_FIELDS} }} }}"
ORDER_BY_NUMBER = "query ByNumber($number: Int!) { orderByNumber(number: $number) { id number } }"
ORDERS = """
query Orders($first: Int, $after: String, $filter: OrderFilter, $orderBy: OrderOrder) {
  orders(first: $first, after: $after, filter: $filter, orderBy: $orderBy) {
    edges { cursor node { id number status total { amount } } }
    pageInfo { hasNextPage hasPreviousPage endCursor }
  }
}
"""
CHANGES = {
    "PAID": "markOrderPaid",
    "FULFILLED": "fulfillOrder",
    "CANCELLED": "cancelOrder",
    "REFUNDED": "refundOrder",
}
PAYMENT_RESULT = f"payment {{ id kind amount {{ amount currency }} }} order {{ {MONEY_FIELDS} }}"


def change_document(mutation: str) -> str:
    return f"""
mutation Change($id: ID!) {{
  {mutation}(id: $id) {{ order {{ id number status }} errors {{ field message code }} }}
}}
"""


def payment_document(mutation: str) -> str:
    return f"""
mutation Pay($input: PaymentInput!) {{
  {mutation}(input: $input) {{ {PAYMENT_RESULT} errors {{ field message code }} }}
}}
"""


@dataclasses.dataclass
class Shop:
    tenant: Any
    location_id: UUID
    variants: dict[str, UUID]
    customer_id: UUID
    seeded_seq: int
    """The last event of the seeding; tests look at events after it."""
    prefix: str = ""
    """Of every sku of this shop, so that two shops' skus can differ."""

    @property
    def id(self) -> UUID:
        return self.tenant.id

    async def gql(self, query: str, variables: dict[str, Any] | None = None, **kw: Any) -> Any:
        return await self.tenant.gql(query, variables, **kw)

    def line(self, sku: str, quantity: int = 1, *, by_id: bool = True) -> dict[str, Any]:
        named = {"variantId": str(self.variants[sku])} if by_id else {"sku": self.prefix + sku}
        return {**named, "quantity": quantity}

    async def place(self, *lines: dict[str, Any], **fields: Any) -> dict[str, Any]:
        """An order the test expects to be made."""
        body = await self.gql(CREATE_ORDER, {"input": {
            "customerId": str(self.customer_id), "lines": list(lines) or [self.line("TEE-S")], **fields
        }})
        order: dict[str, Any] = payload(body, "createOrder")["order"]
        return order

    async def change(self, order_id: str, status: str) -> Any:
        return await self.gql(change_document(CHANGES[status]), {"id": order_id})

    async def status(self, order_id: str) -> str:
        body = await self.gql("query S($id: ID!) { order(id: $id) { status } }", {"id": order_id})
        return str(body["data"]["order"]["status"])

    async def event_types(self) -> list[str]:
        """Types of the events since the shop was seeded, in sequence order."""
        found = await outbox.list_events(tenant_id=self.id, after_seq=self.seeded_seq, limit=1000)
        return [e.type for e in found]

    async def stock(self, sku: str) -> tuple[int, int]:
        """(on hand, reserved) of a sku at the shop's location."""
        levels = await inventory_tables.levels_of([self.variants[sku]], tenant_id=self.id)
        level = levels[self.variants[sku]][0]
        return level.on_hand, level.reserved

    async def reservations(self, order_id: str) -> list[tuple[str, int]]:
        found = await inventory_tables.reservations_of([UUID(order_id)], tenant_id=self.id)
        return [(r.status.value, r.quantity) for r in found.get(UUID(order_id), [])]


async def open_shop(
    make_tenant: Any, *, stock: int = 10, modules: tuple[str, ...] = MODULES, prefix: str = ""
) -> Shop:
    tenant = await make_tenant(modules=modules)
    variants: dict[str, UUID] = {}
    for title, skus in (("Tee", ("TEE-S", "TEE-M")), ("Mug", ("MUG",))):
        drafts = [
            catalog.VariantDraft(sku=prefix + sku, title=sku.split("-")[-1] if "-" in sku else "",
                                 price=catalog.Money(PRICES[sku], "EUR"))
            for sku in skus
        ]
        await catalog_services.create_product(
            catalog.ProductDraft(title=title, handle=title.lower()), drafts, tenant_id=tenant.id, meta=META
        )
        found = await catalog_tables.variants_by_sku([d.sku for d in drafts], tenant_id=tenant.id)
        variants.update({sku: found[prefix + sku].id for sku in skus})
    location = await inventory_services.create_location(
        inventory.LocationDraft(name="Main", handle="main"), tenant_id=tenant.id, meta=META
    )
    for variant_id in variants.values():
        await inventory_services.set_stock(
            variant_id, location.id, stock, "opening count", tenant_id=tenant.id, meta=META
        )
    customer = await customer_services.create_customer(
        customers.CustomerDraft(email=f"buyer@{tenant.slug}.example", first_name="Bea"), [],
        tenant_id=tenant.id, meta=META,
    )
    seeded = await outbox.list_events(tenant_id=tenant.id, descending=True, limit=1)
    return Shop(
        tenant=tenant, location_id=location.id, variants=variants, customer_id=customer.id,
        seeded_seq=seeded[0].seq, prefix=prefix,
    )


def transition_codes(body: dict[str, Any], mutation: str) -> list[str]:
    assert "errors" not in body, body
    return [error["code"] for error in body["data"][mutation]["errors"]]
