"""Reservations in the database: stock held for orders, committed, released and restocked,
joining the caller's transaction; racing orders for the last unit sell it exactly once."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

import pytest

from domain import inventory
from domain.errors import Conflict, Invalid
from services import inventory as stock
from tables import db
from tables import events as outbox
from tables import inventory as stock_rows
from tests.documents import META
from tests.stock import MODULES, Shop, open_shop


class Boom(Exception):
    pass


@pytest.fixture
async def shop(make_tenant: Any) -> Shop:
    tenant = await make_tenant(modules=MODULES)
    return await open_shop(tenant.id, ("MUG", "CUP"), ("main", "annex"))


@pytest.fixture
async def other(make_tenant: Any) -> Shop:
    tenant = await make_tenant(modules=MODULES)
    return await open_shop(tenant.id, ("MUG",), ("main",))


async def test_reserve_holds_stock_for_the_order(shop: Shop) -> None:
    await shop.receive("MUG", "main", 5)
    order_id = await shop.order()

    made = await stock.reserve(order_id, [(shop.variants["MUG"], 2)], tenant_id=shop.tenant_id, meta=META)

    assert [(r.order_id, r.quantity, r.status) for r in made] == [
        (order_id, 2, inventory.ReservationStatus.ACTIVE)
    ]
    assert await shop.levels("MUG") == {"main": (5, 2)}
    assert await shop.available("MUG") == 3
    reserved = await outbox.list_events(tenant_id=shop.tenant_id, types=["inventory.reserved"])
    assert [(e.payload["orderId"], e.payload["quantity"], e.payload["available"]) for e in reserved] == [
        (str(order_id), 2, 3)
    ]
    assert (await stock_rows.reservations_of([order_id], tenant_id=shop.tenant_id))[order_id] == made


async def test_reserve_takes_from_the_location_with_most_available_first(shop: Shop) -> None:
    await shop.receive("MUG", "main", 2)
    await shop.receive("MUG", "annex", 6)

    made = await stock.reserve(
        await shop.order(), [(shop.variants["MUG"], 4)], tenant_id=shop.tenant_id, meta=META
    )

    assert [(r.location_id, r.quantity) for r in made] == [(shop.locations["annex"], 4)]
    assert await shop.levels("MUG") == {"annex": (6, 4), "main": (2, 0)}


async def test_reserve_splits_a_line_across_locations(shop: Shop) -> None:
    await shop.receive("MUG", "main", 2)
    await shop.receive("MUG", "annex", 3)

    made = await stock.reserve(
        await shop.order(), [(shop.variants["MUG"], 4)], tenant_id=shop.tenant_id, meta=META
    )

    assert sorted((r.location_id, r.quantity) for r in made) == sorted(
        [(shop.locations["annex"], 3), (shop.locations["main"], 1)]
    )
    assert await shop.available("MUG") == 1


async def test_reserve_adds_up_lines_of_the_same_variant(shop: Shop) -> None:
    await shop.receive("MUG", "main", 3)

    with pytest.raises(Conflict, match="wanted 4, available 3"):
        await stock.reserve(
            await shop.order(), [(shop.variants["MUG"], 2), (shop.variants["MUG"], 2)],
            tenant_id=shop.tenant_id, meta=META,
        )


async def test_reserve_ignores_inactive_locations(shop: Shop) -> None:
    await shop.receive("MUG", "main", 5)
    await shop.receive("MUG", "annex", 1)
    await stock.update_location(
        shop.locations["main"], inventory.LocationDraft("Main", "main", active=False),
        tenant_id=shop.tenant_id, meta=META,
    )

    with pytest.raises(Conflict, match="insufficient stock for SKU MUG: wanted 2, available 1"):
        await stock.reserve(
            await shop.order(), [(shop.variants["MUG"], 2)], tenant_id=shop.tenant_id, meta=META
        )

    assert await shop.available("MUG") == 1


async def test_short_reservation_is_refused_and_holds_nothing(shop: Shop) -> None:
    await shop.receive("MUG", "main", 5)
    await shop.receive("CUP", "main", 1)
    order_id = await shop.order()
    before = await shop.event_types()

    with pytest.raises(Conflict, match="insufficient stock for SKU CUP: wanted 2, available 1"):
        await stock.reserve(
            order_id, [(shop.variants["MUG"], 1), (shop.variants["CUP"], 2)],
            tenant_id=shop.tenant_id, meta=META,
        )

    assert await shop.levels("MUG") == {"main": (5, 0)}
    assert await shop.levels("CUP") == {"main": (1, 0)}
    assert await stock_rows.reservations_of([order_id], tenant_id=shop.tenant_id) == {}
    assert await shop.event_types() == before


async def test_reserving_a_variant_without_stock_names_it(shop: Shop) -> None:
    with pytest.raises(Conflict, match="insufficient stock for SKU CUP: wanted 1, available 0"):
        await stock.reserve(
            await shop.order(), [(shop.variants["CUP"], 1)], tenant_id=shop.tenant_id, meta=META
        )


async def test_reserve_refuses_a_quantity_below_one(shop: Shop) -> None:
    with pytest.raises(Invalid):
        await stock.reserve(
            await shop.order(), [(shop.variants["MUG"], 0)], tenant_id=shop.tenant_id, meta=META
        )


async def test_reserve_joins_the_callers_transaction(shop: Shop) -> None:
    await shop.receive("MUG", "main", 5)
    order_id = await shop.order()

    with pytest.raises(Boom):
        async with db.transaction(tenant_id=shop.tenant_id):
            await stock.reserve(order_id, [(shop.variants["MUG"], 5)], tenant_id=shop.tenant_id, meta=META)
            raise Boom

    assert await shop.levels("MUG") == {"main": (5, 0)}
    assert await stock_rows.reservations_of([order_id], tenant_id=shop.tenant_id) == {}
    assert "inventory.reserved" not in await shop.event_types()


async def test_last_unit_race_sells_it_exactly_once(shop: Shop) -> None:
    await shop.receive("MUG", "main", 1)
    orders = [await shop.order() for _ in range(20)]

    async def attempt(order_id: UUID) -> bool:
        try:
            await stock.reserve(order_id, [(shop.variants["MUG"], 1)], tenant_id=shop.tenant_id, meta=META)
        except Conflict as error:
            assert error.message == "insufficient stock for SKU MUG: wanted 1, available 0"
            return False
        return True

    outcomes = await asyncio.gather(*(attempt(o) for o in orders))

    assert outcomes.count(True) == 1
    assert await shop.levels("MUG") == {"main": (1, 1)}
    assert await shop.available("MUG") == 0
    held = await stock_rows.reservations_of(orders, tenant_id=shop.tenant_id)
    assert sum(r.quantity for rs in held.values() for r in rs) == 1


async def test_racing_orders_and_removals_never_oversell(shop: Shop) -> None:
    await shop.receive("MUG", "main", 3)
    await shop.receive("MUG", "annex", 3)
    orders = [await shop.order() for _ in range(10)]
    damaged = inventory.Change(shop.variants["MUG"], shop.locations["main"], -1, inventory.Reason.DAMAGED)

    async def order(order_id: UUID) -> int:
        try:
            await stock.reserve(order_id, [(shop.variants["MUG"], 1)], tenant_id=shop.tenant_id, meta=META)
        except Conflict:
            return 0
        return 1

    async def remove() -> int:
        try:
            await stock.adjust(damaged, tenant_id=shop.tenant_id, meta=META)
        except Conflict:
            return 0
        return 1

    outcomes = await asyncio.gather(*(order(o) for o in orders), *(remove() for _ in range(5)))

    levels = await shop.levels("MUG")
    assert all(0 <= reserved <= on_hand for on_hand, reserved in levels.values())
    assert sum(on_hand for on_hand, _ in levels.values()) == 6 - sum(outcomes[10:])
    assert sum(reserved for _, reserved in levels.values()) == sum(outcomes[:10])


async def test_orders_locking_the_same_rows_in_any_line_order_never_deadlock(shop: Shop) -> None:
    for handle in ("main", "annex"):
        await shop.receive("MUG", handle, 4)
        await shop.receive("CUP", handle, 4)
    orders = [await shop.order() for _ in range(12)]
    mug, cup = shop.variants["MUG"], shop.variants["CUP"]

    async def order(n: int, order_id: UUID) -> int:
        lines = [(mug, 1), (cup, 1)] if n % 2 else [(cup, 1), (mug, 1)]
        try:
            await stock.reserve(order_id, lines, tenant_id=shop.tenant_id, meta=META)
        except Conflict:
            return 0
        return 1

    outcomes = await asyncio.gather(*(order(n, o) for n, o in enumerate(orders)))

    assert sum(outcomes) == 8
    assert await shop.available("MUG") == await shop.available("CUP") == 0


async def test_commit_takes_reserved_stock_off_hand_as_sold(shop: Shop) -> None:
    await shop.receive("MUG", "main", 5)
    order_id = await shop.order()
    await stock.reserve(order_id, [(shop.variants["MUG"], 2)], tenant_id=shop.tenant_id, meta=META)

    await stock.commit_reservations(order_id, tenant_id=shop.tenant_id, meta=META)

    assert await shop.levels("MUG") == {"main": (3, 0)}
    held = (await stock_rows.reservations_of([order_id], tenant_id=shop.tenant_id))[order_id]
    assert [r.status for r in held] == [inventory.ReservationStatus.COMMITTED]
    sold = await stock_rows.list_adjustments(
        tenant_id=shop.tenant_id, where=inventory.AdjustmentFilter(order_id=order_id),
        descending=False, after=None, limit=10,
    )
    assert [(a.delta, a.reason) for a in sold] == [(-2, inventory.Reason.SOLD)]
    last = (await outbox.list_events(tenant_id=shop.tenant_id, types=["inventory.adjusted"]))[-1]
    assert (last.payload["reason"], last.payload["orderId"], last.payload["onHand"]) == (
        "sold", str(order_id), 3
    )


async def test_commit_twice_changes_nothing_the_second_time(shop: Shop) -> None:
    await shop.receive("MUG", "main", 5)
    order_id = await shop.order()
    await stock.reserve(order_id, [(shop.variants["MUG"], 2)], tenant_id=shop.tenant_id, meta=META)
    await stock.commit_reservations(order_id, tenant_id=shop.tenant_id, meta=META)
    before = await shop.event_types()

    await stock.commit_reservations(order_id, tenant_id=shop.tenant_id, meta=META)

    assert await shop.levels("MUG") == {"main": (3, 0)}
    assert await shop.event_types() == before


async def test_commit_of_a_split_line_settles_every_location(shop: Shop) -> None:
    await shop.receive("MUG", "main", 2)
    await shop.receive("MUG", "annex", 2)
    await shop.receive("CUP", "main", 1)
    order_id = await shop.order()
    await stock.reserve(
        order_id, [(shop.variants["MUG"], 3), (shop.variants["CUP"], 1)],
        tenant_id=shop.tenant_id, meta=META,
    )

    await stock.commit_reservations(order_id, tenant_id=shop.tenant_id, meta=META)

    assert sorted((await shop.levels("MUG")).values()) == [(0, 0), (1, 0)]
    assert await shop.levels("CUP") == {"main": (0, 0)}


async def test_release_makes_held_stock_available_again(shop: Shop) -> None:
    await shop.receive("MUG", "main", 5)
    order_id = await shop.order()
    await stock.reserve(order_id, [(shop.variants["MUG"], 2)], tenant_id=shop.tenant_id, meta=META)

    await stock.release_reservations(order_id, tenant_id=shop.tenant_id, meta=META)

    assert await shop.levels("MUG") == {"main": (5, 0)}
    held = (await stock_rows.reservations_of([order_id], tenant_id=shop.tenant_id))[order_id]
    assert [r.status for r in held] == [inventory.ReservationStatus.RELEASED]
    released = await outbox.list_events(tenant_id=shop.tenant_id, types=["inventory.released"])
    assert [(e.payload["quantity"], e.payload["available"]) for e in released] == [(2, 5)]


async def test_release_after_commit_changes_nothing(shop: Shop) -> None:
    await shop.receive("MUG", "main", 5)
    order_id = await shop.order()
    await stock.reserve(order_id, [(shop.variants["MUG"], 2)], tenant_id=shop.tenant_id, meta=META)
    await stock.commit_reservations(order_id, tenant_id=shop.tenant_id, meta=META)

    await stock.release_reservations(order_id, tenant_id=shop.tenant_id, meta=META)

    assert await shop.levels("MUG") == {"main": (3, 0)}


async def test_restock_returns_what_a_fulfilled_order_took_once(shop: Shop) -> None:
    await shop.receive("MUG", "main", 5)
    order_id = await shop.order()
    await stock.reserve(order_id, [(shop.variants["MUG"], 2)], tenant_id=shop.tenant_id, meta=META)
    await stock.commit_reservations(order_id, tenant_id=shop.tenant_id, meta=META)

    await stock.restock(order_id, tenant_id=shop.tenant_id, meta=META)
    await stock.restock(order_id, tenant_id=shop.tenant_id, meta=META)

    assert await shop.levels("MUG") == {"main": (5, 0)}
    returned = await stock_rows.list_adjustments(
        tenant_id=shop.tenant_id, where=inventory.AdjustmentFilter(reason=inventory.Reason.RETURNED),
        descending=False, after=None, limit=10,
    )
    assert [(a.delta, a.order_id) for a in returned] == [(2, order_id)]


async def test_restock_of_an_unfulfilled_order_changes_nothing(shop: Shop) -> None:
    await shop.receive("MUG", "main", 5)
    order_id = await shop.order()
    await stock.reserve(order_id, [(shop.variants["MUG"], 2)], tenant_id=shop.tenant_id, meta=META)

    await stock.restock(order_id, tenant_id=shop.tenant_id, meta=META)

    assert await shop.levels("MUG") == {"main": (5, 2)}


async def test_another_tenant_cannot_settle_foreign_reservations(shop: Shop, other: Shop) -> None:
    await shop.receive("MUG", "main", 5)
    order_id = await shop.order()
    await stock.reserve(order_id, [(shop.variants["MUG"], 2)], tenant_id=shop.tenant_id, meta=META)

    await stock.commit_reservations(order_id, tenant_id=other.tenant_id, meta=META)
    await stock.release_reservations(order_id, tenant_id=other.tenant_id, meta=META)
    await stock.restock(order_id, tenant_id=other.tenant_id, meta=META)

    assert await shop.levels("MUG") == {"main": (5, 2)}
    assert await stock_rows.reservations_of([order_id], tenant_id=other.tenant_id) == {}
    assert "inventory.adjusted" not in await other.event_types()
