"""Inventory through /graphql: locations, adjustments with reasons, counts, stock levels and
history as connections, and stock on every variant at a constant query cost."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import asyncpg.connection
import pytest

from domain import catalog
from services import catalog as catalog_services
from tables import events as outbox
from tests.documents import META, codes
from tests.stock import (
    ADJUST_STOCK,
    CREATE_LOCATION,
    LOCATIONS,
    MODULES,
    PRICED_STOCK,
    SET_STOCK,
    STOCK_ADJUSTMENTS,
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


# Locations


async def test_create_location_returns_it(shop: ApiShop) -> None:
    body = await shop.gql(CREATE_LOCATION, {"input": {"name": "Depot", "handle": "depot"}})

    assert body["data"]["createLocation"]["location"]["handle"] == "depot"
    assert body["data"]["createLocation"]["location"]["active"] is True
    assert body["data"]["createLocation"]["errors"] == []


async def test_location_handle_taken_is_a_field_error(shop: ApiShop) -> None:
    body = await shop.gql(CREATE_LOCATION, {"input": {"name": "Again", "handle": "main"}})

    assert body["data"]["createLocation"] == {
        "location": None,
        "errors": [{"field": "input.handle", "message": "taken", "code": "BAD_USER_INPUT"}],
    }


async def test_malformed_location_is_refused_field_by_field(shop: ApiShop) -> None:
    body = await shop.gql(CREATE_LOCATION, {"input": {"name": " ", "handle": "Not A Handle"}})

    fields = {e["field"] for e in body["data"]["createLocation"]["errors"]}
    assert fields == {"input.name", "input.handle"}


async def test_deactivated_location_is_listed_as_inactive(shop: ApiShop) -> None:
    body = await shop.gql(UPDATE_LOCATION, {"id": shop.locations["annex"], "input": {"active": False}})
    active = await shop.gql(LOCATIONS, {"active": True})
    every = await shop.gql(LOCATIONS)

    assert body["data"]["updateLocation"]["location"]["active"] is False
    assert [x["handle"] for x in active["data"]["locations"]] == ["main"]
    assert [(x["handle"], x["active"]) for x in every["data"]["locations"]] == [
        ("annex", False), ("main", True)
    ]


async def test_updating_an_unknown_location_is_not_found(shop: ApiShop) -> None:
    body = await shop.gql(UPDATE_LOCATION, {"id": str(uuid4()), "input": {"name": "X"}})

    assert body["data"]["updateLocation"]["errors"][0]["code"] == "NOT_FOUND"


# Adjustments and counts


async def test_adjust_stock_by_sku_records_the_adjustment(shop: ApiShop) -> None:
    done = await shop.adjust(
        sku="MUG", locationId=shop.locations["main"], delta=5, reason="RECEIVED", note="PO 17"
    )

    assert done["stockLevel"] == {
        "sku": "MUG", "onHand": 5, "reserved": 0, "available": 5,
        "location": {"handle": "main"}, "variant": {"sku": "MUG"},
    }
    adjustment = done["adjustment"]
    assert (adjustment["delta"], adjustment["reason"], adjustment["note"]) == (5, "RECEIVED", "PO 17")
    assert adjustment["actor"].startswith("key:") and adjustment["orderId"] is None
    assert adjustment["variant"]["id"] == shop.variants["MUG"]


async def test_adjust_stock_by_variant_id(shop: ApiShop) -> None:
    done = await shop.adjust(
        variantId=shop.variants["CUP"], locationId=shop.locations["annex"], delta=3, reason="RETURNED"
    )

    assert (done["stockLevel"]["sku"], done["stockLevel"]["onHand"]) == ("CUP", 3)


async def test_adjust_stock_appends_its_event_in_the_request(shop: ApiShop) -> None:
    await shop.gql(
        ADJUST_STOCK,
        {"input": {"sku": "MUG", "locationId": shop.locations["main"], "delta": 2, "reason": "RECEIVED"}},
        headers={"x-request-id": "req-stock-1"},
    )

    found = await outbox.list_events(tenant_id=shop.tenant.id, types=["inventory.adjusted"])
    assert [(e.correlation_id, e.payload["sku"], e.payload["available"]) for e in found] == [
        ("req-stock-1", "MUG", 2)
    ]


async def test_removing_more_than_available_is_a_conflict_and_changes_nothing(shop: ApiShop) -> None:
    await shop.receive("MUG", "main", 2)

    done = await shop.adjust(sku="MUG", locationId=shop.locations["main"], delta=-3, reason="DAMAGED")

    assert (done["stockLevel"], done["adjustment"]) == (None, None)
    assert done["errors"] == [{
        "field": None, "code": "CONFLICT",
        "message": "cannot remove 3 of SKU MUG at main: 2 on hand, 0 reserved, 2 available",
    }]
    assert await shop.levels() == [("MUG", "main", 2, 0)]
    assert await shop.history() == [("MUG", 2, "RECEIVED")]


@pytest.mark.parametrize(
    ("delta", "reason"), [(-1, "RECEIVED"), (2, "DAMAGED"), (1, "SOLD"), (0, "CORRECTION")]
)
async def test_a_delta_against_its_reason_is_refused(shop: ApiShop, delta: int, reason: str) -> None:
    done = await shop.adjust(sku="MUG", locationId=shop.locations["main"], delta=delta, reason=reason)

    assert [(e["field"], e["code"]) for e in done["errors"]] == [("input.delta", "BAD_USER_INPUT")]


@pytest.mark.parametrize("ref", [{}, {"sku": "MUG", "variantId": "x"}])
async def test_the_variant_is_named_by_exactly_one_of_sku_and_id(shop: ApiShop, ref: dict[str, str]) -> None:
    if "variantId" in ref:
        ref["variantId"] = shop.variants["MUG"]

    done = await shop.adjust(locationId=shop.locations["main"], delta=1, reason="RECEIVED", **ref)

    assert [e["field"] for e in done["errors"]] == ["input"]


async def test_unknown_sku_and_malformed_ids_are_field_errors(shop: ApiShop) -> None:
    unknown = await shop.adjust(sku="NOPE", locationId=shop.locations["main"], delta=1, reason="RECEIVED")
    malformed = await shop.adjust(sku="MUG", locationId="not-an-id", delta=1, reason="RECEIVED")

    assert [e["field"] for e in unknown["errors"]] == ["input.sku"]
    assert [e["field"] for e in malformed["errors"]] == ["input.locationId"]


async def test_set_stock_records_the_difference_as_a_correction(shop: ApiShop) -> None:
    await shop.receive("MUG", "main", 10)

    body = await shop.gql(SET_STOCK, {"input": {
        "sku": "MUG", "locationId": shop.locations["main"], "quantity": 8, "note": "count"
    }})

    assert body["data"]["setStock"]["stockLevel"]["onHand"] == 8
    assert body["data"]["setStock"]["adjustment"] == {"delta": -2, "reason": "CORRECTION", "note": "count"}


async def test_set_stock_to_the_counted_quantity_records_nothing(shop: ApiShop) -> None:
    await shop.receive("MUG", "main", 4)

    body = await shop.gql(SET_STOCK, {"input": {
        "sku": "MUG", "locationId": shop.locations["main"], "quantity": 4
    }})

    assert body["data"]["setStock"]["adjustment"] is None
    assert len(await shop.history()) == 1


async def test_set_stock_to_a_negative_count_is_refused(shop: ApiShop) -> None:
    body = await shop.gql(SET_STOCK, {"input": {
        "sku": "MUG", "locationId": shop.locations["main"], "quantity": -1
    }})

    assert [e["field"] for e in body["data"]["setStock"]["errors"]] == ["input.quantity"]


# Stock levels and history


async def test_stock_levels_filter_by_location_sku_and_low_stock(shop: ApiShop) -> None:
    await shop.receive("MUG", "main", 5)
    await shop.receive("MUG", "annex", 1)
    await shop.receive("CUP", "main", 2)

    assert await shop.levels(filter={"locationId": shop.locations["main"]}) == [
        ("CUP", "main", 2, 0), ("MUG", "main", 5, 0)
    ]
    assert await shop.levels(filter={"sku": "MUG"}, orderBy={"field": "ON_HAND"}) == [
        ("MUG", "annex", 1, 0), ("MUG", "main", 5, 0)
    ]
    assert await shop.levels(filter={"availableBelow": 3}, orderBy={"field": "AVAILABLE"}) == [
        ("MUG", "annex", 1, 0), ("CUP", "main", 2, 0)
    ]
    assert await shop.levels(filter={"variantId": shop.variants["CUP"]}) == [("CUP", "main", 2, 0)]


@pytest.mark.parametrize("field", ["SKU", "AVAILABLE", "ON_HAND"])
async def test_stock_levels_page_through_every_row_once(shop: ApiShop, field: str) -> None:
    for handle, quantity in (("main", 3), ("annex", 3)):
        await shop.receive("MUG", handle, quantity)
        await shop.receive("CUP", handle, quantity + 1)
    seen: list[tuple[str, str]] = []
    after = None

    for _ in range(4):
        body = await shop.gql(STOCK_LEVELS, {
            "first": 1 if field == "SKU" else 3, "after": after,
            "orderBy": {"field": field, "direction": "DESC"},
        })
        connection = body["data"]["stockLevels"]
        seen += [(e["node"]["sku"], e["node"]["location"]["handle"]) for e in connection["edges"]]
        after = connection["pageInfo"]["endCursor"]
        if not connection["pageInfo"]["hasNextPage"]:
            break

    assert sorted(seen) == sorted({(s, h) for s in ("MUG", "CUP") for h in ("main", "annex")})


async def test_a_cursor_of_another_ordering_is_bad_input(shop: ApiShop) -> None:
    await shop.receive("MUG", "main", 3)
    await shop.receive("CUP", "main", 3)
    first = await shop.gql(STOCK_LEVELS, {"first": 1})
    cursor = first["data"]["stockLevels"]["pageInfo"]["endCursor"]

    body = await shop.gql(STOCK_LEVELS, {"first": 1, "after": cursor, "orderBy": {"field": "AVAILABLE"}})

    assert codes(body) == ["BAD_USER_INPUT"]


async def test_history_is_newest_first_and_filters(shop: ApiShop) -> None:
    await shop.receive("MUG", "main", 5)
    await shop.receive("CUP", "annex", 2)
    await shop.adjust(sku="MUG", locationId=shop.locations["main"], delta=-1, reason="DAMAGED")

    assert await shop.history() == [("MUG", -1, "DAMAGED"), ("CUP", 2, "RECEIVED"), ("MUG", 5, "RECEIVED")]
    assert await shop.history(orderBy={"direction": "ASC"}, filter={"sku": "MUG"}) == [
        ("MUG", 5, "RECEIVED"), ("MUG", -1, "DAMAGED")
    ]
    assert await shop.history(filter={"reason": "DAMAGED"}) == [("MUG", -1, "DAMAGED")]
    assert await shop.history(filter={"locationId": shop.locations["annex"]}) == [("CUP", 2, "RECEIVED")]
    assert await shop.history(filter={"variantId": shop.variants["CUP"]}) == [("CUP", 2, "RECEIVED")]


async def test_history_filters_by_time(shop: ApiShop) -> None:
    await shop.receive("MUG", "main", 5)
    now = datetime.now(UTC)

    assert await shop.history(filter={"since": (now - timedelta(hours=1)).isoformat()}) != []
    assert await shop.history(filter={"since": (now + timedelta(hours=1)).isoformat()}) == []
    assert await shop.history(filter={"until": (now - timedelta(hours=1)).isoformat()}) == []


async def test_history_pages_with_cursors(shop: ApiShop) -> None:
    for delta in (1, 2, 3):
        await shop.receive("MUG", "main", delta)
    first = await shop.gql(STOCK_ADJUSTMENTS, {"first": 2})
    cursor = first["data"]["stockAdjustments"]["pageInfo"]["endCursor"]

    rest = await shop.gql(STOCK_ADJUSTMENTS, {"first": 2, "after": cursor})

    assert [e["node"]["delta"] for e in first["data"]["stockAdjustments"]["edges"]] == [3, 2]
    assert [e["node"]["delta"] for e in rest["data"]["stockAdjustments"]["edges"]] == [1]
    assert rest["data"]["stockAdjustments"]["pageInfo"]["hasNextPage"] is False


# Stock on variants


async def test_variants_carry_their_stock_and_what_is_available(shop: ApiShop) -> None:
    await shop.receive("MUG", "main", 5)
    await shop.receive("MUG", "annex", 2)
    await shop.gql(UPDATE_LOCATION, {"id": shop.locations["annex"], "input": {"active": False}})

    body = await shop.gql(VARIANT_STOCK, {"first": 10})

    variants = {v["sku"]: v for v in body["data"]["products"]["edges"][0]["node"]["variants"]}
    assert variants["MUG"]["available"] == 5
    assert variants["MUG"]["stock"] == [
        {"onHand": 2, "reserved": 0, "location": {"handle": "annex"}},
        {"onHand": 5, "reserved": 0, "location": {"handle": "main"}},
    ]
    assert (variants["CUP"]["available"], variants["CUP"]["stock"]) == (0, [])


async def test_stock_shows_beside_other_modules_fields_on_variant(make_tenant: Any) -> None:
    tenant = await make_tenant(modules=(*MODULES, "pricing"))
    shop = await open_api_shop(tenant, ("MUG",), ("main",))
    await shop.receive("MUG", "main", 3)

    body = await shop.gql(PRICED_STOCK)

    (edge,) = body["data"]["products"]["edges"]
    assert edge["node"]["variants"] == [
        {"sku": "MUG", "price": {"amount": 900}, "available": 3, "stock": [{"onHand": 3}]}
    ]


@pytest.fixture
def statements(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every statement fetched on a pooled connection: Piccolo's and the raw ones alike."""
    fetched: list[str] = []
    fetch = asyncpg.connection.Connection.fetch

    async def counting(self: Any, query: str, *args: Any, **kw: Any) -> Any:
        fetched.append(query)
        return await fetch(self, query, *args, **kw)

    monkeypatch.setattr(asyncpg.connection.Connection, "fetch", counting)
    return fetched


async def test_stock_on_a_page_of_products_costs_a_constant_number_of_queries(
    make_tenant: Any, statements: list[str]
) -> None:
    tenant = await make_tenant(modules=MODULES)
    shop = await open_api_shop(tenant, ("S-0",), ("main",))
    for n in range(1, 20):
        draft = catalog.ProductDraft(title=f"P{n}", handle=f"p-{n}")
        variant = catalog.VariantDraft(sku=f"S-{n}", title="", price=catalog.Money(100, "EUR"))
        await catalog_services.create_product(draft, [variant], tenant_id=tenant.id, meta=META)
        await shop.receive(f"S-{n}", "main", n)
    await shop.gql(VARIANT_STOCK, {"first": 1})  # the key's first use also records last_used_at

    counts = []
    for first in (2, 20):
        statements.clear()
        body = await shop.gql(VARIANT_STOCK, {"first": first})
        assert "errors" not in body and len(body["data"]["products"]["edges"]) == first
        counts.append(len(statements))

    assert counts[0] == counts[1], counts
    # credentials + tenant, the page, variants, stock levels, available, locations
    assert counts[1] <= 7, statements
