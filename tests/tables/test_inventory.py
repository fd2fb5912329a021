"""Inventory in the database: locations, adjustments kept as history with their events, stock
levels, and another tenant never seeing or changing them."""

from __future__ import annotations

from typing import Any

import pytest

from domain import inventory
from domain.errors import Conflict, Invalid, NotFound
from services import inventory as stock
from tables import events as outbox
from tables import inventory as stock_rows
from tests.documents import META
from tests.stock import MODULES, Shop, open_shop


@pytest.fixture
async def shop(make_tenant: Any) -> Shop:
    tenant = await make_tenant(modules=MODULES)
    return await open_shop(tenant.id, ("MUG", "CUP"), ("main", "annex"))


@pytest.fixture
async def other(make_tenant: Any) -> Shop:
    tenant = await make_tenant(modules=MODULES)
    return await open_shop(tenant.id, ("MUG",), ("main",))


async def test_received_stock_is_on_hand_and_available(shop: Shop) -> None:
    level = await shop.receive("MUG", "main", 5)

    assert (level.on_hand, level.reserved, level.available) == (5, 0, 5)
    assert await shop.available("MUG") == 5


async def test_adjustment_is_kept_as_history_with_its_event(shop: Shop) -> None:
    await shop.receive("MUG", "main", 5)
    change = inventory.Change(
        shop.variants["MUG"], shop.locations["main"], -2, inventory.Reason.DAMAGED, "dropped"
    )

    level, made = await stock.adjust(change, tenant_id=shop.tenant_id, meta=META)

    history = await stock_rows.list_adjustments(
        tenant_id=shop.tenant_id, where=inventory.AdjustmentFilter(sku="MUG"),
        descending=False, after=None, limit=10,
    )
    assert [(a.delta, a.reason, a.note) for a in history] == [
        (5, inventory.Reason.RECEIVED, ""), (-2, inventory.Reason.DAMAGED, "dropped")
    ]
    assert history[-1].actor == META.actor and history[-1] == made
    events = await outbox.list_events(tenant_id=shop.tenant_id, types=["inventory.adjusted"])
    assert events[-1].aggregate_id == str(shop.variants["MUG"])
    assert events[-1].payload == {
        "sku": "MUG", "variantId": str(shop.variants["MUG"]), "locationId": str(shop.locations["main"]),
        "delta": -2, "reason": "damaged", "onHand": 3, "reserved": 0, "available": 3,
        "adjustmentId": str(made.id), "orderId": None,
    }
    assert level.on_hand == 3


async def test_removing_more_than_on_hand_is_refused_and_changes_nothing(shop: Shop) -> None:
    await shop.receive("MUG", "main", 2)
    before = await shop.event_types()
    change = inventory.Change(shop.variants["MUG"], shop.locations["main"], -3, inventory.Reason.DAMAGED)

    with pytest.raises(Conflict, match="cannot remove 3 of SKU MUG at main: 2 on hand, 0 reserved"):
        await stock.adjust(change, tenant_id=shop.tenant_id, meta=META)

    assert await shop.levels("MUG") == {"main": (2, 0)}
    assert await shop.event_types() == before


async def test_removing_reserved_stock_is_refused(shop: Shop) -> None:
    await shop.receive("MUG", "main", 3)
    await stock.reserve(await shop.order(), [(shop.variants["MUG"], 2)], tenant_id=shop.tenant_id, meta=META)
    change = inventory.Change(shop.variants["MUG"], shop.locations["main"], -2, inventory.Reason.CORRECTION)

    with pytest.raises(Conflict, match="2 reserved, 1 available"):
        await stock.adjust(change, tenant_id=shop.tenant_id, meta=META)

    assert await shop.levels("MUG") == {"main": (3, 2)}


async def test_removing_from_a_location_without_stock_is_refused(shop: Shop) -> None:
    change = inventory.Change(shop.variants["CUP"], shop.locations["annex"], -1, inventory.Reason.DAMAGED)

    with pytest.raises(Conflict):
        await stock.adjust(change, tenant_id=shop.tenant_id, meta=META)

    assert await shop.levels("CUP") == {}


async def test_set_stock_records_a_correction_of_the_difference(shop: Shop) -> None:
    await shop.receive("MUG", "main", 10)

    level, made = await stock.set_stock(
        shop.variants["MUG"], shop.locations["main"], 7, "counted", tenant_id=shop.tenant_id, meta=META
    )

    assert level.on_hand == 7
    assert made is not None and (made.delta, made.reason, made.note) == (
        -3, inventory.Reason.CORRECTION, "counted"
    )


async def test_set_stock_to_the_same_count_records_nothing(shop: Shop) -> None:
    await shop.receive("MUG", "main", 4)
    before = await shop.event_types()

    level, made = await stock.set_stock(
        shop.variants["MUG"], shop.locations["main"], 4, "", tenant_id=shop.tenant_id, meta=META
    )

    assert (level.on_hand, made) == (4, None)
    assert await shop.event_types() == before


