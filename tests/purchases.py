"""Purchases for the batch tests: a shop with two locations and a USD price list, purchase-flow
payloads, the two ways of applying them, and a tenant's rows and events with ids replaced by
names, so that two identically seeded tenants can be compared."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from domain import catalog, events, flows, inventory, pricing
from domain.errors import DomainError
from services import flows as flow_services
from services import inventory as inventory_services
from services import pricing as pricing_services
from services import purchase_batches
from tables import db
from tables import inventory as inventory_tables
from tests import shop as shops
from tests.documents import META

Batch = list[tuple[flows.Payload, events.WriteMeta]]
Outcome = tuple[str, str, dict[str, str]] | None


@dataclasses.dataclass
class PurchaseShop:
    shop: shops.Shop
    annex_id: UUID

    @property
    def id(self) -> UUID:
        return self.shop.id

    async def stock(self, sku: str) -> tuple[int, int]:
        """(on hand, reserved) of a sku at the main location."""
        levels = await inventory_tables.levels_of([self.shop.variants[sku]], tenant_id=self.id)
        main = [lv for lv in levels[self.shop.variants[sku]] if lv.location_id == self.shop.location_id]
        return main[0].on_hand, main[0].reserved


async def open_purchase_shop(make_tenant: Any, *, stock: int = 10, prefix: str = "") -> PurchaseShop:
    """tests.shop's shop (TEE-S, TEE-M, MUG at `stock` each at main), TEE-M also 5 at an annex,
    MUG 50 at an inactive location (never sold from), and MUG listed at 900 USD."""
    shop = await shops.open_shop(make_tenant, stock=stock, prefix=prefix)
    annex = await inventory_services.create_location(
        inventory.LocationDraft(name="Annex", handle="annex"), tenant_id=shop.id, meta=META
    )
    await inventory_services.set_stock(
        shop.variants["TEE-M"], annex.id, 5, "opening count", tenant_id=shop.id, meta=META
    )
    closed = await inventory_services.create_location(
        inventory.LocationDraft(name="Closed", handle="closed", active=False), tenant_id=shop.id, meta=META
    )
    await inventory_services.set_stock(
        shop.variants["MUG"], closed.id, 50, "opening count", tenant_id=shop.id, meta=META
    )
    usd = await pricing_services.create_price_list(
        pricing.PriceListDraft(name="US", handle="us", currency="USD"), tenant_id=shop.id, meta=META
    )
    await pricing_services.set_variant_price(
        usd.id, shop.variants["MUG"], catalog.Money(900, "USD"), None, tenant_id=shop.id, meta=META
    )
    shop.seeded_seq = await _last_seq(shop.id)
    return PurchaseShop(shop, annex.id)


async def _last_seq(tenant_id: UUID) -> int:
    async with db.transaction(tenant_id=tenant_id) as tx:
        last = await tx.connection.fetchval("select max(seq) from events where tenant_id = $1", tenant_id)
    return int(last)


def purchase(
    ref: str, items: Sequence[tuple[str, int, int]], *, email: str | None = None,
    currency: str = "EUR", first_name: str = "",
) -> flows.Payload:
    order: dict[str, Any] = {
        "id": ref, "currency": currency,
        "items": [{"sku": sku, "quantity": qty, "unitPrice": price} for sku, qty, price in items],
        "total": sum(qty * price for _, qty, price in items),
    }
    if email is not None:
        order["customer"] = {"email": email, **({"firstName": first_name} if first_name else {})}
    return flows.parse("purchase-flow", {"version": 1, "order": order})


def batch(*payloads: flows.Payload) -> Batch:
    return [
        (payload, events.WriteMeta(actor="webhook:purchase-flow", correlation_id=f"delivery-{i}"))
        for i, payload in enumerate(payloads)
    ]


def outcome(error: DomainError | None) -> Outcome:
    if error is None:
        return None
    return type(error).__name__, error.message, dict(getattr(error, "fields", {}))


async def one_by_one(tenant_id: UUID, deliveries: Batch) -> list[Outcome]:
    """Each purchase applied alone in its own transaction, as the per-delivery path does."""
    found: list[Outcome] = []
    for payload, meta in deliveries:
        assert isinstance(payload, flows.Purchase)
        try:
            async with db.transaction(tenant_id=tenant_id):
                await flow_services.apply_purchase(payload, tenant_id=tenant_id, meta=meta)
        except DomainError as error:
            found.append(outcome(error))
            continue
        found.append(None)
    return found


async def as_batch(tenant_id: UUID, deliveries: Batch) -> list[Outcome]:
    async with db.transaction(tenant_id=tenant_id):
        found = await purchase_batches.apply_purchases(deliveries, tenant_id)
    return [outcome(error) for error in found]


SNAPSHOT = {
    "orders": """
        select o.number, o.external_ref, o.status, o.currency, o.subtotal, o.discount_total,
               o.tax_total, o.total, o.price_list_id, o.idempotency_key, c.email
        from orders o left join customers c on c.id = o.customer_id
        where o.tenant_id = $1 order by o.number""",
    "lines": """
        select o.number, l.position, l.sku, l.title, l.quantity, l.unit_price, l.discount,
               l.line_total, l.currency
        from order_lines l join orders o on o.id = l.order_id
        where l.tenant_id = $1 order by o.number, l.position""",
    "customers": """
        select email, email_key, first_name, last_name, phone, tags from customers
        where tenant_id = $1 order by email_key""",
    "reservations": """
        select o.number, v.sku, loc.handle, r.quantity, r.status
        from reservations r join orders o on o.id = r.order_id
        join variants v on v.id = r.variant_id join locations loc on loc.id = r.location_id
        where r.tenant_id = $1 order by o.number, v.sku, loc.handle""",
    "levels": """
        select v.sku, loc.handle, s.on_hand, s.reserved
        from stock_levels s join variants v on v.id = s.variant_id
        join locations loc on loc.id = s.location_id
        where s.tenant_id = $1 order by v.sku, loc.handle""",
    "events": """
        select seq - $2 as seq, type, aggregate_type, aggregate_id, payload::text as payload,
               correlation_id, actor, traceparent
        from events where tenant_id = $1 and seq > $2 order by seq""",
}
NAMES = """
    select id::text, 'variant:' || sku from variants where tenant_id = $1
    union all select id::text, 'location:' || handle from locations where tenant_id = $1
    union all select id::text, 'order:' || number from orders where tenant_id = $1
    union all select id::text, 'customer:' || email_key from customers where tenant_id = $1
