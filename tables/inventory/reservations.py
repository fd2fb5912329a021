"""Stock held for open orders: the statements behind reserving on creation, committing on
fulfilment, releasing on cancellation and restocking on refund (services.inventory). Each
joins the caller's (the order's) transaction."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import asyncpg

from domain import events, inventory
from domain.errors import Conflict, NotFound
from tables import db
from tables.inventory import rows
from tables.inventory.rows import ReservationTable

ACTIVE_LOCATION = "s.location_id in (select id from locations where tenant_id = s.tenant_id and active)"
HELD_LEVELS = (
    "s.id in (select s2.id from stock_levels s2 join reservations r on r.tenant_id = s2.tenant_id"
    " and r.variant_id = s2.variant_id and r.location_id = s2.location_id where r.id = any({}::uuid[]))"
)


async def lock_for_sale(
    variant_ids: Sequence[UUID], *, tenant_id: UUID
) -> tuple[list[inventory.StockLevel], dict[UUID, str]]:
    """The variants' levels at active locations, locked in the order every writer keeps, and
    each variant's sku (NotFound for a variant the tenant does not have)."""
    async with db.transaction(tenant_id=tenant_id) as tx:
        levels = await rows.lock_levels(
            tx, f"s.variant_id = any({{}}::uuid[]) and {ACTIVE_LOCATION}", list(variant_ids),
            tenant_id=tenant_id,
        )
        skus = {level.variant_id: level.sku for level in levels}
        if len(skus) < len(variant_ids):
            skus = await _skus(tx, list(variant_ids), tenant_id=tenant_id)
    return levels, skus


async def hold(
    order_id: UUID, plan: Sequence[tuple[inventory.StockLevel, int]], *, tenant_id: UUID
) -> list[tuple[inventory.StockLevel, inventory.Reservation]]:
    """Reserve the planned quantities of locked levels and record the holds, in one statement:
    (each level after, its reservation)."""
    async with db.transaction(tenant_id=tenant_id) as tx:
        try:
            found = await tx.connection.fetch(
                HOLD, tenant_id, order_id, [level.id for level, _ in plan],
                [quantity for _, quantity in plan],
            )
        except asyncpg.CheckViolationError:
            raise Conflict("stock cannot be reserved beyond what is on hand") from None
    skus = {level.id: level.sku for level, _ in plan}
    return [
        (rows.level({**dict(row), "sku": skus[row["id"]]}),
         rows.reservation({**dict(row), "id": row["held_id"], "order_id": order_id}))
        for row in found
    ]


async def lock_reservations(
    order_id: UUID, status: inventory.ReservationStatus, *, tenant_id: UUID
) -> list[inventory.Reservation]:
    async with db.transaction(tenant_id=tenant_id) as tx:
        found = await tx.connection.fetch(
            """
            select * from reservations where tenant_id = $1 and order_id = $2 and status = $3
            order by variant_id, location_id, id for update
            """,
            tenant_id, order_id, status.value,
        )
    return [rows.reservation(row) for row in found]


async def lock_held_levels(
    held: Sequence[inventory.Reservation], *, tenant_id: UUID
) -> dict[tuple[UUID, UUID], inventory.StockLevel]:
    """The levels these reservations hold stock at, locked, by (variant, location)."""
    async with db.transaction(tenant_id=tenant_id) as tx:
        locked = await rows.lock_levels(tx, HELD_LEVELS, [r.id for r in held], tenant_id=tenant_id)
    return {(lv.variant_id, lv.location_id): lv for lv in locked}


async def store(
    level: inventory.StockLevel, on_hand: int, reserved: int, *, tenant_id: UUID
) -> inventory.StockLevel:
    async with db.transaction(tenant_id=tenant_id) as tx:
        return await rows.store(tx, level, on_hand, reserved)


async def record(
    after: inventory.StockLevel, change: inventory.Change, *, tenant_id: UUID, meta: events.WriteMeta
) -> inventory.Adjustment:
    async with db.transaction(tenant_id=tenant_id) as tx:
        return await rows.record(tx, after, change, tenant_id=tenant_id, meta=meta)


async def mark(
    held: Sequence[inventory.Reservation], status: inventory.ReservationStatus, *, tenant_id: UUID
) -> None:
    async with db.transaction(tenant_id=tenant_id) as tx:
        await tx.connection.execute(
            "update reservations set status = $3 where tenant_id = $1 and id = any($2::uuid[])",
            tenant_id, [r.id for r in held], status.value,
        )


async def reservations_of(
    order_ids: Sequence[UUID], *, tenant_id: UUID
) -> dict[UUID, list[inventory.Reservation]]:
    """Every reservation of each order, whatever its status."""
    async with db.transaction(tenant_id=tenant_id):
        found = await ReservationTable.select().where(
            ReservationTable.tenant_id == tenant_id, ReservationTable.order_id.is_in(list(order_ids))
        ).order_by(ReservationTable.created_at, ReservationTable.id)
    grouped: dict[UUID, list[inventory.Reservation]] = defaultdict(list)
    for row in found:
        grouped[row["order_id"]].append(rows.reservation(row))
    return grouped


async def _skus(tx: Any, variant_ids: list[UUID], *, tenant_id: UUID) -> dict[UUID, str]:
    found = await tx.connection.fetch(
        "select id, sku from variants where tenant_id = $1 and id = any($2::uuid[])",
        tenant_id, variant_ids,
    )
    skus = {row["id"]: row["sku"] for row in found}
    missing = [str(v) for v in variant_ids if v not in skus]
    if missing:
        raise NotFound(f"variant not found: {', '.join(missing)}")
    return skus


HOLD = """
with plan as (
    select * from unnest($3::uuid[], $4::int[]) with ordinality as p (level_id, quantity, position)
), after as (
    update stock_levels s set reserved = s.reserved + plan.quantity, updated_at = clock_timestamp()
    from plan where s.tenant_id = $1 and s.id = plan.level_id
    returning s.id, s.variant_id, s.location_id, s.on_hand, s.reserved, s.updated_at, plan.quantity,
              plan.position
), held as (
    insert into reservations (tenant_id, order_id, variant_id, location_id, quantity, status)
    select $1, $2, variant_id, location_id, quantity, 'active' from after order by position
    returning id, variant_id, location_id, status, created_at
)
select after.*, held.id as held_id, held.status, held.created_at
from after join held on held.variant_id = after.variant_id and held.location_id = after.location_id
order by after.position
"""