async def test_set_stock_below_reserved_is_refused(shop: Shop) -> None:
    await shop.receive("MUG", "main", 4)
    await stock.reserve(await shop.order(), [(shop.variants["MUG"], 3)], tenant_id=shop.tenant_id, meta=META)

    with pytest.raises(Conflict):
        await stock.set_stock(
            shop.variants["MUG"], shop.locations["main"], 2, "", tenant_id=shop.tenant_id, meta=META
        )

    assert await shop.levels("MUG") == {"main": (4, 3)}


async def test_location_handle_is_unique_per_tenant(shop: Shop, other: Shop) -> None:
    with pytest.raises(Invalid) as refused:
        await stock.create_location(
            inventory.LocationDraft("Again", "main"), tenant_id=shop.tenant_id, meta=META
        )

    assert refused.value.fields == {"input.handle": "taken"}
    assert "main" in other.locations


async def test_locations_list_by_name_and_filter_by_active(shop: Shop) -> None:
    await stock.update_location(
        shop.locations["annex"], inventory.LocationDraft("Annex", "annex", active=False),
        tenant_id=shop.tenant_id, meta=META,
    )

    every = await stock_rows.list_locations(tenant_id=shop.tenant_id)
    active = await stock_rows.list_locations(tenant_id=shop.tenant_id, active=True)

    assert [(loc.handle, loc.active) for loc in every] == [("annex", False), ("main", True)]
    assert [loc.handle for loc in active] == ["main"]


async def test_stock_levels_filter_and_order(shop: Shop) -> None:
    await shop.receive("MUG", "main", 5)
    await shop.receive("MUG", "annex", 1)
    await shop.receive("CUP", "main", 2)

    async def skus(where: inventory.StockFilter, sort: inventory.StockSort) -> list[tuple[str, int]]:
        found = await stock_rows.list_levels(
            tenant_id=shop.tenant_id, where=where, sort=sort, descending=False, after=None, limit=10
        )
        return [(lv.sku, lv.on_hand) for lv in found]

    assert await skus(inventory.StockFilter(), inventory.StockSort.AVAILABLE) == [
        ("MUG", 1), ("CUP", 2), ("MUG", 5)
    ]
    assert await skus(inventory.StockFilter(sku="MUG"), inventory.StockSort.ON_HAND) == [
        ("MUG", 1), ("MUG", 5)
    ]
    assert await skus(
        inventory.StockFilter(location_id=shop.locations["main"]), inventory.StockSort.SKU
    ) == [("CUP", 2), ("MUG", 5)]
    assert await skus(inventory.StockFilter(available_below=3), inventory.StockSort.SKU) == [
        ("CUP", 2), ("MUG", 1)
    ]


async def test_another_tenant_sees_no_stock_locations_or_history(shop: Shop, other: Shop) -> None:
    await shop.receive("MUG", "main", 5)
    everything = inventory.StockFilter()

    assert await stock_rows.list_levels(
        tenant_id=other.tenant_id, where=everything, sort=inventory.StockSort.SKU,
        descending=False, after=None, limit=10,
    ) == []
    assert await stock_rows.list_levels(
        tenant_id=other.tenant_id, where=inventory.StockFilter(location_id=shop.locations["main"]),
        sort=inventory.StockSort.SKU, descending=False, after=None, limit=10,
    ) == []
    assert await stock_rows.list_adjustments(
        tenant_id=other.tenant_id, where=inventory.AdjustmentFilter(variant_id=shop.variants["MUG"]),
        descending=False, after=None, limit=10,
    ) == []
    assert await stock_rows.levels_of([shop.variants["MUG"]], tenant_id=other.tenant_id) == {}
    assert await stock_rows.available_of([shop.variants["MUG"]], tenant_id=other.tenant_id) == {}
    assert await stock_rows.get_locations([shop.locations["main"]], tenant_id=other.tenant_id) == {}
    assert [loc.id for loc in await stock_rows.list_locations(tenant_id=other.tenant_id)] == [
        other.locations["main"]
    ]


async def test_another_tenant_cannot_adjust_or_reserve_foreign_stock(shop: Shop, other: Shop) -> None:
    await shop.receive("MUG", "main", 5)
    foreign_variant = inventory.Change(
        shop.variants["MUG"], other.locations["main"], 1, inventory.Reason.RECEIVED
    )
    foreign_location = inventory.Change(
        other.variants["MUG"], shop.locations["main"], 1, inventory.Reason.RECEIVED
    )

    with pytest.raises(Invalid, match="variant not found"):
        await stock.adjust(foreign_variant, tenant_id=other.tenant_id, meta=META)
    with pytest.raises(Invalid, match="location not found"):
        await stock.adjust(foreign_location, tenant_id=other.tenant_id, meta=META)
    with pytest.raises(Invalid):
        await stock.set_stock(
            shop.variants["MUG"], shop.locations["main"], 0, "", tenant_id=other.tenant_id, meta=META
        )
    with pytest.raises(NotFound):
        await stock.reserve(
            await other.order(), [(shop.variants["MUG"], 1)], tenant_id=other.tenant_id, meta=META
        )
    with pytest.raises(NotFound):
        await stock.update_location(
            shop.locations["main"], inventory.LocationDraft("Mine", "mine"),
            tenant_id=other.tenant_id, meta=META,
        )

    assert await shop.levels("MUG") == {"main": (5, 0)}
    assert (await stock_rows.get_location(shop.locations["main"], tenant_id=shop.tenant_id)).handle == "main"