"""


async def snapshot(shop: PurchaseShop) -> dict[str, list[tuple[Any, ...]]]:
    """The tenant's orders, lines, customers, holds, stock and events since its seeding, with
    every id written as what it names and the tenant's slug as SLUG."""
    tenant_id, slug = shop.id, shop.shop.tenant.slug
    async with db.transaction(tenant_id=tenant_id) as tx:
        names = dict(await tx.connection.fetch(NAMES, tenant_id))
        found = {}
        for kind, query in SNAPSHOT.items():
            args = (tenant_id, shop.shop.seeded_seq) if kind == "events" else (tenant_id,)
            found[kind] = [tuple(row.values()) for row in await tx.connection.fetch(query, *args)]

    def named(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        for key, name in names.items():
            value = value.replace(key, name)
        return value.replace(slug, "SLUG")

    named_rows = {kind: [tuple(named(v) for v in row) for row in rows] for kind, rows in found.items()}
    return {**named_rows, "events": holds_by_name(named_rows["events"])}


def holds_by_name(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The events with each delivery's run of `inventory.reserved` sorted by sku and location:
    a delivery holds its variants in the order of their ids, which differs between tenants
    (test_holds_are_announced_in_the_order_of_the_per_delivery_path checks that order)."""
    runs = itertools.groupby(rows, key=lambda row: (row[1] == "inventory.reserved", row[5]))
    ordered = [row for _, run in runs for row in sorted(run, key=lambda row: row[1:])]
    return [(original[0], *row[1:]) for original, row in zip(rows, ordered, strict=True)]
