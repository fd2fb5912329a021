"""Stock locations and stock changes (adjustments, counts, several variants moving at one
location), each with its history rows and events in one transaction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from uuid import UUID

from domain import events, inventory
from tables import db
from tables import events as outbox
from tables import inventory as inventory_tables


async def create_location(
    draft: inventory.LocationDraft, *, tenant_id: UUID, meta: events.WriteMeta
) -> inventory.Location:
    async with db.transaction(tenant_id=tenant_id):
        location = await inventory_tables.insert_location(draft, tenant_id=tenant_id)
        await outbox.append(
            [events.draft("location.created", location.id, inventory.location_payload(location))],
            tenant_id=tenant_id, meta=meta,
        )
    return location


async def update_location(
    location_id: UUID, draft: inventory.LocationDraft, *, tenant_id: UUID, meta: events.WriteMeta
) -> inventory.Location:
    async with db.transaction(tenant_id=tenant_id):
        current = await inventory_tables.get_location(location_id, tenant_id=tenant_id)
        location = await inventory_tables.update_location(current, draft, tenant_id=tenant_id)
        await outbox.append(
            [events.draft("location.updated", location.id, inventory.location_payload(location))],
            tenant_id=tenant_id, meta=meta,
        )
    return location


async def adjust(
    change: inventory.Change, *, tenant_id: UUID, meta: events.WriteMeta
) -> tuple[inventory.StockLevel, inventory.Adjustment]:
    """Apply one adjustment; refused (Conflict) when it would take reserved stock or go below
    zero, and then nothing changes."""
    async with db.transaction(tenant_id=tenant_id):
        location = await inventory_tables.input_location(
            change.location_id, tenant_id=tenant_id, path="input.locationId"
        )
        level = await inventory_tables.lock_level(change.variant_id, change.location_id, tenant_id=tenant_id)
        return await _apply(level, change, location, tenant_id=tenant_id, meta=meta)


async def set_stock(
    variant_id: UUID, location_id: UUID, quantity: int, note: str, *,
    tenant_id: UUID, meta: events.WriteMeta,
) -> tuple[inventory.StockLevel, inventory.Adjustment | None]:
    """Record a stock count: a correction by the difference (none when the count matches)."""
    async with db.transaction(tenant_id=tenant_id):
        location = await inventory_tables.input_location(
            location_id, tenant_id=tenant_id, path="input.locationId"
        )
        level = await inventory_tables.lock_level(variant_id, location_id, tenant_id=tenant_id)
        if quantity == level.on_hand:
            return level, None
        change = inventory.Change(
            variant_id, location_id, quantity - level.on_hand, inventory.Reason.CORRECTION, note
        )
        return await _apply(level, change, location, tenant_id=tenant_id, meta=meta)


async def _apply(
    level: inventory.StockLevel, change: inventory.Change, location: inventory.Location,
    *, tenant_id: UUID, meta: events.WriteMeta,
) -> tuple[inventory.StockLevel, inventory.Adjustment]:
    on_hand = inventory.adjusted(level, change, location.handle)
    after, made = await inventory_tables.write_change(level, on_hand, change, tenant_id=tenant_id, meta=meta)
    await outbox.append([inventory_tables.adjusted_event(after, made)], tenant_id=tenant_id, meta=meta)
    return after, made


async def move_at(
    location_id: UUID,
    lines: Sequence[tuple[UUID, int]],
    reason: inventory.Reason,
    *,
    order_id: UUID | None,
    note: str,
    tenant_id: UUID,
    meta: events.WriteMeta,
) -> list[inventory.Adjustment]:
    """Several variants leave (sold, damaged) or come back (returned, received) at one
    location, all or nothing. Every stock row is locked before any event is appended, the
    order all writers keep, so this never deadlocks with them."""
    sign = -1 if reason in (inventory.Reason.SOLD, inventory.Reason.DAMAGED) else 1
    wanted = inventory.check_lines(lines)
    async with db.transaction(tenant_id=tenant_id):
        location = await inventory_tables.get_location(location_id, tenant_id=tenant_id)
        levels = await inventory_tables.lock_at(location_id, list(wanted), tenant_id=tenant_id)
        made, drafts = [], []
        for level in levels:
            change = inventory.Change(
                level.variant_id, location_id, sign * wanted[level.variant_id], reason, note, order_id
            )
            on_hand = inventory.adjusted(level, change, location.handle)
            after, adjustment = await inventory_tables.write_change(
                level, on_hand, change, tenant_id=tenant_id, meta=meta
            )
            made.append(adjustment)
            drafts.append(inventory_tables.adjusted_event(after, adjustment))
        await outbox.append(drafts, tenant_id=tenant_id, meta=meta)
    return made


async def reserve(
    order_id: UUID, lines: Sequence[tuple[UUID, int]], *, tenant_id: UUID, meta: events.WriteMeta
) -> list[inventory.Reservation]:
    """Hold stock for an order's lines (variant, quantity) at active locations, most available
    first, a line split across locations when needed. Conflict, with nothing held, when any
    variant is short; racing orders are serialised by the locks on the stock rows."""
    if not inventory.check_lines(lines):
        return []
    async with db.transaction(tenant_id=tenant_id):
        plan = await lock_plan(lines, tenant_id=tenant_id)
        made = await inventory_tables.hold(order_id, plan, tenant_id=tenant_id)
        await outbox.append(reserved_events(order_id, made), tenant_id=tenant_id, meta=meta)
    return [held for _, held in made]


async def lock_plan(
    lines: Sequence[tuple[UUID, int]], *, tenant_id: UUID
) -> list[tuple[inventory.StockLevel, int]]:
    """Lock the stock rows of the lines' variants (until the caller's transaction ends) and
    plan what each level holds: (level, quantity). Conflict when any variant is short."""
    wanted = inventory.check_lines(lines)
    if not wanted:
        return []
    async with db.transaction(tenant_id=tenant_id):
        levels, skus = await inventory_tables.lock_for_sale(list(wanted), tenant_id=tenant_id)
    return _allocated(wanted, levels, skus)


def plan_locked(
    lines: Sequence[tuple[UUID, int]],
    levels: Sequence[inventory.StockLevel],
    skus: Mapping[UUID, str],
) -> list[tuple[inventory.StockLevel, int]]:
    """lock_plan for levels the caller has locked already (every level of the lines' variants
    at active locations, in the order every writer keeps)."""
    return _allocated(inventory.check_lines(lines), levels, skus)


def _allocated(
    wanted: Mapping[UUID, int], levels: Sequence[inventory.StockLevel], skus: Mapping[UUID, str]
) -> list[tuple[inventory.StockLevel, int]]:
    return [
        taken
        for variant_id in sorted(wanted)
        for taken in inventory.allocate(
            skus[variant_id], wanted[variant_id], [lv for lv in levels if lv.variant_id == variant_id]
        )
    ]


def reserved_events(
    order_id: UUID, made: Sequence[tuple[inventory.StockLevel, inventory.Reservation]]
) -> list[events.Draft]:
    """inventory.reserved for each level a hold for the order changed."""
    return [_reserved(order_id, after, held.quantity) for after, held in made]


def planned_reserved_events(
    order_id: UUID, plan: Sequence[tuple[inventory.StockLevel, int]]
) -> list[events.Draft]:
    """reserved_events of a plan of locked levels, before its holds are written: each level as
    its hold leaves it (the lock keeps anyone else from changing it meanwhile)."""
    return [_reserved(order_id, level.holding(quantity), quantity) for level, quantity in plan]


def _reserved(order_id: UUID, after: inventory.StockLevel, quantity: int) -> events.Draft:
    return events.draft("inventory.reserved", after.variant_id,
                        inventory.stock_payload(after, orderId=str(order_id), quantity=quantity))


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


async def _settle(
    order_id: UUID, settlement: inventory.Settlement, *, tenant_id: UUID, meta: events.WriteMeta
) -> None:
    async with db.transaction(tenant_id=tenant_id):
        held = await inventory_tables.lock_reservations(order_id, settlement.source, tenant_id=tenant_id)
        if not held:
            return
        levels = await inventory_tables.lock_held_levels(held, tenant_id=tenant_id)
        drafts: list[events.Draft] = []
        for reservation in held:
            key = (reservation.variant_id, reservation.location_id)
            levels[key], draft = await _settle_one(
                levels[key], reservation, settlement, tenant_id=tenant_id, meta=meta
            )
            drafts.append(draft)
        await inventory_tables.mark(held, settlement.target, tenant_id=tenant_id)
        await outbox.append(drafts, tenant_id=tenant_id, meta=meta)


async def _settle_one(
    level: inventory.StockLevel, reservation: inventory.Reservation,
    settlement: inventory.Settlement, *, tenant_id: UUID, meta: events.WriteMeta,
) -> tuple[inventory.StockLevel, events.Draft]:
    quantity = reservation.quantity
    after = await inventory_tables.store(
        level, level.on_hand + settlement.on_hand * quantity,
        level.reserved + settlement.reserved * quantity, tenant_id=tenant_id,
    )
    if settlement.reason is None:
        payload = inventory.stock_payload(after, orderId=str(reservation.order_id), quantity=quantity)
        return after, events.draft("inventory.released", after.variant_id, payload)
    change = inventory.Change(
        after.variant_id, after.location_id, settlement.on_hand * quantity, settlement.reason,
        order_id=reservation.order_id,
    )
    made = await inventory_tables.record(after, change, tenant_id=tenant_id, meta=meta)
    return after, inventory_tables.adjusted_event(after, made)
