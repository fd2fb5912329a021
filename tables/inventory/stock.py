"""Stock levels per (variant, location), their adjustments and the adjustment history:
queries and statements (adjusting stock is services.inventory)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from domain import events, inventory
from domain.errors import Invalid
from tables import counting, db
from tables.inventory import rows

ADJUSTMENTS = """
select a.*, v.sku
from stock_adjustments a join variants v on v.tenant_id = a.tenant_id and v.id = a.variant_id
"""
SORTS = {
    inventory.StockSort.SKU: "v.sku",
    inventory.StockSort.AVAILABLE: "(s.on_hand - s.reserved)",
    inventory.StockSort.ON_HAND: "s.on_hand",
}


async def list_levels(
    *,
    tenant_id: UUID,
    where: inventory.StockFilter,
    sort: inventory.StockSort,
    descending: bool,
    after: tuple[Any, UUID] | None,
    limit: int,
) -> list[inventory.StockLevel]:
    """One keyset page of stock levels: rows strictly after `after` = (sort value, id)."""
    query = rows.Where("s.tenant_id", tenant_id)
    for template, value in _level_filters(where):
        query.add(template, value)
    sql = rows.LEVELS + query.page(SORTS[sort], "s.id", after, descending, limit)
    async with db.transaction(tenant_id=tenant_id) as tx:
        found = await tx.connection.fetch(sql, *query.args)
    return [rows.level(row) for row in found]


async def count_levels(*, tenant_id: UUID, where: inventory.StockFilter) -> int:
    """How many stock levels `where` selects (list_levels' filters, every page)."""
    query = rows.Where("s.tenant_id", tenant_id)
    for template, value in _level_filters(where):
        query.add(template, value)
    return await counting.count_select(rows.LEVELS + query.sql, query.args, tenant_id=tenant_id)


def _level_filters(where: inventory.StockFilter) -> list[tuple[str, Any]]:
    wanted = [
        ("s.location_id = {}", where.location_id),
        ("s.variant_id = {}", where.variant_id),
        ("v.sku = {}", where.sku),
        ("s.on_hand - s.reserved < {}", where.available_below),
    ]
    return [(template, value) for template, value in wanted if value is not None]


async def levels_of(
    variant_ids: Sequence[UUID], *, tenant_id: UUID
) -> dict[UUID, list[inventory.StockLevel]]:
    """Each variant's stock levels, by location name."""
    async with db.transaction(tenant_id=tenant_id) as tx:
        found = await tx.connection.fetch(
            f"""{rows.LEVELS} join locations l on l.tenant_id = s.tenant_id and l.id = s.location_id
            where s.tenant_id = $1 and s.variant_id = any($2::uuid[]) order by l.name, l.id""",
            tenant_id, list(variant_ids),
        )
    grouped: dict[UUID, list[inventory.StockLevel]] = defaultdict(list)
    for row in found:
        grouped[row["variant_id"]].append(rows.level(row))
    return grouped


async def available_of(variant_ids: Sequence[UUID], *, tenant_id: UUID) -> dict[UUID, int]:
    """Units of each variant available for sale, summed over active locations."""
    async with db.transaction(tenant_id=tenant_id) as tx:
        found = await tx.connection.fetch(
            """
            select s.variant_id, sum(greatest(s.on_hand - s.reserved, 0)) as available
            from stock_levels s join locations l on l.tenant_id = s.tenant_id and l.id = s.location_id
            where s.tenant_id = $1 and s.variant_id = any($2::uuid[]) and l.active
            group by s.variant_id
            """,
            tenant_id, list(variant_ids),
        )
    return {row["variant_id"]: int(row["available"]) for row in found}


async def list_adjustments(
    *,
    tenant_id: UUID,
    where: inventory.AdjustmentFilter,
    descending: bool,
    after: tuple[datetime, UUID] | None,
    limit: int,
) -> list[inventory.Adjustment]:
    """Stock history, keyset-paginated by (created_at, id)."""
    query = rows.Where("a.tenant_id", tenant_id)
    for template, value in _adjustment_filters(where):
        query.add(template, value)
    sql = ADJUSTMENTS + query.page("a.created_at", "a.id", after, descending, limit)
    async with db.transaction(tenant_id=tenant_id) as tx:
        found = await tx.connection.fetch(sql, *query.args)
    return [rows.adjustment(row) for row in found]


async def count_adjustments(*, tenant_id: UUID, where: inventory.AdjustmentFilter) -> int:
    """How many adjustments `where` selects (list_adjustments' filters, every page)."""
    query = rows.Where("a.tenant_id", tenant_id)
    for template, value in _adjustment_filters(where):
        query.add(template, value)
    return await counting.count_select(ADJUSTMENTS + query.sql, query.args, tenant_id=tenant_id)


def _adjustment_filters(where: inventory.AdjustmentFilter) -> list[tuple[str, Any]]:
    wanted = [
        ("a.variant_id = {}", where.variant_id),
        ("v.sku = {}", where.sku),
        ("a.location_id = {}", where.location_id),
        ("a.reason = {}", None if where.reason is None else where.reason.value),
        ("a.order_id = {}", where.order_id),
        ("a.created_at >= {}", where.since),
        ("a.created_at < {}", where.until),
    ]
    return [(template, value) for template, value in wanted if value is not None]


async def lock_level(variant_id: UUID, location_id: UUID, *, tenant_id: UUID) -> inventory.StockLevel:
    """The level of this tenant's variant at a location, created empty when new, locked."""
    async with db.transaction(tenant_id=tenant_id) as tx:
        await tx.connection.execute(
            """
            insert into stock_levels (tenant_id, variant_id, location_id)
            select v.tenant_id, v.id, $3 from variants v where v.tenant_id = $1 and v.id = $2
            on conflict (tenant_id, variant_id, location_id) do nothing
            """,
            tenant_id, variant_id, location_id,
        )
        found = await rows.lock_levels(
            tx, "s.variant_id = {} and s.location_id = {}", variant_id, location_id, tenant_id=tenant_id
        )
    if not found:
        raise Invalid("variant not found", fields={"input.variantId": "no such variant"})
    return found[0]


async def lock_at(
    location_id: UUID, variant_ids: Sequence[UUID], *, tenant_id: UUID
) -> list[inventory.StockLevel]:
    """The levels of these variants at one location, created empty when new, locked in the
    order every writer keeps."""
    async with db.transaction(tenant_id=tenant_id) as tx:
        await tx.connection.execute(
            """
            insert into stock_levels (tenant_id, variant_id, location_id)
            select v.tenant_id, v.id, $3 from variants v where v.tenant_id = $1 and v.id = any($2::uuid[])
            on conflict (tenant_id, variant_id, location_id) do nothing
            """,
            tenant_id, list(variant_ids), location_id,
        )
        return await rows.lock_levels(
            tx, "s.variant_id = any({}::uuid[]) and s.location_id = {}", list(variant_ids), location_id,
            tenant_id=tenant_id,
        )


async def write_change(
    level: inventory.StockLevel, on_hand: int, change: inventory.Change, *,
    tenant_id: UUID, meta: events.WriteMeta,
) -> tuple[inventory.StockLevel, inventory.Adjustment]:
    """A locked level's new quantity on hand and the adjustment's history row: (level after,
    adjustment)."""
    async with db.transaction(tenant_id=tenant_id) as tx:
        after = await rows.store(tx, level, on_hand, level.reserved)
        made = await rows.record(tx, after, change, tenant_id=tenant_id, meta=meta)
    return after, made
