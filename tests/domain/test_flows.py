"""domain.flows.parse: the version 1 payload of each flow, and every way one can be wrong."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from domain import flows
from domain.errors import Invalid
from tests import webhooks as hooks

PURCHASE = hooks.purchase("ext-1", [("S1", 2, 500), ("S2", 1, 0)], 1000, email="a@b.c")
STOCK = hooks.stock("adjust", [("S1", "main", -3)], reason="damaged")
SALE = hooks.sale("pos-1", "return", "store", [("S1", 1, 500)], 500)


def refused(flow: str, payload: Any) -> dict[str, str]:
    """The field errors of a payload that does not parse."""
    with pytest.raises(Invalid) as error:
        flows.parse(flow, payload)
    return error.value.fields


def changed(payload: dict[str, Any], path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    """A deep copy of `payload` with the value at `path` replaced (or removed when ...)."""
    result = copy.deepcopy(payload)
    parent = result
    for step in path[:-1]:
        parent = parent[step]
    if value is ...:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return result


def test_a_purchase_parses_into_an_order_with_its_buyer_and_lines() -> None:
    assert flows.parse("purchase-flow", PURCHASE) == flows.Purchase(
        order_id="ext-1", currency="EUR", customer=flows.Buyer(email="a@b.c"),
        items=(flows.Item("S1", 2, 500), flows.Item("S2", 1, 0)), total=1000,
    )


def test_a_purchase_without_a_customer_has_no_buyer() -> None:
    parsed = flows.parse("purchase-flow", changed(PURCHASE, ("order", "customer"), ...))

    assert isinstance(parsed, flows.Purchase) and parsed.customer is None


def test_a_buyer_keeps_its_names() -> None:
    buyer = {"email": "a@b.c", "firstName": "Ada", "lastName": "Lovelace"}

    parsed = flows.parse("purchase-flow", changed(PURCHASE, ("order", "customer"), buyer))

    assert isinstance(parsed, flows.Purchase)
    assert parsed.customer == flows.Buyer("a@b.c", "Ada", "Lovelace")


def test_an_adjustment_may_be_negative_and_keeps_its_reason() -> None:
    assert flows.parse("inventory-flow", STOCK) == flows.StockUpdate(
        mode="adjust", lines=(flows.StockLine("S1", "main", -3, "damaged"),)
    )


def test_a_count_needs_no_reason_and_is_recorded_as_a_correction() -> None:
    count = {"version": 1, "mode": "set", "items": [{"sku": "S1", "location": "main", "quantity": 0}]}

    assert flows.parse("inventory-flow", count) == flows.StockUpdate(
        mode="set", lines=(flows.StockLine("S1", "main", 0, "correction"),)
    )


def test_a_pos_return_parses_into_a_sale_of_kind_return() -> None:
    assert flows.parse("sales-flow", SALE) == flows.Sale(
        sale_id="pos-1", kind="return", location="store", currency="EUR",
        items=(flows.Item("S1", 1, 500),), total=500,
    )


def test_fields_the_schema_does_not_know_are_ignored() -> None:
    extra = {**PURCHASE, "source": {"platform": "shopify", "tags": ["a", "b"]}}

    assert flows.parse("purchase-flow", extra) == flows.parse("purchase-flow", PURCHASE)


@pytest.mark.parametrize("body", [[PURCHASE], "order", 1, None], ids=["array", "string", "number", "null"])
def test_a_payload_that_is_not_an_object_is_refused_as_a_whole(body: Any) -> None:
    assert refused("purchase-flow", body) == {"body": "not an object"}


@pytest.mark.parametrize(
    ("version", "message"),
    [
        (..., "is required"),
        (2, "unsupported version 2; this endpoint speaks 1"),
        ("1", "must be an integer"),
        (True, "must be an integer"),
        (1.0, "must be an integer"),
    ],
    ids=["missing", "2", "string", "boolean", "float"],
)
def test_only_version_1_is_spoken(version: Any, message: str) -> None:
    assert refused("sales-flow", changed(SALE, ("version",), version)) == {"version": message}


PURCHASE_ERRORS = [
    (("order",), ..., "order", "is required"),
    (("order",), [1], "order", "must be an object"),
    (("order", "id"), "", "order.id", "must be 1-128 characters"),
    (("order", "id"), "x" * 129, "order.id", "must be 1-128 characters"),
    (("order", "id"), 7, "order.id", "must be a string"),
    (("order", "currency"), "EURO", "order.currency", "must be 1-3 characters"),
    (("order", "customer"), "a@b.c", "order.customer", "must be an object"),
    (("order", "customer", "email"), ..., "order.customer.email", "is required"),
    (("order", "items"), [], "order.items", "must hold 1-500 entries"),
    (("order", "items"), {"sku": "S1"}, "order.items", "must be an array"),
    (("order", "items", 1), "S2", "order.items[1]", "must be an object"),
    (("order", "items", 1, "sku"), "s" * 65, "order.items[1].sku", "must be 1-64 characters"),
    (("order", "items", 1, "quantity"), 0, "order.items[1].quantity", "must be at least 1"),
    (("order", "items", 1, "quantity"), 1.5, "order.items[1].quantity", "must be an integer"),
    (("order", "items", 1, "quantity"), False, "order.items[1].quantity", "must be an integer"),
    (("order", "items", 0, "unitPrice"), -1, "order.items[0].unitPrice", "must be at least 0"),
    (("order", "items", 0, "unitPrice"), ..., "order.items[0].unitPrice", "is required"),
    (("order", "total"), -5, "order.total", "must be at least 0"),
    (("order", "total"), 1e20, "order.total", "must be an integer"),
]


@pytest.mark.parametrize(
    ("path", "value", "field", "message"), PURCHASE_ERRORS, ids=[e[2] + ": " + e[3] for e in PURCHASE_ERRORS]
)
def test_a_wrong_purchase_field_is_named_by_its_path(
    path: tuple[Any, ...], value: Any, field: str, message: str
) -> None:
    errors = refused("purchase-flow", changed(PURCHASE, path, value))

    assert errors[field] == message


def test_a_missing_order_names_the_order_and_nothing_beneath_it() -> None:
    assert refused("purchase-flow", {"version": 1}) == {"order": "is required"}


def test_every_wrong_field_is_named_at_once() -> None:
    wrong = hooks.purchase("", [("S1", 0, 500), ("", 1, -1)], -1)
    del wrong["version"]

    assert refused("purchase-flow", wrong) == {
        "version": "is required",
        "order.id": "must be 1-128 characters",
        "order.items[0].quantity": "must be at least 1",
        "order.items[1].sku": "must be 1-64 characters",
        "order.items[1].unitPrice": "must be at least 0",
        "order.total": "must be at least 0",
    }


def purchase_in(currency: str, items: list[hooks.PricedItem], total: int) -> dict[str, Any]:
    payload = hooks.purchase("ext-1", items, total)
    payload["order"]["currency"] = currency
    return payload


CONTRADICTIONS = {
    "no currency (XXX)": (purchase_in("XXX", [("S1", 2, 500)], 1000), "order.currency",
                          "must be the ISO 4217 code of a currency, such as EUR"),
    "a testing code (XTS)": (purchase_in("XTS", [("S1", 2, 500)], 1000), "order.currency",
                             "must be the ISO 4217 code of a currency, such as EUR"),
    "gold (XAU)": (purchase_in("XAU", [("S1", 2, 500)], 1000), "order.currency",
                   "must be the ISO 4217 code of a currency, such as EUR"),
    "lower case": (purchase_in("eur", [("S1", 2, 500)], 1000), "order.currency",
                   "must be the ISO 4217 code of a currency, such as EUR"),
    "total below the lines": (purchase_in("EUR", [("S1", 2, 500), ("S2", 1, 250)], 1000), "order.total",
                              "must equal the sum of quantity × unitPrice over the items, 1250"),
    "total above the lines": (purchase_in("EUR", [("S1", 2, 500)], 1001), "order.total",
                              "must equal the sum of quantity × unitPrice over the items, 1000"),
    "a unit price beyond any price": (purchase_in("EUR", [("S1", 1, 10**12 + 1)], 0),
                                      "order.items[0].unitPrice", "must be at most 1000000000000"),
    "a quantity beyond any stock": (purchase_in("EUR", [("S1", 10**9 + 1, 0)], 0),
                                    "order.items[0].quantity", "must be at most 1000000000"),
}


@pytest.mark.parametrize("case", CONTRADICTIONS, ids=list(CONTRADICTIONS))
def test_a_purchase_that_contradicts_itself_is_refused_naming_the_field(case: str) -> None:
    payload, field, problem = CONTRADICTIONS[case]

    assert refused("purchase-flow", payload) == {field: problem}


@pytest.mark.parametrize("currency", ["EUR", "USD", "JPY", "CHF", "XOF"])
def test_a_purchase_in_a_currency_whose_total_is_its_lines_is_accepted(currency: str) -> None:
    parsed = flows.parse("purchase-flow", purchase_in(currency, [("S1", 2, 500), ("S2", 3, 0)], 1000))

    assert isinstance(parsed, flows.Purchase) and (parsed.currency, parsed.total) == (currency, 1000)


def test_more_than_500_items_are_refused() -> None:
    many = hooks.stock("adjust", [("S1", "main", 1)] * 501)

    assert refused("inventory-flow", many) == {"items": "must hold 1-500 entries"}


def test_500_items_are_accepted() -> None:
    parsed = flows.parse("inventory-flow", hooks.stock("adjust", [("S1", "main", 1)] * 500))

    assert isinstance(parsed, flows.StockUpdate) and len(parsed.lines) == 500


STOCK_ERRORS = [
    (("mode",), "replace", "mode", "must be 'set' or 'adjust'"),
    (("mode",), ..., "mode", "is required"),
    (("items",), ..., "items", "is required"),
    (("items", 0), ["S1", "main", 1], "items[0]", "must be an object"),
    (("items", 0, "reason"), ..., "items[0].reason", "is required"),
    (("items", 0, "reason"), "stolen", "items[0].reason",
     "must be one of received, sold, returned, damaged, correction"),
    (("items", 0, "location"), "", "items[0].location", "must be 1-64 characters"),
    (("items", 0, "quantity"), ..., "items[0].quantity", "is required"),
]


@pytest.mark.parametrize(
    ("path", "value", "field", "message"), STOCK_ERRORS, ids=[e[2] + ": " + e[3] for e in STOCK_ERRORS]
)
def test_a_wrong_stock_field_is_named_by_its_path(
    path: tuple[Any, ...], value: Any, field: str, message: str
) -> None:
    assert refused("inventory-flow", changed(STOCK, path, value))[field] == message


def test_a_count_below_zero_is_refused() -> None:
    count = hooks.stock("set", [("S1", "main", -1)])

    assert refused("inventory-flow", count) == {"items[0].quantity": "must be at least 0"}


SALE_ERRORS = [
    (("sale", "type"), "refund", "sale.type", "must be 'sale' or 'return'"),
    (("sale", "type"), ..., "sale.type", "is required"),
    (("sale", "location"), ..., "sale.location", "is required"),
    (("sale", "items", 0, "quantity"), -1, "sale.items[0].quantity", "must be at least 1"),
    (("sale", "currency"), "XXX", "sale.currency", "must be the ISO 4217 code of a currency, such as EUR"),
    (("sale", "location"), "x" * 65, "sale.location", "must be 1-64 characters"),
]


@pytest.mark.parametrize(
    ("path", "value", "field", "message"), SALE_ERRORS, ids=[e[2] + ": " + e[3] for e in SALE_ERRORS]
)
def test_a_wrong_sale_field_is_named_by_its_path(
    path: tuple[Any, ...], value: Any, field: str, message: str
) -> None:
    assert refused("sales-flow", changed(SALE, path, value))[field] == message


def test_a_nul_character_in_a_field_the_schema_ignores_is_refused() -> None:
    """PostgreSQL's jsonb cannot hold U+0000, so such a payload could never be stored."""
    payload = {**PURCHASE, "notes": [{"text": "ok"}, {"text": "a\u0000b"}]}

    assert refused("purchase-flow", payload) == {"notes[1].text": "must not contain U+0000"}


def test_a_nul_character_in_a_key_is_refused() -> None:
    payload = {**PURCHASE, "meta": {"a\u0000": 1}}

    assert refused("purchase-flow", payload) == {"meta": "keys must not contain U+0000"}


def test_nesting_deeper_than_32_levels_is_refused() -> None:
    deep: Any = "bottom"
    for _ in range(1000):
        deep = [deep]

    errors = refused("purchase-flow", {**PURCHASE, "extra": deep})

    assert list(errors.values()) == ["nests deeper than 32 levels"]


def test_nesting_of_32_levels_is_accepted() -> None:
    deep: Any = 1
    for _ in range(31):
        deep = {"x": deep}

    flows.parse("purchase-flow", {**PURCHASE, "extra": deep})
