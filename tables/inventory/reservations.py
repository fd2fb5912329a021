"""Stock held for open orders: reserved on creation, committed on fulfilment, released on
cancellation, restocked on refund. Each joins the caller's (the order's) transaction."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import asyncpg

from domain import events, inventory
from domain.errors import Conflict, NotFound
from tables import db
from tables import events as outbox
from tables.inventory import rows
from tables.inventory.rows import ReservationTable

ACTIVE_LOCATION = "s.location_id in (select id from locations where tenant_id = s.tenant_id and active)"
HELD_LEVELS = (
    "s.id in (select s2.id from stock_levels s2 join reservations r on r.tenant_id = s2.tenant_id"
    " and r.variant_id = s2.variant_id and r.location_id = s2.location_id where r.id = any({}::uuid[]))"
)


async def reserve(
    order_id: UUID, lines: Sequence[tuple[UUID, int]], *, tenant_id: UUID, meta: events.WriteMeta
) -> list[inventory.Reservation]:
    """Hold stock for an order's lines (variant, quantity) at active locations, most available
    first, a line split across locations when needed. Conflict, with nothing held, when any
    variant is short; racing orders are serialised by the locks on the stock rows."""
    wanted = inventory.check_lines(lines)
    if not wanted:
        return []
    async with db.transaction(tenant_id=tenant_id) as tx:
        levels = await rows.lock_levels(
            tx, f"s.variant_id = any({{}}::uuid[]) and {ACTIVE_LOCATION}", list(wanted),
            tenant_id=tenant_id,
        )
        skus = {level.variant_id: level.sku for level in levels}
        if len(skus) < len(wanted):
            skus = await _skus(tx, list(wanted), tenant_id=tenant_id)
        plan = [
            taken
            for variant_id in sorted(wanted)
            for taken in inventory.allocate(
                skus[variant_id], wanted[variant_id], [lv for lv in levels if lv.variant_id == variant_id]
            )
        ]
        made = await _hold(tx, order_id, plan, tenant_id=tenant_id)
        drafts = [
            events.draft("inventory.reserved", after.variant_id,
                         inventory.stock_payload(after, orderId=str(order_id), quantity=held.quantity))
            for after, held in made
        ]
        await outbox.append(drafts, tenant_id=tenant_id, meta=meta)
    return [held for _, held in made]


async def commit_reservations(order_id: UUID, *, tenant_id: UUID, meta: events.WriteMeta) -> None:
    """On fulfilment: the order's held stock leaves (on hand and reserved go down), as sold."""
    await _settle(order_id, inventory.COMMIT, tenant_id=tenant_id, meta=meta)


async def release_reservations(order_id: UUID, *, tenant_id: UUID, meta: events.WriteMeta) -> None:
    """On cancellation: the order's held stock becomes available again."""
    await _settle(order_id, inventory.RELEASE, tenant_id=tenant_id, meta=meta)


async def restock(order_id: UUID, *, tenant_id: UUID, meta: events.WriteMeta) -> None:
    """On refund of a fulfilled order: what it took comes back on hand, as returned; a second
    call finds nothing left to restock."""
    await _settle(order_id, inventory.RESTOCK, tenant_id=tenant_id, meta=meta)


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


async def _hold(
    tx: Any, order_id: UUID, plan: Sequence[tuple[inventory.StockLevel, int]], *, tenant_id: UUID
) -> list[tuple[inventory.StockLevel, inventory.Reservation]]:
    """Reserve the planned quantities of locked levels and record the holds, in one statement:
    (each level after, its reservation)."""
    try:
        found = await tx.connection.fetch(
            HOLD, tenant_id, order_id, [level.id for level, _ in plan], [quantity for _, quantity in plan]
        )
    except asyncpg.CheckViolationError:
        raise Conflict("stock cannot be reserved beyond what is on hand") from None
    skus = {level.id: level.sku for level, _ in plan}
    return [
        (rows.level({**dict(row), "sku": skus[row["id"]]}),
         rows.reservation({**dict(row), "id": row["held_id"], "order_id": order_id}))
        for row in found
    ]


async def _settle(
    order_id: UUID, settlement: inventory.Settlement, *, tenant_id: UUID, meta: events.WriteMeta
) -> None:
    async with db.transaction(tenant_id=tenant_id) as tx:
        held = await _lock_reservations(tx, order_id, settlement.source, tenant_id=tenant_id)
        if not held:
            return
        locked = await rows.lock_levels(tx, HELD_LEVELS, [r.id for r in held], tenant_id=tenant_id)
        levels = {(lv.variant_id, lv.location_id): lv for lv in locked}
        drafts: list[events.Draft] = []
        for reservation in held:
            key = (reservation.variant_id, reservation.location_id)
            levels[key], draft = await _settle_one(
                tx, levels[key], reservation, settlement, tenant_id=tenant_id, meta=meta
            )
            drafts.append(draft)
        await tx.connection.execute(
            "update reservations set status = $3 where tenant_id = $1 and id = any($2::uuid[])",
            tenant_id, [r.id for r in held], settlement.target.value,
        )
        await outbox.append(drafts, tenant_id=tenant_id, meta=meta)


async def _settle_one(
    tx: Any, level: inventory.StockLevel, reservation: inventory.Reservation,
    settlement: inventory.Settlement, *, tenant_id: UUID, meta: events.WriteMeta,
) -> tuple[inventory.StockLevel, events.Draft]:
    quantity = reservation.quantity
    after = await rows.store(
        tx, level, level.on_hand + settlement.on_hand * quantity,
        level.reserved + settlement.reserved * quantity,
    )
    if settlement.reason is None:
        payload = inventory.stock_payload(after, orderId=str(reservation.order_id), quantity=quantity)
        return after, events.draft("inventory.released", after.variant_id, payload)
    change = inventory.Change(
        after.variant_id, after.location_id, settlement.on_hand * quantity, settlement.reason,
        order_id=reservation.order_id,
    )
    made = await rows.record(tx, after, change, tenant_id=tenant_id, meta=meta)
    return after, rows.adjusted_event(after, made)


async def _lock_reservations(
    tx: Any, order_id: UUID, status: inventory.ReservationStatus, *, tenant_id: UUID
) -> list[inventory.Reservation]:
    found = await tx.connection.fetch(
        """
        select * from reservations where tenant_id = $1 and order_id = $2 and status = $3
        order by variant_id, location_id, id for update
        """,
        tenant_id, order_id, status.value,
    )
    return [rows.reservation(row) for row in found]
