"""Sell-through in SQL: units of sold orders per season, collection, size or colour, against
the units on hand now."""

from __future__ import annotations

from uuid import UUID

from domain import metrics
from extensions.banban import fashion
from tables import db
from tables.metrics import SOLD_LINES

SELL_THROUGH_GROUPS = {
    fashion.SellThroughBy.SEASON: "p.attributes ->> 'season'",
    fashion.SellThroughBy.COLLECTION: "p.attributes ->> 'collection'",
    fashion.SellThroughBy.SIZE: "v.attributes ->> 'size'",
    fashion.SellThroughBy.COLOUR: "v.attributes ->> 'colour'",
}


async def sell_through(
    by: fashion.SellThroughBy, *, tenant_id: UUID, window: metrics.Window
) -> list[fashion.SellThrough]:
    """Per group value: units of sold orders placed in the range, and units on hand now."""
    async with db.transaction(tenant_id=tenant_id) as tx:
        rows = await tx.connection.fetch(
            f"""
            with sold as (
                select l.variant_id, sum(l.quantity) as units {SOLD_LINES} group by l.variant_id
            ),
            stock as (
                select variant_id, sum(on_hand) as on_hand from stock_levels
                where tenant_id = $1 group by variant_id
            )
            select {SELL_THROUGH_GROUPS[by]} as value,
                   coalesce(sum(sold.units), 0) as units, coalesce(sum(stock.on_hand), 0) as on_hand
            from variants v
            join products p on p.tenant_id = v.tenant_id and p.id = v.product_id
            left join sold on sold.variant_id = v.id
            left join stock on stock.variant_id = v.id
            where v.tenant_id = $1
            group by 1 order by 1 nulls last
            """,
            tenant_id, window.start, window.end, list(metrics.SOLD),
        )
    return [
        fashion.SellThrough(value=row["value"], units_sold=int(row["units"]), on_hand=int(row["on_hand"]))
        for row in rows
    ]
