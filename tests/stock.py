"""Stock for the inventory tests: a tenant's variants and locations, reached through the
tables or through /graphql, and the GraphQL documents of the inventory API."""

from __future__ import annotations

import dataclasses
from typing import Any
from uuid import UUID, uuid4

from domain import catalog, inventory
from services import catalog as catalog_services
from services import inventory as inventory_services
from tables import catalog as catalog_tables
from tables import db
from tables import events as outbox
from tables import inventory as stock
from tables import orders as order_tables
from tables.orders import OrderTable
from tests.documents import META

MODULES = ("catalog", "inventory")

CREATE_LOCATION = """
mutation CreateLocation($input: StockLocationCreateInput!) {
  createLocation(input: $input) { location { id name handle active } errors { field message code } }
}
"""

UPDATE_LOCATION = """
mutation UpdateLocation($id: ID!, $input: StockLocationUpdateInput!) {
  updateLocation(id: $id, input: $input) {
    location { id name handle active } errors { field message code }
  }
}
"""

LOCATION = """
query Location($id: ID!) { location(id: $id) { id handle } }
"""

LOCATIONS = """
query Locations($active: Boolean) { locations(active: $active) { id handle active } }
"""

ADJUST_STOCK = """
mutation Adjust($input: AdjustStockInput!) {
  adjustStock(input: $input) {
    stockLevel { sku onHand reserved available location { handle } variant { sku } }
    adjustment { delta reason note actor orderId sku location { handle } variant { id sku } }
    errors { field message code }
  }
}
"""

SET_STOCK = """
mutation SetStock($input: SetStockInput!) {
  setStock(input: $input) {
    stockLevel { sku onHand reserved available }
    adjustment { delta reason note }
    errors { field message code }
  }
}
"""

STOCK_LEVELS = """
query Levels($first: Int, $after: String, $filter: StockLevelFilter, $orderBy: StockLevelOrder) {
  stockLevels(first: $first, after: $after, filter: $filter, orderBy: $orderBy) {
    edges { cursor node { sku onHand reserved available location { handle } } }
    pageInfo { hasNextPage hasPreviousPage endCursor }
  }
}
"""

STOCK_ADJUSTMENTS = """
query History($first: Int, $after: String, $filter: StockAdjustmentFilter,
              $orderBy: StockAdjustmentOrder) {
  stockAdjustments(first: $first, after: $after, filter: $filter, orderBy: $orderBy) {
    edges { node { sku delta reason note createdAt location { handle } } }
    pageInfo { hasNextPage endCursor }
  }
}
"""

VARIANT_STOCK = """
query VariantStock($first: Int!) {
  products(first: $first) {
    edges { node { title variants { sku available stock { onHand reserved location { handle } } } } }
  }
}
"""

PRICED_STOCK = """
{ products(first: 5) { edges { node { variants { sku price { amount } available stock { onHand } } } } } }
"""


@dataclasses.dataclass(frozen=True)
class Shop:
    """A tenant with variants by SKU and locations by handle."""

    tenant_id: UUID
    variants: dict[str, UUID]
    locations: dict[str, UUID]

    async def receive(self, sku: str, handle: str, quantity: int) -> inventory.StockLevel:
        change = inventory.Change(
            self.variants[sku], self.locations[handle], quantity, inventory.Reason.RECEIVED
        )
        level, _ = await inventory_services.adjust(change, tenant_id=self.tenant_id, meta=META)
        return level

    async def levels(self, sku: str) -> dict[str, tuple[int, int]]:
        """(on hand, reserved) by location handle."""
        names = {v: k for k, v in self.locations.items()}
        found = await stock.levels_of([self.variants[sku]], tenant_id=self.tenant_id)
        return {names[lv.location_id]: (lv.on_hand, lv.reserved) for lv in found[self.variants[sku]]}

    async def available(self, sku: str) -> int:
        found = await stock.available_of([self.variants[sku]], tenant_id=self.tenant_id)
        return found.get(self.variants[sku], 0)

    async def order(self) -> UUID:
        async with db.transaction(tenant_id=self.tenant_id):
            number = await order_tables.next_number(tenant_id=self.tenant_id)
            rows = await OrderTable.insert(OrderTable(
                tenant_id=self.tenant_id, number=number, currency="EUR"
            )).returning(OrderTable.id)
        order_id: UUID = rows[0]["id"]
        return order_id

    async def event_types(self) -> list[str]:
        return [e.type for e in await outbox.list_events(tenant_id=self.tenant_id, limit=1000)]


