"""Order rules without a database: the status machine, totals, idempotency digests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from domain import catalog, imports, orders, pricing
from domain.errors import Conflict, Invalid

S = orders.OrderStatus
LEGAL = {
    (S.PENDING, S.PAID), (S.PENDING, S.CANCELLED),
    (S.PAID, S.FULFILLED), (S.PAID, S.CANCELLED), (S.PAID, S.REFUNDED),
    (S.FULFILLED, S.REFUNDED),
}
ALL_PAIRS = [(a, b) for a in S for b in S]
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def order(status: orders.OrderStatus = S.PENDING, **fields: Any) -> orders.Order:
    values: dict[str, Any] = dict(
        id=uuid.uuid4(), number=7, customer_id=None, status=status, currency="EUR",
        price_list_id=None, subtotal=1000, discount_total=0, tax_total=0, total=1000,
        idempotency_key=None, request_hash=None, created_at=NOW, updated_at=NOW,
    )
    return orders.Order(**(values | fields))


def variant(sku: str, *, active: bool = True, title: str = "") -> catalog.Variant:
    return catalog.Variant(
        id=uuid.uuid4(), product_id=uuid.uuid4(), sku=sku, title=title, attributes={},
        price=catalog.Money(100, "EUR"), active=active,
    )


def product_of(
    v: catalog.Variant, title: str = "Shirt", status: catalog.ProductStatus = catalog.ProductStatus.ACTIVE
) -> catalog.Product:
    return catalog.Product(
        id=v.product_id, handle="shirt", title=title, description="", status=status,
        category_id=None, attributes={}, created_at=NOW, updated_at=NOW,
    )


def quote(v: catalog.Variant, amount: int, currency: str = "EUR") -> pricing.Quote:
    return pricing.Quote(v.id, catalog.Money(amount, currency), None, None)


def request(*lines: orders.LineRequest, **fields: Any) -> orders.OrderRequest:
    return orders.OrderRequest(lines=tuple(lines), **fields)


@pytest.mark.parametrize(("before", "after"), sorted(LEGAL, key=str))
def test_legal_transition_is_allowed(before: orders.OrderStatus, after: orders.OrderStatus) -> None:
    orders.check_transition(order(before), after)


@pytest.mark.parametrize(("before", "after"), [p for p in ALL_PAIRS if p not in LEGAL])
def test_illegal_transition_is_a_conflict_naming_both_states(
    before: orders.OrderStatus, after: orders.OrderStatus
) -> None:
    with pytest.raises(Conflict) as raised:
        orders.check_transition(order(before), after)

    assert f"from {before.value} to {after.value}" in raised.value.message
    assert raised.value.details == {"from": before.value, "to": after.value}


@pytest.mark.parametrize(("before", "after", "effect"), [
    (S.PENDING, S.PAID, orders.StockEffect.NONE),
    (S.PAID, S.FULFILLED, orders.StockEffect.COMMIT),
    (S.PENDING, S.CANCELLED, orders.StockEffect.RELEASE),
    (S.PAID, S.CANCELLED, orders.StockEffect.RELEASE),
    (S.PAID, S.REFUNDED, orders.StockEffect.RELEASE),
    (S.FULFILLED, S.REFUNDED, orders.StockEffect.RESTOCK),
])
def test_each_transition_moves_stock_as_it_should(
    before: orders.OrderStatus, after: orders.OrderStatus, effect: orders.StockEffect
) -> None:
    assert orders.stock_effect(before, after) == effect


@pytest.mark.parametrize(("amount", "weights", "shares"), [
    (0, [100, 200], [0, 0]),
    (300, [100, 200], [100, 200]),
    (100, [1, 1, 1], [34, 33, 33]),
    (5, [333, 333, 334], [2, 1, 2]),
    (10, [0, 0], [0, 0]),
    (999, [999], [999]),
])
def test_discount_allocation_adds_up_exactly(amount: int, weights: list[int], shares: list[int]) -> None:
    assert orders.allocate(amount, weights) == shares
    if sum(weights):
        assert sum(orders.allocate(amount, weights)) == amount


def test_totals_are_computed_from_the_lines() -> None:
    a, b = variant("A"), variant("B")
    lines = [
        orders.PricedLine(variant=a, title="A", quantity=2, unit_price=1250),
        orders.PricedLine(variant=b, title="B", quantity=1, unit_price=500),
    ]

    draft = orders.draft_order("EUR", lines, catalog.Money(300, "EUR"))

    assert draft.totals == orders.Totals("EUR", subtotal=3000, discount_total=300, tax_total=0, total=2700)
    assert [(x.discount, x.line_total) for x in draft.lines] == [(250, 2250), (50, 450)]
    assert [x.position for x in draft.lines] == [0, 1]


def test_discount_in_another_currency_or_above_subtotal_is_bad_input() -> None:
    lines = [orders.PricedLine(variant=variant("A"), title="A", quantity=1, unit_price=100)]

    with pytest.raises(Invalid) as currency:
        orders.draft_order("EUR", lines, catalog.Money(10, "USD"))
    with pytest.raises(Invalid) as amount:
        orders.draft_order("EUR", lines, catalog.Money(101, "EUR"))

    assert currency.value.fields == {"input.discount.currency": "must be EUR"}
    assert amount.value.fields == {"input.discount.amount": "must be at most 100"}


def test_tax_is_a_placeholder_of_zero() -> None:
    assert orders.tax("EUR", 10_000) == 0


def test_lines_in_more_than_one_currency_are_bad_input() -> None:
    a, b = variant("A"), variant("B")
    req = request(orders.LineRequest(1, sku="A"), orders.LineRequest(1, sku="B"))

    products = {v.product_id: product_of(v) for v in (a, b)}

    with pytest.raises(Invalid) as raised:
        orders.price_lines(req, [a, b], products, {a.id: quote(a, 100), b.id: quote(b, 100, "USD")})

    assert raised.value.fields == {"input.lines[1]": "priced in USD, not EUR"}


def test_lines_are_titled_and_priced_from_their_quotes() -> None:
    a = variant("A", title="M")
    req = request(orders.LineRequest(3, sku="A"))

    currency, priced = orders.price_lines(req, [a], {a.product_id: product_of(a)}, {a.id: quote(a, 250)})

    assert currency == "EUR"
    assert priced == [orders.PricedLine(variant=a, title="Shirt / M", quantity=3, unit_price=250)]


def test_only_active_products_are_on_sale() -> None:
    active, draft, archived = variant("A"), variant("D"), variant("X")
    products = {
        active.product_id: product_of(active),
        draft.product_id: product_of(draft, status=catalog.ProductStatus.DRAFT),
        archived.product_id: product_of(archived, status=catalog.ProductStatus.ARCHIVED),
    }
    req = request(
        orders.LineRequest(1, sku="A"), orders.LineRequest(1, sku="D"),
        orders.LineRequest(1, variant_id=archived.id),
    )

    with pytest.raises(Invalid) as raised:
        orders.check_on_sale(req, [active, draft, archived], products)

    assert raised.value.fields == {
        "input.lines[1].sku": "not for sale", "input.lines[2].variantId": "not for sale"
    }


def test_line_title_joins_product_and_variant() -> None:
    assert orders.line_title("Shirt", "M / Blue") == "Shirt / M / Blue"
    assert orders.line_title("Mug", "") == "Mug"


def test_request_checks_name_each_bad_field() -> None:
    bad = request(
        orders.LineRequest(0, variant_id=uuid.uuid4(), sku="A"),
        orders.LineRequest(1),
        idempotency_key="",
        discount=catalog.Money(-1, "EUR"),
    )

    assert set(orders.check_request(bad)) == {
        "input.lines[0]", "input.lines[0].quantity", "input.lines[1]",
        "input.idempotencyKey", "input.discount.amount",
    }
    assert orders.check_request(request()) == {"input.lines": "must hold 1-100 lines"}


def test_lines_must_name_known_active_distinct_variants() -> None:
    known, inactive = variant("KNOWN"), variant("OLD", active=False)
    req = request(
        orders.LineRequest(1, sku="KNOWN"),
        orders.LineRequest(1, variant_id=known.id),
        orders.LineRequest(1, sku="OLD"),
        orders.LineRequest(1, sku="NOPE"),
    )

    with pytest.raises(Invalid) as raised:
        orders.resolve_lines(req, {known.id: known}, {"KNOWN": known, "OLD": inactive})

    assert raised.value.fields == {
        "input.lines[1].variantId": "repeated in this order",
        "input.lines[2].sku": "not for sale",
        "input.lines[3].sku": "no such variant",
    }


def test_request_hash_is_stable_and_tells_inputs_apart() -> None:
    line = orders.LineRequest(2, sku="A")
    base = request(line, idempotency_key="k1")

    assert orders.request_hash(base, None) == orders.request_hash(request(line, idempotency_key="k2"), None)
    assert len(orders.request_hash(base, None)) == 64
    assert orders.request_hash(base, None) != orders.request_hash(base, "wholesale")
    assert orders.request_hash(base, None) != orders.request_hash(
        request(orders.LineRequest(3, sku="A")), None
    )
    assert orders.request_hash(base, None) != orders.request_hash(
        request(line, discount=catalog.Money(1, "EUR")), None
    )


def test_replay_returns_the_first_order_only_for_the_same_input() -> None:
    first = order(request_hash="abc")

    assert orders.replay(first, "abc") is first
    with pytest.raises(Conflict):
        orders.replay(first, "other")


SHOP = {"A": variant("A"), "B": variant("B")}


def purchase_of(currency: str, *lines: tuple[str, int]) -> imports.ImportRequest:
    """A purchase-flow import of one unit per (sku, unit price)."""
    imported = tuple(imports.ImportedLine(sku, 1, price) for sku, price in lines)
    return imports.ImportRequest("shop:1", currency, imported, sum(p for _, p in lines), listed_prices=True)


def listed_problems(request: imports.ImportRequest, **lists: list[pricing.Quote]) -> dict[str, str]:
    by_variant = {SHOP[sku].id: quotes for sku, quotes in lists.items()}
    with pytest.raises(Invalid) as refused:
        imports.check_listed_prices(request, SHOP, by_variant)
    return refused.value.fields


def test_a_purchase_at_base_or_list_prices_in_its_currency_matches_the_shop() -> None:
    usd = {SHOP["A"].id: [quote(SHOP["A"], 120, "USD")], SHOP["B"].id: [quote(SHOP["B"], 90)]}

    for request in (purchase_of("EUR", ("A", 100), ("B", 90)), purchase_of("USD", ("A", 120))):
        imports.check_listed_prices(request, SHOP, usd)


def test_a_purchase_names_each_line_the_shop_does_not_price_so_and_both_sides() -> None:
    request = purchase_of("EUR", ("A", 100), ("B", 95), ("A", 80))

    assert listed_problems(request, B=[quote(SHOP["B"], 90)]) == {
        "order.items[1].unitPrice": "B at 95 EUR, but the shop's price is 90 or 100 EUR",
        "order.items[2].unitPrice": "A at 80 EUR, but the shop's price is 100 EUR",
    }


def test_a_purchase_in_a_currency_the_shop_does_not_price_names_both_currencies() -> None:
    request = purchase_of("USD", ("A", 100), ("B", 100))

    assert listed_problems(request, B=[quote(SHOP["B"], 90, "GBP")]) == {
        "order.currency": "the order is in USD, but the shop sells A in EUR, B in EUR or GBP",
    }


def test_only_a_purchase_off_its_base_prices_needs_the_price_lists() -> None:
    assert imports.at_base_prices(purchase_of("EUR", ("A", 100), ("B", 100)), SHOP)
    assert not imports.at_base_prices(purchase_of("EUR", ("A", 100), ("B", 90)), SHOP)
    assert not imports.at_base_prices(purchase_of("USD", ("A", 100)), SHOP)
