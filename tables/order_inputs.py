"""What a new order reads before it writes anything: its customer, the variants its lines name
(by id or sku), their products and their prices, and the stock rows of those variants at active
locations, locked, in one statement (services.orders)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from domain import catalog, inventory, pricing
from tables import catalog as catalog_tables
from tables import db
from tables import pricing as pricing_tables
from tables.inventory import rows as level_rows
from tables.inventory.reservations import ACTIVE_LOCATION

INPUTS = f"""
with found as (
    select v.*, p as product, coalesce(vp.amount, v.price_amount) as amount,
           coalesce(vp.currency, v.currency) as quote_currency,
           case when vp.id is null then v.compare_at_amount else vp.compare_at_amount end
               as compare_at,
           vp.price_list_id
    from variants v
    join products p on p.tenant_id = v.tenant_id and p.id = v.product_id
    left join variant_prices vp
      on vp.tenant_id = v.tenant_id and vp.variant_id = v.id and vp.price_list_id = $4
    where v.tenant_id = $1 and (v.id = any($2::uuid[]) or v.sku = any($3::text[]))
), locked as (
    select s.id, s.variant_id, s.location_id, s.on_hand, s.reserved, s.updated_at
    from stock_levels s
    where s.tenant_id = $1 and s.variant_id in (select id from found) and {ACTIVE_LOCATION}
    order by s.variant_id, s.location_id for update of s
)
select $5::uuid is null
       or exists (select 1 from customers c where c.tenant_id = $1 and c.id = $5) as customer_found,
       (select count(*) from locked) as levels_locked,
       found.*, l.id as level_id, l.location_id as level_location_id, l.on_hand as level_on_hand,
       l.reserved as level_reserved, l.updated_at as level_updated_at
from (select 1) as one
left join found on true
left join locked l on l.variant_id = found.id
"""
"""The stock rows are locked in the order every writer keeps (variant, location; see
tables.inventory.rows.lock_levels) and all of them: a locking WITH query runs only as far as
its reader reads, so the count reads it to the end."""


@dataclasses.dataclass(frozen=True)
class OrderInputs:
    customer_found: bool
    by_id: dict[UUID, catalog.Variant]
    by_sku: dict[str, catalog.Variant]
    products: dict[UUID, catalog.Product]
    quotes: dict[UUID, pricing.Quote]
    levels: list[inventory.StockLevel]


async def order_inputs(
    ids: Sequence[UUID],
    skus: Sequence[str],
    *,
    customer_id: UUID | None,
    price_list_id: UUID | None,
    tenant_id: UUID,
) -> OrderInputs:
    """Whether the customer exists (True when none is named), the variants named by id and by
    sku with their products, each one's price in the list (else its base price), and their
    levels at active locations, locked until the caller's transaction ends."""
    async with db.transaction(tenant_id=tenant_id) as tx:
        rows = await tx.connection.fetch(
            INPUTS, tenant_id, list(ids), list(skus), price_list_id, customer_id
        )
    found = list({row["id"]: row for row in rows if row["id"] is not None}.values())
    variants = [catalog_tables._variant(row) for row in found]
    wanted_ids, wanted_skus = set(ids), set(skus)
    return OrderInputs(
        customer_found=bool(rows[0]["customer_found"]),
        by_id={v.id: v for v in variants if v.id in wanted_ids},
        by_sku={v.sku: v for v in variants if v.sku in wanted_skus},
        products={row["product_id"]: catalog_tables._product(row["product"]) for row in found},
        quotes={row["id"]: pricing_tables._quote(_quote_row(row)) for row in found},
        levels=[_level(row) for row in rows if row["level_id"] is not None],
    )


def _level(row: Any) -> inventory.StockLevel:
    return level_rows.level({
        "id": row["level_id"], "variant_id": row["id"], "sku": row["sku"],
        "location_id": row["level_location_id"], "on_hand": row["level_on_hand"],
        "reserved": row["level_reserved"], "updated_at": row["level_updated_at"],
    })


def _quote_row(row: Any) -> dict[str, Any]:
    return {"id": row["id"], "amount": row["amount"], "currency": row["quote_currency"],
            "compare_at": row["compare_at"], "price_list_id": row["price_list_id"]}