async def open_shop(
    tenant_id: UUID, skus: tuple[str, ...] = ("MUG",), handles: tuple[str, ...] = ("main",)
) -> Shop:
    variants = [catalog.VariantDraft(sku=s, title="", price=catalog.Money(900, "EUR")) for s in skus]
    product = await catalog_services.create_product(
        catalog.ProductDraft(title="Thing", handle=f"thing-{uuid4().hex[:8]}"), variants,
        tenant_id=tenant_id, meta=META,
    )
    found = await catalog_tables.variants_of([product.id], tenant_id=tenant_id)
    locations = {}
    for handle in handles:
        draft = inventory.LocationDraft(name=handle.title(), handle=handle)
        made = await inventory_services.create_location(draft, tenant_id=tenant_id, meta=META)
        locations[handle] = made.id
    return Shop(tenant_id, {v.sku: v.id for v in found[product.id]}, locations)


@dataclasses.dataclass(frozen=True)
class ApiShop:
    """A tenant reached through /graphql, with variant and location ids by SKU and handle."""

    tenant: Any
    variants: dict[str, str]
    locations: dict[str, str]

    async def gql(self, query: str, variables: dict[str, Any] | None = None, **kw: Any) -> Any:
        return await self.tenant.gql(query, variables, **kw)

    async def adjust(self, **input_: Any) -> dict[str, Any]:
        body = await self.gql(ADJUST_STOCK, {"input": input_})
        assert "errors" not in body, body
        payload: dict[str, Any] = body["data"]["adjustStock"]
        return payload

    async def receive(self, sku: str, handle: str, delta: int) -> None:
        done = await self.adjust(sku=sku, locationId=self.locations[handle], delta=delta, reason="RECEIVED")
        assert done["errors"] == [], done

    async def levels(self, **variables: Any) -> list[tuple[str, str, int, int]]:
        """(sku, location handle, on hand, reserved) of the whole first page."""
        body = await self.gql(STOCK_LEVELS, {"first": 100, **variables})
        assert "errors" not in body, body
        return [
            (n["sku"], n["location"]["handle"], n["onHand"], n["reserved"])
            for n in (e["node"] for e in body["data"]["stockLevels"]["edges"])
        ]

    async def history(self, **variables: Any) -> list[tuple[str, int, str]]:
        body = await self.gql(STOCK_ADJUSTMENTS, {"first": 100, **variables})
        assert "errors" not in body, body
        return [
            (n["sku"], n["delta"], n["reason"])
            for n in (e["node"] for e in body["data"]["stockAdjustments"]["edges"])
        ]


async def open_api_shop(tenant: Any, skus: tuple[str, ...], handles: tuple[str, ...]) -> ApiShop:
    variants = [catalog.VariantDraft(sku=s, title="", price=catalog.Money(900, "EUR")) for s in skus]
    product = await catalog_services.create_product(
        catalog.ProductDraft(title="Mug", handle=f"mug-{uuid4().hex[:8]}"), variants,
        tenant_id=tenant.id, meta=META,
    )
    found = (await catalog_tables.variants_of([product.id], tenant_id=tenant.id))[product.id]
    locations = {}
    for handle in handles:
        body = await tenant.gql(CREATE_LOCATION, {"input": {"name": handle.title(), "handle": handle}})
        locations[handle] = body["data"]["createLocation"]["location"]["id"]
    return ApiShop(tenant, {v.sku: str(v.id) for v in found}, locations)
