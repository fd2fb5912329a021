"""Pricing through /graphql: price lists, list prices, compare-at prices and X-Price-List."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest

from tables import db
from tables import events as outbox
from tables import orders as order_tables
from tables import pricing as pricing_tables
from tables.orders import OrderTable
from tests.documents import CREATE_PRODUCT, codes, error_codes, error_fields, payload, product_input

CREATE_LIST = """
mutation CreateList($input: PriceListInput!) {
  createPriceList(input: $input) {
    priceList { id name handle currency } errors { field message code }
  }
}
"""

UPDATE_LIST = """
mutation UpdateList($id: ID!, $input: PriceListUpdateInput!) {
  updatePriceList(id: $id, input: $input) {
    priceList { id name handle currency } errors { field message code }
  }
}
"""

DELETE_LIST = """
mutation DeleteList($id: ID!) {
  deletePriceList(id: $id) { priceList { id handle } errors { field message code } }
}
"""

SET_PRICE = """
mutation SetPrice($input: VariantPriceInput!) {
  setVariantPrice(input: $input) {
    variantPrice {
      variantId price { amount currency } compareAtPrice { amount currency } priceList { handle }
    }
    errors { field message code }
  }
}
"""

REMOVE_PRICE = """
mutation RemovePrice($priceListId: ID!, $variantId: ID!) {
  removeVariantPrice(priceListId: $priceListId, variantId: $variantId) {
    variantPrice { price { amount } priceList { handle } } errors { field message code }
  }
}
"""

SET_COMPARE_AT = """
mutation CompareAt($variantId: ID!, $compareAt: MoneyInput) {
  setVariantCompareAtPrice(variantId: $variantId, compareAtPrice: $compareAt) {
    variantPrice { price { amount currency } compareAtPrice { amount currency } priceList { id } }
    errors { field message code }
  }
}
"""

PRICE_LISTS = """
query Lists($first: Int, $after: String, $filter: PriceListFilter, $orderBy: PriceListOrder) {
  priceLists(first: $first, after: $after, filter: $filter, orderBy: $orderBy) {
    edges { cursor node { id handle name currency } }
    pageInfo { hasNextPage endCursor }
  }
}
"""

PRICE_LIST = """
query List($id: ID!) { priceList(id: $id) { id handle } }
"""

VARIANT_PRICES = """
query Prices($sku: String!) {
  productBySku(sku: $sku) {
    variants {
      sku price { amount currency } compareAtPrice { amount currency }
      prices { price { amount currency } compareAtPrice { amount } priceList { handle currency } }
    }
  }
}
"""

SHOWN_PRICES = """
query Shown($first: Int!) {
  products(first: $first) { edges { node { variants { sku price { amount currency } } } } }
}
"""


@pytest.fixture
async def shop(make_tenant: Any) -> Any:
    return await make_tenant(("catalog", "pricing"))


@pytest.fixture
async def other(make_tenant: Any) -> Any:
    return await make_tenant(("catalog", "pricing"))


async def create_list(tenant: Any, handle: str, currency: str = "EUR", name: str = "") -> dict[str, Any]:
    body = await tenant.gql(
        CREATE_LIST, {"input": {"name": name or handle.title(), "handle": handle, "currency": currency}}
    )
    created: dict[str, Any] = payload(body, "createPriceList")["priceList"]
    return created


async def create_variants(tenant: Any, skus: list[str], amount: int = 1000) -> dict[str, str]:
    body = await tenant.gql(CREATE_PRODUCT, {"input": product_input(f"P {skus[0]}", skus, amount=amount)})
    variants = payload(body, "createProduct")["product"]["variants"]
    return {v["sku"]: v["id"] for v in variants}


async def set_price(
    tenant: Any, price_list_id: str, variant_id: str, amount: int, currency: str = "EUR",
    compare_at: int | None = None,
) -> dict[str, Any]:
    return await tenant.gql(SET_PRICE, {"input": {
        "priceListId": price_list_id,
        "variantId": variant_id,
        "price": {"amount": amount, "currency": currency},
        "compareAtPrice": None if compare_at is None else {"amount": compare_at, "currency": currency},
    }})


async def shown(tenant: Any, price_list: str | None, key: str | None = None) -> dict[str, Any]:
    headers = {} if price_list is None else {"x-price-list": price_list}
    body = await tenant.gql(SHOWN_PRICES, {"first": 10}, headers=headers, key=key)
    assert "errors" not in body, body
    return {
        v["sku"]: v["price"]
        for edge in body["data"]["products"]["edges"] for v in edge["node"]["variants"]
    }


async def list_handles(tenant: Any, **variables: Any) -> list[str]:
    body = await tenant.gql(PRICE_LISTS, {"first": 50, **variables})
    assert "errors" not in body, body
    return [edge["node"]["handle"] for edge in body["data"]["priceLists"]["edges"]]


# Price lists


async def test_created_price_lists_are_listed_in_handle_order(shop: Any) -> None:
    await create_list(shop, "wholesale", "EUR", "Wholesale")
    await create_list(shop, "retail-us", "USD", "Retail US")

    assert await list_handles(shop) == ["retail-us", "wholesale"]
    assert await list_handles(shop, filter={"currency": "USD"}) == ["retail-us"]
    assert await list_handles(shop, filter={"search": "sale"}) == ["wholesale"]
    assert await list_handles(shop, orderBy={"field": "NAME", "direction": "DESC"}) == [
        "wholesale", "retail-us"
    ]


async def test_price_lists_paginate_with_cursors(shop: Any) -> None:
    for handle in ("a-list", "b-list", "c-list"):
        await create_list(shop, handle)

    first = await shop.gql(PRICE_LISTS, {"first": 2})
    cursor = first["data"]["priceLists"]["pageInfo"]["endCursor"]

    assert first["data"]["priceLists"]["pageInfo"]["hasNextPage"] is True
    assert await list_handles(shop, after=cursor) == ["c-list"]


async def test_price_list_handle_is_unique_per_tenant(shop: Any, other: Any) -> None:
    await create_list(shop, "wholesale")

    again = await shop.gql(CREATE_LIST, {"input": {"name": "W", "handle": "wholesale", "currency": "EUR"}})
    elsewhere = await create_list(other, "wholesale")

    assert error_fields(again, "createPriceList") == {"input.handle": "taken"}
    assert elsewhere["handle"] == "wholesale"


async def test_invalid_price_list_names_each_field(shop: Any) -> None:
    body = await shop.gql(CREATE_LIST, {"input": {"name": " ", "handle": "Not Ok", "currency": "eur"}})

    assert error_codes(body, "createPriceList") == ["BAD_USER_INPUT"]
    assert set(error_fields(body, "createPriceList")) == {"input.name", "input.handle", "input.currency"}


async def test_price_list_is_renamed_and_keeps_its_currency(shop: Any) -> None:
    created = await create_list(shop, "wholesale", "EUR")

    body = await shop.gql(UPDATE_LIST, {"id": created["id"], "input": {"name": "Trade", "handle": "trade"}})

    assert payload(body, "updatePriceList")["priceList"] == {
        "id": created["id"], "name": "Trade", "handle": "trade", "currency": "EUR"
    }
    assert await list_handles(shop) == ["trade"]


async def test_deleted_price_list_takes_its_prices_with_it(shop: Any) -> None:
    created = await create_list(shop, "wholesale")
    variants = await create_variants(shop, ["DEL-1"])
    payload(await set_price(shop, created["id"], variants["DEL-1"], 800), "setVariantPrice")

    body = await shop.gql(DELETE_LIST, {"id": created["id"]})

    assert payload(body, "deletePriceList")["priceList"]["handle"] == "wholesale"
    assert await list_handles(shop) == []
    prices = await shop.gql(VARIANT_PRICES, {"sku": "DEL-1"})
    assert prices["data"]["productBySku"]["variants"][0]["prices"] == []


async def test_price_list_that_orders_were_placed_with_is_not_deleted(shop: Any) -> None:
    created = await create_list(shop, "wholesale")
    async with db.transaction(tenant_id=shop.id):
        number = await order_tables.next_number(tenant_id=shop.id)
        await OrderTable.insert(OrderTable(
            tenant_id=shop.id, number=number, currency="EUR", price_list_id=uuid.UUID(created["id"])
        ))

    body = await shop.gql(DELETE_LIST, {"id": created["id"]})

    assert error_codes(body, "deletePriceList") == ["CONFLICT"]
    assert await list_handles(shop) == ["wholesale"]
    assert [e.type for e in await outbox.list_events(tenant_id=shop.id)] == ["price_list.created"]


async def test_unknown_price_list_is_null_and_not_found_for_writes(shop: Any) -> None:
    missing = str(uuid.uuid4())

    read = await shop.gql(PRICE_LIST, {"id": missing})
    update = await shop.gql(UPDATE_LIST, {"id": missing, "input": {"name": "X"}})
    delete = await shop.gql(DELETE_LIST, {"id": missing})
    malformed = await shop.gql(DELETE_LIST, {"id": "nope"})

    assert read == {"data": {"priceList": None}}
    assert error_codes(update, "updatePriceList") == ["NOT_FOUND"]
    assert error_codes(delete, "deletePriceList") == ["NOT_FOUND"]
    assert error_fields(malformed, "deletePriceList") == {"id": "invalid id"}


# Prices in a list


async def test_list_price_with_compare_at_reads_back_on_the_variant(shop: Any) -> None:
    wholesale = await create_list(shop, "wholesale")
    variants = await create_variants(shop, ["TEE-1"], amount=2000)

    body = await set_price(shop, wholesale["id"], variants["TEE-1"], 1200, compare_at=1500)
    prices = await shop.gql(VARIANT_PRICES, {"sku": "TEE-1"})

    assert payload(body, "setVariantPrice")["variantPrice"] == {
        "variantId": variants["TEE-1"],
        "price": {"amount": 1200, "currency": "EUR"},
        "compareAtPrice": {"amount": 1500, "currency": "EUR"},
        "priceList": {"handle": "wholesale"},
    }
    assert prices["data"]["productBySku"]["variants"][0]["prices"] == [{
        "price": {"amount": 1200, "currency": "EUR"},
        "compareAtPrice": {"amount": 1500},
        "priceList": {"handle": "wholesale", "currency": "EUR"},
    }]


async def test_setting_a_price_again_replaces_it(shop: Any) -> None:
    wholesale = await create_list(shop, "wholesale")
    variants = await create_variants(shop, ["TEE-2"])

    first = await set_price(shop, wholesale["id"], variants["TEE-2"], 900, compare_at=1000)
    payload(first, "setVariantPrice")
    payload(await set_price(shop, wholesale["id"], variants["TEE-2"], 700), "setVariantPrice")

    prices = await shop.gql(VARIANT_PRICES, {"sku": "TEE-2"})
    assert prices["data"]["productBySku"]["variants"][0]["prices"] == [{
        "price": {"amount": 700, "currency": "EUR"},
        "compareAtPrice": None,
        "priceList": {"handle": "wholesale", "currency": "EUR"},
    }]


@pytest.mark.parametrize(
    ("amount", "currency", "compare_at", "field"),
    [
        (900, "USD", None, "input.price.currency"),
        (-1, "EUR", None, "input.price.amount"),
        (10**12 + 1, "EUR", None, "input.price.amount"),
        (900, "EUR", 900, "input.compareAtPrice.amount"),
        (900, "EUR", 800, "input.compareAtPrice.amount"),
    ],
)
async def test_price_rules_are_bad_user_input(
    shop: Any, amount: int, currency: str, compare_at: int | None, field: str
) -> None:
    wholesale = await create_list(shop, "wholesale", "EUR")
    variants = await create_variants(shop, ["RULE-1"])

    body = await set_price(shop, wholesale["id"], variants["RULE-1"], amount, currency, compare_at)

    assert error_codes(body, "setVariantPrice") == ["BAD_USER_INPUT"]
    assert field in error_fields(body, "setVariantPrice")
    prices = await shop.gql(VARIANT_PRICES, {"sku": "RULE-1"})
    assert prices["data"]["productBySku"]["variants"][0]["prices"] == []


async def test_pricing_an_unknown_list_or_variant_is_not_found(shop: Any) -> None:
    wholesale = await create_list(shop, "wholesale")
    variants = await create_variants(shop, ["NF-1"])

    no_list = await set_price(shop, str(uuid.uuid4()), variants["NF-1"], 100)
    no_variant = await set_price(shop, wholesale["id"], str(uuid.uuid4()), 100)

    assert error_codes(no_list, "setVariantPrice") == ["NOT_FOUND"]
    assert error_codes(no_variant, "setVariantPrice") == ["NOT_FOUND"]


async def test_removed_price_falls_back_to_base(shop: Any) -> None:
    wholesale = await create_list(shop, "wholesale")
    variants = await create_variants(shop, ["RM-1"], amount=2500)
    payload(await set_price(shop, wholesale["id"], variants["RM-1"], 2000), "setVariantPrice")

    body = await shop.gql(REMOVE_PRICE, {"priceListId": wholesale["id"], "variantId": variants["RM-1"]})
    again = await shop.gql(REMOVE_PRICE, {"priceListId": wholesale["id"], "variantId": variants["RM-1"]})

    assert payload(body, "removeVariantPrice")["variantPrice"] == {
        "price": {"amount": 2000}, "priceList": {"handle": "wholesale"}
    }
    assert error_codes(again, "removeVariantPrice") == ["NOT_FOUND"]
    assert await shown(shop, "wholesale") == {"RM-1": {"amount": 2500, "currency": "EUR"}}


async def test_price_changes_append_price_updated_events(shop: Any) -> None:
    wholesale = await create_list(shop, "wholesale")
    variants = await create_variants(shop, ["EV-P1"])
    payload(await set_price(shop, wholesale["id"], variants["EV-P1"], 600, compare_at=700), "setVariantPrice")
    await shop.gql(REMOVE_PRICE, {"priceListId": wholesale["id"], "variantId": variants["EV-P1"]})

    found = await outbox.list_events(tenant_id=shop.id, types=["price.updated"])

    assert [(e.aggregate_type, e.aggregate_id) for e in found] == [("price", variants["EV-P1"])] * 2
    assert found[0].payload == {
        "variantId": variants["EV-P1"], "priceListId": wholesale["id"],
        "price": {"amount": 600, "currency": "EUR"}, "compareAtPrice": {"amount": 700, "currency": "EUR"},
    }
    assert found[1].payload["price"] is None


# Base compare-at price


async def test_base_compare_at_price_is_set_and_cleared(shop: Any) -> None:
    variants = await create_variants(shop, ["BASE-1"], amount=3000)

    set_ = await shop.gql(SET_COMPARE_AT, {
        "variantId": variants["BASE-1"], "compareAt": {"amount": 4000, "currency": "EUR"}
    })
    read = await shop.gql(VARIANT_PRICES, {"sku": "BASE-1"})
    cleared = await shop.gql(SET_COMPARE_AT, {"variantId": variants["BASE-1"], "compareAt": None})
    after = await shop.gql(VARIANT_PRICES, {"sku": "BASE-1"})

    assert payload(set_, "setVariantCompareAtPrice")["variantPrice"] == {
        "price": {"amount": 3000, "currency": "EUR"},
        "compareAtPrice": {"amount": 4000, "currency": "EUR"},
        "priceList": None,
    }
    assert read["data"]["productBySku"]["variants"][0]["compareAtPrice"] == {
        "amount": 4000, "currency": "EUR"
    }
    assert payload(cleared, "setVariantCompareAtPrice")["variantPrice"]["compareAtPrice"] is None
    assert after["data"]["productBySku"]["variants"][0]["compareAtPrice"] is None


@pytest.mark.parametrize(
    ("compare_at", "field"),
    [({"amount": 3000, "currency": "EUR"}, "input.compareAtPrice.amount"),
     ({"amount": 5000, "currency": "USD"}, "input.compareAtPrice.currency")],
)
async def test_base_compare_at_must_be_above_price_in_its_currency(
    shop: Any, compare_at: dict[str, Any], field: str
) -> None:
    variants = await create_variants(shop, ["BASE-2"], amount=3000)

    body = await shop.gql(SET_COMPARE_AT, {"variantId": variants["BASE-2"], "compareAt": compare_at})

    assert error_codes(body, "setVariantCompareAtPrice") == ["BAD_USER_INPUT"]
    assert field in error_fields(body, "setVariantCompareAtPrice")


# Selecting a price list per request


async def test_same_query_under_two_price_lists_gives_two_prices(shop: Any) -> None:
    wholesale = await create_list(shop, "wholesale", "EUR")
    vip = await create_list(shop, "vip", "EUR")
    variants = await create_variants(shop, ["MUG-1", "MUG-2"], amount=1500)
    payload(await set_price(shop, wholesale["id"], variants["MUG-1"], 900), "setVariantPrice")
    payload(await set_price(shop, vip["id"], variants["MUG-1"], 1100), "setVariantPrice")

    assert await shown(shop, None) == {
        "MUG-1": {"amount": 1500, "currency": "EUR"}, "MUG-2": {"amount": 1500, "currency": "EUR"}
    }
    assert await shown(shop, "wholesale") == {
        "MUG-1": {"amount": 900, "currency": "EUR"}, "MUG-2": {"amount": 1500, "currency": "EUR"}
    }
    assert await shown(shop, "vip") == {
        "MUG-1": {"amount": 1100, "currency": "EUR"}, "MUG-2": {"amount": 1500, "currency": "EUR"}
    }


async def test_list_prices_show_beside_other_modules_fields_on_variant(make_tenant: Any) -> None:
    shop = await make_tenant(("catalog", "inventory", "pricing"))
    wholesale = await create_list(shop, "wholesale")
    variants = await create_variants(shop, ["INV-1"], amount=1500)
    payload(await set_price(shop, wholesale["id"], variants["INV-1"], 900), "setVariantPrice")

    assert await shown(shop, "wholesale") == {"INV-1": {"amount": 900, "currency": "EUR"}}
    assert await shown(shop, None) == {"INV-1": {"amount": 1500, "currency": "EUR"}}


async def test_list_in_another_currency_prices_in_its_currency(shop: Any) -> None:
    us = await create_list(shop, "us", "USD")
    variants = await create_variants(shop, ["CUR-1"], amount=1500)
    payload(await set_price(shop, us["id"], variants["CUR-1"], 1700, "USD", 2000), "setVariantPrice")

    body = await shop.gql(VARIANT_PRICES, {"sku": "CUR-1"}, headers={"x-price-list": "us"})

    variant = body["data"]["productBySku"]["variants"][0]
    assert variant["price"] == {"amount": 1700, "currency": "USD"}
    assert variant["compareAtPrice"] == {"amount": 2000, "currency": "USD"}


async def test_unknown_price_list_header_is_bad_user_input(shop: Any) -> None:
    await create_variants(shop, ["HDR-1"])

    body = await shop.gql(SHOWN_PRICES, {"first": 10}, headers={"x-price-list": "nope"})

    assert set(codes(body)) == {"BAD_USER_INPUT"}
    assert "nope" in body["errors"][0]["message"]
    assert body["errors"][0]["extensions"]["fields"] == {"X-Price-List": "unknown price list"}


async def test_selecting_a_price_list_needs_pricing_read(shop: Any) -> None:
    await create_list(shop, "wholesale")
    await create_variants(shop, ["SCOPE-1"], amount=1500)
    reader = await shop.key_with("catalog:read")

    plain = await shown(shop, None, key=reader)
    selected = await shop.gql(SHOWN_PRICES, {"first": 10}, headers={"x-price-list": "wholesale"}, key=reader)

    assert plain == {"SCOPE-1": {"amount": 1500, "currency": "EUR"}}
    assert set(codes(selected)) == {"FORBIDDEN"}


async def test_price_lists_and_writes_need_their_scopes(shop: Any) -> None:
    wholesale = await create_list(shop, "wholesale")
    variants = await create_variants(shop, ["SCOPE-2"])
    reader = await shop.key_with("catalog:read", "pricing:read")

    listed = await shop.gql(PRICE_LISTS, {"first": 5}, key=await shop.key_with("catalog:read"))
    write = await shop.post(SET_PRICE, {"input": {
        "priceListId": wholesale["id"], "variantId": variants["SCOPE-2"],
        "price": {"amount": 1, "currency": "EUR"},
    }}, key=reader)

    assert codes(listed) == ["FORBIDDEN"]
    assert codes(write.json()) == ["FORBIDDEN"]


@pytest.fixture
def statements(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every statement sent to PostgreSQL with arguments, Piccolo's and raw ones alike."""
    sent: list[str] = []
    execute = asyncpg.connection.Connection._execute

    async def counting(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
        sent.append(query)
        return await execute(self, query, *args, **kwargs)

    monkeypatch.setattr(asyncpg.connection.Connection, "_execute", counting)
    yield sent


async def test_selected_prices_cost_a_constant_number_of_queries(shop: Any, statements: list[str]) -> None:
    wholesale = await create_list(shop, "wholesale")
    for n in range(12):
        variants = await create_variants(shop, [f"QC-{n}-A", f"QC-{n}-B"])
        payload(await set_price(shop, wholesale["id"], variants[f"QC-{n}-A"], 500), "setVariantPrice")
    page = """query Page($first: Int!) { products(first: $first) { edges { node {
        variants { price { amount } compareAtPrice { amount } prices { priceList { handle } } } } } } }"""
    headers = {"x-price-list": "wholesale"}

    statements.clear()
    small = await shop.gql(page, {"first": 2}, headers=headers)
    small_count = len(statements)
    statements.clear()
    large = await shop.gql(page, {"first": 12}, headers=headers)

    assert "errors" not in small and "errors" not in large
    edges = large["data"]["products"]["edges"]
    assert [v["price"]["amount"] for e in edges for v in e["node"]["variants"]] == [500, 1000] * 12
    assert 0 < len(statements) == small_count


# Tenant isolation


async def test_b_never_sees_a_price_lists(shop: Any, other: Any) -> None:
    secret = await create_list(shop, "a-secret", "EUR", "Secret")
    own = await create_list(other, "own", "EUR", "Own")
    cursor = (await shop.gql(PRICE_LISTS, {"first": 1}))["data"]["priceLists"]["pageInfo"]["endCursor"]

    assert await list_handles(other) == ["own"]
    assert await list_handles(other, filter={"search": "Secret"}) == []
    assert await list_handles(other, filter={"currency": "EUR"}) == ["own"]
    assert await list_handles(other, after=cursor) == ["own"]
    assert (await other.gql(PRICE_LIST, {"id": secret["id"]})) == {"data": {"priceList": None}}
    assert own["id"] != secret["id"]


async def test_b_cannot_change_or_delete_a_price_list(shop: Any, other: Any) -> None:
    secret = await create_list(shop, "secret")

    update = await other.gql(UPDATE_LIST, {"id": secret["id"], "input": {"name": "Mine"}})
    delete = await other.gql(DELETE_LIST, {"id": secret["id"]})

    assert error_codes(update, "updatePriceList") == ["NOT_FOUND"]
    assert error_codes(delete, "deletePriceList") == ["NOT_FOUND"]
    body = await shop.gql(PRICE_LISTS, {"first": 5})
    assert [e["node"] for e in body["data"]["priceLists"]["edges"]] == [
        {"id": secret["id"], "handle": "secret", "name": "Secret", "currency": "EUR"}
    ]


async def test_b_cannot_price_with_a_list_or_a_variant(shop: Any, other: Any) -> None:
    a_list = await create_list(shop, "wholesale")
    a_variants = await create_variants(shop, ["A-SKU-1"], amount=2000)
    b_list = await create_list(other, "wholesale")
    b_variants = await create_variants(other, ["B-SKU-1"])

    a_list_b_variant = await set_price(other, a_list["id"], b_variants["B-SKU-1"], 1)
    b_list_a_variant = await set_price(other, b_list["id"], a_variants["A-SKU-1"], 1)
    remove = await other.gql(REMOVE_PRICE, {"priceListId": a_list["id"], "variantId": a_variants["A-SKU-1"]})
    compare_at = await other.gql(SET_COMPARE_AT, {
        "variantId": a_variants["A-SKU-1"], "compareAt": {"amount": 9999, "currency": "EUR"}
    })

    assert error_codes(a_list_b_variant, "setVariantPrice") == ["NOT_FOUND"]
    assert error_codes(b_list_a_variant, "setVariantPrice") == ["NOT_FOUND"]
    assert error_codes(remove, "removeVariantPrice") == ["NOT_FOUND"]
    assert error_codes(compare_at, "setVariantCompareAtPrice") == ["NOT_FOUND"]
    a_view = await shop.gql(VARIANT_PRICES, {"sku": "A-SKU-1"})
    assert a_view["data"]["productBySku"]["variants"][0] == {
        "sku": "A-SKU-1", "price": {"amount": 2000, "currency": "EUR"},
        "compareAtPrice": None, "prices": [],
    }


async def test_b_cannot_select_a_price_list_by_header(shop: Any, other: Any) -> None:
    a_list = await create_list(shop, "a-only")
    await create_variants(other, ["B-HDR-1"])
    a_variants = await create_variants(shop, ["A-HDR-1"])
    payload(await set_price(shop, a_list["id"], a_variants["A-HDR-1"], 1), "setVariantPrice")

    body = await other.gql(SHOWN_PRICES, {"first": 10}, headers={"x-price-list": "a-only"})

    assert set(codes(body)) == {"BAD_USER_INPUT"}


async def test_b_prices_and_loaders_hold_none_of_a(shop: Any, other: Any) -> None:
    a_list = await create_list(shop, "wholesale")
    a_variants = await create_variants(shop, ["SAME-1"], amount=2000)
    payload(await set_price(shop, a_list["id"], a_variants["SAME-1"], 100, compare_at=150), "setVariantPrice")
    b_list = await create_list(other, "wholesale")
    b_variants = await create_variants(other, ["SAME-1"], amount=3000)

    b_view = await other.gql(VARIANT_PRICES, {"sku": "SAME-1"}, headers={"x-price-list": "wholesale"})

    assert b_view["data"]["productBySku"]["variants"][0] == {
        "sku": "SAME-1", "price": {"amount": 3000, "currency": "EUR"}, "compareAtPrice": None,
        "prices": [],
    }
    a_id, b_id = uuid.UUID(a_list["id"]), uuid.UUID(b_list["id"])
    a_variant = uuid.UUID(a_variants["SAME-1"])
    assert await pricing_tables.get_price_lists([a_id, b_id], tenant_id=other.id) == {
        b_id: await pricing_tables.get_price_list(b_id, tenant_id=other.id)
    }
    assert list(await pricing_tables.price_lists_by_handle(["wholesale"], tenant_id=other.id)) == [
        "wholesale"
    ]
    assert (await pricing_tables.price_lists_by_handle(["wholesale"], tenant_id=other.id))[
        "wholesale"
    ].id == b_id
    assert await pricing_tables.prices_of([a_variant], tenant_id=other.id) == {}
    assert await pricing_tables.quotes([a_variant], tenant_id=other.id, price_list_id=a_id) == {}
    assert uuid.UUID(b_variants["SAME-1"]) != a_variant
