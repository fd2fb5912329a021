"""Inventory scopes and modules, and tenant isolation through /graphql: tenant B never sees
or changes A's locations, stock levels, history or variant stock, whatever the filter."""

from __future__ import annotations

from typing import Any

import pytest

from tests.documents import codes
from tests.stock import (
    ADJUST_STOCK,
    LOCATION,
    LOCATIONS,
    MODULES,
    SET_STOCK,
    STOCK_LEVELS,
    UPDATE_LOCATION,
    VARIANT_STOCK,
    ApiShop,
    open_api_shop,
)


@pytest.fixture
async def shop(make_tenant: Any) -> ApiShop:
    return await open_api_shop(await make_tenant(modules=MODULES), ("MUG", "CUP"), ("main", "annex"))


@pytest.fixture
async def other(make_tenant: Any) -> ApiShop:
    """Tenant B, with the same SKU and location handle as A."""
    return await open_api_shop(await make_tenant(modules=MODULES), ("MUG",), ("main",))


# Scopes and modules


async def test_reading_stock_needs_the_inventory_scope(shop: ApiShop) -> None:
    reader = await shop.tenant.key_with("catalog:read")

    body = await shop.gql(STOCK_LEVELS, {"first": 1}, key=reader)

    assert codes(body) == ["FORBIDDEN"]


async def test_a_read_key_cannot_adjust_stock(shop: ApiShop) -> None:
    reader = await shop.tenant.key_with("inventory:read")

    body = await shop.gql(ADJUST_STOCK, {"input": {
        "sku": "MUG", "locationId": shop.locations["main"], "delta": 1, "reason": "RECEIVED"
    }}, key=reader)

    assert codes(body) == ["FORBIDDEN"]
    assert await shop.levels() == []


async def test_a_write_key_adjusts_and_reads(shop: ApiShop) -> None:
    writer = await shop.tenant.key_with("inventory:write")

    body = await shop.gql(SET_STOCK, {"input": {
        "sku": "MUG", "locationId": shop.locations["main"], "quantity": 3
    }}, key=writer)
    listed = await shop.gql(STOCK_LEVELS, {"first": 5}, key=writer)

    assert body["data"]["setStock"]["stockLevel"]["onHand"] == 3
    assert listed["data"]["stockLevels"]["edges"][0]["node"]["onHand"] == 3


async def test_a_tenant_without_inventory_has_no_stock_fields(make_tenant: Any) -> None:
    tenant = await make_tenant(modules=("catalog",))

    levels = await tenant.gql(STOCK_LEVELS, {"first": 1})
    on_variant = await tenant.gql(VARIANT_STOCK, {"first": 1})

    assert set(codes(levels)) == {"GRAPHQL_VALIDATION_FAILED"}
    assert set(codes(on_variant)) == {"GRAPHQL_VALIDATION_FAILED"}


# Tenant isolation


async def test_b_sees_none_of_a_stock_levels(shop: ApiShop, other: ApiShop) -> None:
    await shop.receive("MUG", "main", 5)
    await other.receive("MUG", "main", 1)

    assert await other.levels() == [("MUG", "main", 1, 0)]
    assert await other.levels(filter={"sku": "MUG"}) == [("MUG", "main", 1, 0)]
    assert await other.levels(filter={"availableBelow": 100}) == [("MUG", "main", 1, 0)]
    assert await other.levels(filter={"locationId": shop.locations["main"]}) == []
    assert await other.levels(filter={"variantId": shop.variants["MUG"]}) == []


async def test_b_sees_none_of_a_history(shop: ApiShop, other: ApiShop) -> None:
    await shop.receive("MUG", "main", 5)
    await shop.adjust(sku="MUG", locationId=shop.locations["main"], delta=-1, reason="DAMAGED")
    await other.receive("MUG", "main", 1)

    assert await other.history() == [("MUG", 1, "RECEIVED")]
    assert await other.history(filter={"sku": "MUG"}) == [("MUG", 1, "RECEIVED")]
    assert await other.history(filter={"reason": "DAMAGED"}) == []
    assert await other.history(filter={"variantId": shop.variants["MUG"]}) == []
    assert await other.history(filter={"locationId": shop.locations["main"]}) == []


async def test_b_sees_none_of_a_locations(shop: ApiShop, other: ApiShop) -> None:
    listed = await other.gql(LOCATIONS)
    by_id = await other.gql(LOCATION, {"id": shop.locations["main"]})

    assert listed["data"]["locations"] == [{"id": other.locations["main"], "handle": "main", "active": True}]
    assert by_id == {"data": {"location": None}}


async def test_b_variant_stock_holds_none_of_a(shop: ApiShop, other: ApiShop) -> None:
    await shop.receive("MUG", "main", 5)
    await other.receive("MUG", "main", 1)

    body = await other.gql(VARIANT_STOCK, {"first": 10})

    (product,) = body["data"]["products"]["edges"]
    (mug,) = product["node"]["variants"]
    assert mug["available"] == 1
    assert mug["stock"] == [{"onHand": 1, "reserved": 0, "location": {"handle": "main"}}]


async def test_b_cannot_update_a_location(shop: ApiShop, other: ApiShop) -> None:
    body = await other.gql(UPDATE_LOCATION, {"id": shop.locations["main"], "input": {"active": False}})

    assert body["data"]["updateLocation"]["errors"][0]["code"] == "NOT_FOUND"
    listed = await shop.gql(LOCATIONS, {"active": True})
    assert "main" in [x["handle"] for x in listed["data"]["locations"]]


async def test_b_cannot_adjust_a_stock(shop: ApiShop, other: ApiShop) -> None:
    await shop.receive("MUG", "main", 5)
    attempts = [
        {"variantId": shop.variants["MUG"], "locationId": other.locations["main"]},
        {"variantId": shop.variants["CUP"], "locationId": other.locations["main"]},
        {"sku": "CUP", "locationId": other.locations["main"]},
        {"sku": "MUG", "locationId": shop.locations["main"]},
    ]

    for target in attempts:
        done = await other.adjust(delta=-5, reason="DAMAGED", **target)
        assert done["stockLevel"] is None and done["errors"][0]["code"] == "BAD_USER_INPUT", done
        counted = await other.gql(SET_STOCK, {"input": {"quantity": 0, **target}})
        assert counted["data"]["setStock"]["errors"][0]["code"] == "BAD_USER_INPUT", counted

    assert await shop.levels() == [("MUG", "main", 5, 0)]
    assert await shop.history() == [("MUG", 5, "RECEIVED")]
    assert await other.levels() == []
