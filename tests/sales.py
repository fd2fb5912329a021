"""Hand-made sales for the metrics tests: products, orders written straight to their tables
(as the orders module would leave them), and stock on hand."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from uuid import UUID

from domain import catalog
from services import catalog as catalog_services
from tables import catalog as catalog_tables
from tables import db
from tables import orders as order_tables
from tables.inventory import LocationTable, StockLevelTable
from tables.orders import OrderLineTable, OrderTable
from tests.documents import META

Line = tuple[str, int, int]
"""(sku, quantity, unit price in minor units)"""


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


async def make_product(
    tenant_id: UUID,
    title: str,
    variants: Sequence[tuple[str, dict[str, str]]],
    attributes: dict[str, str] | None = None,
    currency: str = "EUR",
) -> dict[str, catalog.Variant]:
    """A product with variants (sku, attributes); returns its variants by sku."""
    draft = catalog.ProductDraft(
        title=title, handle=catalog.handle_from_title(title), attributes=attributes or {}
    )
    drafts = [
        catalog.VariantDraft(sku=sku, title="", price=catalog.Money(1000, currency), attributes=attrs)
        for sku, attrs in variants
    ]
    await catalog_services.create_product(draft, drafts, tenant_id=tenant_id, meta=META)
    return await catalog_tables.variants_by_sku([sku for sku, _ in variants], tenant_id=tenant_id)


async def place_order(
    tenant_id: UUID, when: str, status: str, currency: str, lines: Sequence[Line]
) -> UUID:
    """An order placed at `when` (UTC) in `status`; its total is the sum of its lines."""
    async with db.transaction(tenant_id=tenant_id):
        number = await order_tables.next_number(tenant_id=tenant_id)
        skus = await catalog_tables.variants_by_sku([sku for sku, _, _ in lines], tenant_id=tenant_id)
        total = sum(quantity * price for _, quantity, price in lines)
        order_id = uuid.uuid4()
        await OrderTable.insert(OrderTable(
            id=order_id, tenant_id=tenant_id, number=number, status=status, currency=currency,
            subtotal=total, total=total, created_at=at(when), updated_at=at(when),
        ))
        await OrderLineTable.insert(*[
            OrderLineTable(
                tenant_id=tenant_id, order_id=order_id, variant_id=skus[sku].id, sku=sku,
                quantity=quantity, unit_price=price, line_total=quantity * price,
                currency=currency, position=position,
            )
            for position, (sku, quantity, price) in enumerate(lines)
        ])
    return order_id


async def put_stock(tenant_id: UUID, on_hand: dict[str, int], location: str = "main") -> None:
    """Units on hand per sku at a (new) location."""
    async with db.transaction(tenant_id=tenant_id):
        location_id = uuid.uuid4()
        await LocationTable.insert(
            LocationTable(id=location_id, tenant_id=tenant_id, name=location, handle=location)
        )
        variants = await catalog_tables.variants_by_sku(list(on_hand), tenant_id=tenant_id)
        await StockLevelTable.insert(*[
            StockLevelTable(
                tenant_id=tenant_id, variant_id=variants[sku].id, location_id=location_id,
                on_hand=units,
            )
            for sku, units in on_hand.items()
        ])


async def march_sales(tenant_id: UUID) -> dict[str, catalog.Variant]:
    """The KPI dataset, range 2026-03-01 to 2026-04-02 (UTC):

    | when (UTC)          | status    | cur | lines                     | total |
    | 2026-02-28 23:59:59 | paid      | EUR | TEE-S x9 @1000 (before)   |  9000 |
    | 2026-03-02 10:00    | paid      | EUR | TEE-S x2 @1000            |  2000 |
    | 2026-03-02 23:59:59 | fulfilled | EUR | MUG-1 x1 @555             |   555 |
    | 2026-03-03 00:00    | paid      | USD | TEE-M x3 @700             |  2100 |
    | 2026-03-08 12:00    | refunded  | EUR | TEE-S x1 @1000            |  1000 |
    | 2026-03-09 09:00    | pending   | EUR | MUG-1 x5 @500             |  2500 |
    | 2026-03-10 09:00    | cancelled | EUR | MUG-1 x4 @500             |  2000 |
    | 2026-04-01 00:00    | paid      | EUR | TEE-M x1 @1001, MUG-1 x2 @500 | 2001 |
    | 2026-04-02 00:00    | paid      | EUR | MUG-1 x7 @500 (after)     |  3500 |
    """
    variants = await make_product(
        tenant_id, "Tee", [("TEE-S", {"size": "S"}), ("TEE-M", {"size": "M"})],
        {"season": "SS26"},
    )
    variants |= await make_product(tenant_id, "Mug", [("MUG-1", {})], {"season": "AW25"})
    orders: list[tuple[str, str, str, list[Line]]] = [
        ("2026-02-28T23:59:59", "paid", "EUR", [("TEE-S", 9, 1000)]),
        ("2026-03-02T10:00:00", "paid", "EUR", [("TEE-S", 2, 1000)]),
        ("2026-03-02T23:59:59", "fulfilled", "EUR", [("MUG-1", 1, 555)]),
        ("2026-03-03T00:00:00", "paid", "USD", [("TEE-M", 3, 700)]),
        ("2026-03-08T12:00:00", "refunded", "EUR", [("TEE-S", 1, 1000)]),
        ("2026-03-09T09:00:00", "pending", "EUR", [("MUG-1", 5, 500)]),
        ("2026-03-10T09:00:00", "cancelled", "EUR", [("MUG-1", 4, 500)]),
        ("2026-04-01T00:00:00", "paid", "EUR", [("TEE-M", 1, 1001), ("MUG-1", 2, 500)]),
        ("2026-04-02T00:00:00", "paid", "EUR", [("MUG-1", 7, 500)]),
    ]
    for when, status, currency, lines in orders:
        await place_order(tenant_id, when, status, currency, lines)
    return variants


async def fashion_stock(tenant_id: UUID) -> None:
    """Sold in March (paid/fulfilled) and on hand now, per variant:
    LS-S-WHITE 2/6, LS-M-WHITE 1/3 (2 + 1 at two locations), LS-M-BLUE 4/0, WC-M-BLACK 5/3,
    WC-L-BLACK 0/12, SC-1 1/3; refunded, pending and out-of-range orders count for nothing."""
    await make_product(tenant_id, "Linen Shirt", [
        ("LS-S-WHITE", {"size": "S", "colour": "white"}),
        ("LS-M-WHITE", {"size": "M", "colour": "white"}),
        ("LS-M-BLUE", {"size": "M", "colour": "blue"}),
    ], {"season": "SS25", "collection": "Riviera"})
    await make_product(tenant_id, "Wool Coat", [
        ("WC-M-BLACK", {"size": "M", "colour": "black"}),
        ("WC-L-BLACK", {"size": "L", "colour": "black"}),
    ], {"season": "AW25", "collection": "Alpine"})
    await make_product(tenant_id, "Scarf", [("SC-1", {"size": "OS", "colour": "red"})], {"season": "AW25"})
    await put_stock(tenant_id, {"LS-S-WHITE": 6, "LS-M-WHITE": 2, "WC-M-BLACK": 3, "WC-L-BLACK": 12,
                                "SC-1": 3})
    await put_stock(tenant_id, {"LS-M-WHITE": 1}, location="outlet")
    await place_order(tenant_id, "2026-03-05T10:00:00", "paid", "EUR",
                      [("LS-S-WHITE", 2, 5000), ("LS-M-WHITE", 1, 5000)])
    await place_order(tenant_id, "2026-03-06T10:00:00", "fulfilled", "EUR", [("LS-M-BLUE", 4, 5000)])
    await place_order(tenant_id, "2026-03-07T10:00:00", "paid", "EUR",
                      [("WC-M-BLACK", 5, 20000), ("SC-1", 1, 2000)])
    await place_order(tenant_id, "2026-03-08T10:00:00", "refunded", "EUR", [("WC-L-BLACK", 3, 20000)])
    await place_order(tenant_id, "2026-03-09T10:00:00", "pending", "EUR", [("LS-S-WHITE", 10, 5000)])
    await place_order(tenant_id, "2026-02-01T10:00:00", "paid", "EUR", [("WC-L-BLACK", 2, 20000)])


MARCH = {"from": "2026-03-01T00:00:00Z", "to": "2026-04-02T00:00:00Z"}
