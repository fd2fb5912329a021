"""Orders through /graphql: price snapshots, totals, stock, idempotency, the status machine."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from domain import catalog, customers, orders, pricing
from services import catalog as catalog_services
from services import customers as customer_services
from services import orders as order_services
from services import pricing as pricing_services
from tables import catalog as catalog_tables
from tables import events as outbox
from tests.documents import META, codes, error_codes, error_fields, payload
from tests.server.test_query_count import query_log  # noqa: F401  (a fixture)
from tests.shop import CHANGES, CREATE_ORDER, MODULES, ORDER, ORDER_BY_NUMBER, ORDERS, Shop, open_shop

STATES = ("PENDING", "PAID", "FULFILLED", "CANCELLED", "REFUNDED")
PATHS = {
    "PENDING": [],
    "PAID": ["PAID"],
    "FULFILLED": ["PAID", "FULFILLED"],
    "CANCELLED": ["CANCELLED"],
    "REFUNDED": ["PAID", "REFUNDED"],
}
LEGAL = {
    ("PENDING", "PAID"), ("PENDING", "CANCELLED"), ("PAID", "FULFILLED"), ("PAID", "CANCELLED"),
    ("PAID", "REFUNDED"), ("FULFILLED", "REFUNDED"),
}
TARGETS = [(before, after) for before in STATES for after in CHANGES]

CUSTOMER_HISTORY = """
query History($id: ID!, $first: Int, $after: String, $status: OrderStatus) {
  customer(id: $id) {
    email
    orders(first: $first, after: $after, filter: {status: $status}) {
      edges { cursor node { id number } } pageInfo { hasNextPage endCursor }
    }
  }
}
"""
CUSTOMERS_WITH_ORDERS = """
query Customers($first: Int!) {
  customers(first: $first, orderBy: {field: EMAIL}) {
    edges { node { email orders(first: 5) { edges { node { number } } } } }
  }
}
"""
PAGE = """
query Page($first: Int!) {
  orders(first: $first) {
    edges { node { number total { amount } customer { email }
                   lines { sku quantity variant { sku price { amount } } } } }
  }
}
"""


@pytest.fixture
async def shop(make_tenant: Any) -> Shop:
    return await open_shop(make_tenant)


async def reach(shop: Shop, state: str) -> dict[str, Any]:
    """A fresh order of one TEE-S moved along the legal path to `state`."""
    order = await shop.place(shop.line("TEE-S", 2))
    for step in PATHS[state]:
        body = await shop.change(order["id"], step)
        assert body["data"][CHANGES[step]]["errors"] == [], body
    return order


# Creating


async def test_create_order_snapshots_prices_and_computes_totals(shop: Shop) -> None:
    order = await shop.place(
        shop.line("TEE-S", 2), shop.line("MUG", 1, by_id=False),
        discount={"amount": 380, "currency": "EUR"},
    )

    assert order["status"] == "PENDING"
    assert order["number"] == 1
    assert order["customer"]["id"] == str(shop.customer_id)
    assert (order["subtotal"], order["discountTotal"], order["taxTotal"], order["total"]) == (
        {"amount": 3800, "currency": "EUR"}, {"amount": 380}, {"amount": 0},
        {"amount": 3420, "currency": "EUR"},
    )
    assert [(x["sku"], x["title"], x["quantity"], x["unitPrice"]["amount"], x["discount"]["amount"],
             x["lineTotal"]["amount"]) for x in order["lines"]] == [
        ("TEE-S", "Tee / S", 2, 1500, 300, 2700), ("MUG", "Mug", 1, 800, 80, 720),
    ]
    assert order["lines"][0]["variant"] == {"id": str(shop.variants["TEE-S"]), "sku": "TEE-S"}


async def test_later_price_changes_do_not_alter_the_order(shop: Shop) -> None:
    order = await shop.place(shop.line("TEE-S", 1))
    variant = await catalog_tables.get_variant(shop.variants["TEE-S"], tenant_id=shop.id)
    await catalog_services.update_variant(
        variant.id, catalog.VariantDraft(sku=variant.sku, title=variant.title,
                                         price=catalog.Money(9999, "EUR")),
        tenant_id=shop.id, meta=META,
    )

    again = (await shop.gql(ORDER, {"id": order["id"]}))["data"]["order"]

    assert again["lines"][0]["unitPrice"]["amount"] == 1500
    assert again["total"]["amount"] == 1500
    assert (await shop.place(shop.line("TEE-S", 1)))["total"]["amount"] == 9999


async def test_order_numbers_increase_per_tenant(shop: Shop, make_tenant: Any) -> None:
    other = await open_shop(make_tenant)

    numbers = [(await shop.place())["number"] for _ in range(3)]

    assert numbers == [1, 2, 3]
    assert (await other.place())["number"] == 1


async def test_price_list_from_input_wins_over_header(shop: Shop) -> None:
    for handle, amount in (("wholesale", 1000), ("staff", 700)):
        listed = await pricing_services.create_price_list(
            pricing.PriceListDraft(name=handle, handle=handle, currency="EUR"),
            tenant_id=shop.id, meta=META,
        )
        await pricing_services.set_variant_price(
            listed.id, shop.variants["TEE-S"], catalog.Money(amount, "EUR"), None,
            tenant_id=shop.id, meta=META,
        )
    input_ = {"customerId": str(shop.customer_id), "lines": [shop.line("TEE-S"), shop.line("MUG")]}

    by_header = await shop.gql(CREATE_ORDER, {"input": input_}, headers={"x-price-list": "wholesale"})
    by_input = await shop.gql(
        CREATE_ORDER, {"input": {**input_, "priceList": "staff"}}, headers={"x-price-list": "wholesale"}
    )
    unknown = await shop.gql(CREATE_ORDER, {"input": {**input_, "priceList": "nope"}})

    assert unit_prices(by_header) == [1000, 800]
    assert unit_prices(by_input) == [700, 800]
    assert error_fields(unknown, "createOrder") == {"input.priceList": "no such price list"}


def unit_prices(body: dict[str, Any]) -> list[int]:
    return [line["unitPrice"]["amount"] for line in payload(body, "createOrder")["order"]["lines"]]


async def test_lines_in_two_currencies_are_refused(shop: Shop) -> None:
    variant = await catalog_tables.get_variant(shop.variants["MUG"], tenant_id=shop.id)
    await catalog_services.update_variant(
        variant.id, catalog.VariantDraft(sku="MUG", title="", price=catalog.Money(900, "USD")),
        tenant_id=shop.id, meta=META,
    )

    body = await shop.gql(CREATE_ORDER, {"input": {"lines": [shop.line("TEE-S"), shop.line("MUG")]}})

    assert error_codes(body, "createOrder") == ["BAD_USER_INPUT"]
    assert error_fields(body, "createOrder") == {"input.lines[1]": "priced in USD, not EUR"}


async def test_invalid_lines_are_refused_field_by_field(shop: Shop) -> None:
    body = await shop.gql(CREATE_ORDER, {"input": {"lines": [
        {"sku": "NOPE", "quantity": 1},
        {"variantId": str(shop.variants["MUG"]), "sku": "MUG", "quantity": 0},
        {"variantId": "not-an-id", "quantity": 1},
    ]}})

    assert set(error_fields(body, "createOrder")) == {"input.lines[2].variantId"}
    body = await shop.gql(CREATE_ORDER, {"input": {"lines": [
        {"sku": "NOPE", "quantity": 1},
        {"variantId": str(shop.variants["MUG"]), "sku": "MUG", "quantity": 0},
    ]}})
    assert set(error_fields(body, "createOrder")) == {"input.lines[1]", "input.lines[1].quantity"}
    body = await shop.gql(CREATE_ORDER, {"input": {"lines": [
        {"sku": "NOPE", "quantity": 1}, shop.line("MUG"), shop.line("MUG", by_id=False),
    ]}})
    assert error_fields(body, "createOrder") == {
        "input.lines[0].sku": "no such variant", "input.lines[2].sku": "repeated in this order",
    }
    assert await shop.event_types() == []


async def test_variants_of_archived_products_are_not_for_sale(shop: Shop) -> None:
    mug = await catalog_tables.get_variant(shop.variants["MUG"], tenant_id=shop.id)
    product = await catalog_tables.get_product(mug.product_id, tenant_id=shop.id)
    archived = catalog.ProductPatch(status=catalog.ProductStatus.ARCHIVED).apply(product)
    await catalog_services.update_product(product.id, archived, tenant_id=shop.id, meta=META)

    body = await shop.gql(CREATE_ORDER, {"input": {"lines": [shop.line("MUG", by_id=False)]}})

    assert error_fields(body, "createOrder") == {"input.lines[0].sku": "not for sale"}


async def test_create_order_reserves_stock(shop: Shop) -> None:
    order = await shop.place(shop.line("TEE-S", 3))

    assert await shop.stock("TEE-S") == (10, 3)
    assert await shop.reservations(order["id"]) == [("active", 3)]
    assert await shop.event_types() == ["inventory.reserved", "order.created"]


async def test_failed_create_leaves_no_order_reservation_or_event(shop: Shop) -> None:
    body = await shop.gql(CREATE_ORDER, {"input": {
        "customerId": str(shop.customer_id),
        "lines": [shop.line("MUG", 1), shop.line("TEE-S", 11)],
        "idempotencyKey": "short-stock",
    }})

    assert error_codes(body, "createOrder") == ["CONFLICT"]
    assert "TEE-S" in body["data"]["createOrder"]["errors"][0]["message"]
    assert (await shop.gql(ORDERS, {}))["data"]["orders"]["edges"] == []
    assert await shop.stock("MUG") == (10, 0)
    assert await shop.event_types() == []
    assert (await shop.place(shop.line("MUG", 1), idempotencyKey="short-stock"))["number"] == 1


async def test_create_for_unknown_customer_is_refused(shop: Shop) -> None:
    body = await shop.gql(CREATE_ORDER, {"input": {
        "customerId": "00000000-0000-0000-0000-000000000001", "lines": [shop.line("MUG")]
    }})

    assert error_fields(body, "createOrder") == {"input.customerId": "no such customer"}
    assert await shop.event_types() == []


async def test_guest_order_has_no_customer(shop: Shop) -> None:
    body = await shop.gql(CREATE_ORDER, {"input": {"lines": [shop.line("MUG")]}})
    assert payload(body, "createOrder")["order"]["customer"] is None


# Idempotency


async def test_same_key_and_input_returns_the_first_order(shop: Shop) -> None:
    input_ = {"customerId": str(shop.customer_id), "lines": [shop.line("TEE-S", 2)], "idempotencyKey": "k-1"}

    first = payload(await shop.gql(CREATE_ORDER, {"input": input_}), "createOrder")["order"]
    events_after_first = await shop.event_types()
    second = payload(await shop.gql(CREATE_ORDER, {"input": input_}), "createOrder")["order"]

    assert second == first
    assert await shop.event_types() == events_after_first == ["inventory.reserved", "order.created"]
    assert await shop.reservations(first["id"]) == [("active", 2)]
    assert await shop.stock("TEE-S") == (10, 2)


async def test_same_key_with_other_input_is_refused(shop: Shop) -> None:
    input_ = {"lines": [shop.line("TEE-S", 2)], "idempotencyKey": "k-2"}
    first = payload(await shop.gql(CREATE_ORDER, {"input": input_}), "createOrder")["order"]

    other = await shop.gql(CREATE_ORDER, {"input": {**input_, "lines": [shop.line("TEE-S", 3)]}})
    header = await shop.gql(CREATE_ORDER, {"input": input_}, headers={"x-price-list": "none"})

    assert error_codes(other, "createOrder") == ["CONFLICT"]
    assert error_codes(header, "createOrder") == ["CONFLICT"]
    assert [e["node"]["id"] for e in (await shop.gql(ORDERS, {}))["data"]["orders"]["edges"]] == [first["id"]]
    assert await shop.stock("TEE-S") == (10, 2)


async def test_concurrent_requests_with_one_key_make_one_order(shop: Shop) -> None:
    input_ = {"lines": [shop.line("TEE-S", 1)], "idempotencyKey": "race"}

    bodies = await asyncio.gather(*(shop.gql(CREATE_ORDER, {"input": input_}) for _ in range(8)))

    ids = {payload(body, "createOrder")["order"]["id"] for body in bodies}
    assert len(ids) == 1
    assert await shop.event_types() == ["inventory.reserved", "order.created"]
    assert await shop.stock("TEE-S") == (10, 1)


async def test_concurrent_requests_with_one_key_and_other_inputs_make_one_order(shop: Shop) -> None:
    inputs = [{"lines": [shop.line("TEE-S", n)], "idempotencyKey": "race-2"} for n in range(1, 7)]

    bodies = await asyncio.gather(*(shop.gql(CREATE_ORDER, {"input": i}) for i in inputs))

    made = [b["data"]["createOrder"]["order"] for b in bodies if b["data"]["createOrder"]["order"]]
    refused = [b for b in bodies if not b["data"]["createOrder"]["order"]]
    assert len(made) == 1
    assert all(error_codes(b, "createOrder") == ["CONFLICT"] for b in refused)
    assert await shop.stock("TEE-S") == (10, made[0]["lines"][0]["quantity"])
    assert await shop.event_types() == ["inventory.reserved", "order.created"]


# The status machine, through the API


@pytest.mark.parametrize(("before", "after"), TARGETS)
async def test_status_transition(shop: Shop, before: str, after: str) -> None:
    order = await reach(shop, before)
    events_before = await shop.event_types()
    stock_before = await shop.stock("TEE-S")

    body = await shop.change(order["id"], after)

    mutation = CHANGES[after]
    if (before, after) in LEGAL:
        assert payload(body, mutation)["order"]["status"] == after
        assert await shop.status(order["id"]) == after
        changed = await outbox.list_events(
            tenant_id=shop.id, types=["order.status_changed"], after_seq=shop.seeded_seq, limit=100
        )
        assert changed[-1].payload == {"number": order["number"], "from": before.lower(), "to": after.lower()}
    else:
        errors = body["data"][mutation]["errors"]
        assert error_codes(body, mutation) == ["CONFLICT"]
        assert f"from {before.lower()} to {after.lower()}" in errors[0]["message"]
        assert await shop.status(order["id"]) == before
        assert await shop.event_types() == events_before
        assert await shop.stock("TEE-S") == stock_before


@pytest.mark.parametrize(("path", "stock", "reservations"), [
    ([], (10, 2), [("active", 2)]),
    (["PAID", "FULFILLED"], (8, 0), [("committed", 2)]),
    (["CANCELLED"], (10, 0), [("released", 2)]),
    (["PAID", "CANCELLED"], (10, 0), [("released", 2)]),
    (["PAID", "REFUNDED"], (10, 0), [("released", 2)]),
    (["PAID", "FULFILLED", "REFUNDED"], (10, 0), [("released", 2)]),
])
async def test_status_changes_move_stock(
    shop: Shop, path: list[str], stock: tuple[int, int], reservations: list[tuple[str, int]]
) -> None:
    order = await shop.place(shop.line("TEE-S", 2))

    for step in path:
        payload(await shop.change(order["id"], step), CHANGES[step])

    assert await shop.stock("TEE-S") == stock
    assert await shop.reservations(order["id"]) == reservations


async def test_change_of_unknown_order_is_not_found(shop: Shop) -> None:
    body = await shop.change("00000000-0000-0000-0000-000000000001", "PAID")
    assert error_codes(body, "markOrderPaid") == ["NOT_FOUND"]


# Reading


async def test_line_variants_carry_fields_of_other_enabled_modules(make_tenant: Any) -> None:
    shop = await open_shop(make_tenant, modules=(*MODULES, "pricing"))
    order = await shop.place(shop.line("TEE-S", 3))

    body = await shop.gql(
        "query L($id: ID!) { order(id: $id) { lines { variant { sku available price { amount } } } } }",
        {"id": order["id"]},
    )

    assert body == {"data": {"order": {"lines": [
        {"variant": {"sku": "TEE-S", "available": 7, "price": {"amount": 1500}}}
    ]}}}


async def test_order_by_id_and_number(shop: Shop) -> None:
    order = await shop.place()

    by_id = await shop.gql(ORDER, {"id": order["id"]})
    by_number = await shop.gql(ORDER_BY_NUMBER, {"number": order["number"]})
    missing = await shop.gql(ORDER_BY_NUMBER, {"number": 99})

    assert by_id["data"]["order"] == order
    assert by_number["data"]["orderByNumber"] == {"id": order["id"], "number": 1}
    assert missing == {"data": {"orderByNumber": None}}


async def test_orders_filter_sort_and_pages(shop: Shop, make_tenant: Any) -> None:
    await shop.place(shop.line("MUG", 1))
    second = await shop.place(shop.line("TEE-S", 2))
    await shop.place(shop.line("TEE-M", 1))
    payload(await shop.change(second["id"], "CANCELLED"), "cancelOrder")

    async def numbers(**variables: Any) -> list[int]:
        body = await shop.gql(ORDERS, {"first": 50, **variables})
        assert "errors" not in body, body
        return [e["node"]["number"] for e in body["data"]["orders"]["edges"]]

    assert await numbers() == [1, 2, 3]
    assert await numbers(filter={"status": "CANCELLED"}) == [2]
    assert await numbers(filter={"customerId": str(shop.customer_id)}) == [1, 2, 3]
    assert await numbers(filter={"createdAfter": second["createdAt"]}) == [2, 3]
    assert await numbers(filter={"createdBefore": second["createdAt"]}) == [1]
    assert await numbers(orderBy={"field": "TOTAL", "direction": "DESC"}) == [2, 3, 1]
    assert await numbers(orderBy={"field": "NUMBER", "direction": "DESC"}) == [3, 2, 1]
    page = await shop.gql(ORDERS, {"first": 1, "orderBy": {"field": "TOTAL"}})
    cursor = page["data"]["orders"]["pageInfo"]["endCursor"]
    assert await numbers(after=cursor, orderBy={"field": "TOTAL"}) == [3, 2]
    wrong = await shop.gql(ORDERS, {"after": cursor, "orderBy": {"field": "NUMBER"}})
    assert codes(wrong) == ["BAD_USER_INPUT"]


async def test_customer_order_history_newest_first(shop: Shop) -> None:
    placed = [await shop.place() for _ in range(3)]
    payload(await shop.change(placed[0]["id"], "CANCELLED"), "cancelOrder")

    body = await shop.gql(CUSTOMER_HISTORY, {"id": str(shop.customer_id), "first": 2})
    history = body["data"]["customer"]["orders"]
    rest = await shop.gql(CUSTOMER_HISTORY, {
        "id": str(shop.customer_id), "first": 2, "after": history["pageInfo"]["endCursor"]
    })
    cancelled = await shop.gql(CUSTOMER_HISTORY, {"id": str(shop.customer_id), "status": "CANCELLED"})

    assert [e["node"]["number"] for e in history["edges"]] == [3, 2]
    assert history["pageInfo"]["hasNextPage"] is True
    assert [e["node"]["number"] for e in rest["data"]["customer"]["orders"]["edges"]] == [1]
    assert [e["node"]["number"] for e in cancelled["data"]["customer"]["orders"]["edges"]] == [1]


# Scopes


async def test_scopes(shop: Shop) -> None:
    order = await shop.place()
    reader = await shop.tenant.key_with("orders:read")
    writer = await shop.tenant.key_with("orders:write")
    catalog_only = await shop.tenant.key_with("catalog:read")

    created = await shop.gql(CREATE_ORDER, {"input": {"lines": [shop.line("MUG")]}}, key=reader)
    read = await shop.gql(ORDER_BY_NUMBER, {"number": 1}, key=catalog_only)
    changed = await shop.change(order["id"], "PAID")
    line_variant = await shop.gql(ORDER, {"id": order["id"]}, key=writer)

    assert codes(created) == ["FORBIDDEN"]
    assert codes(read) == ["FORBIDDEN"]
    assert payload(changed, "markOrderPaid")["order"]["status"] == "PAID"
    assert set(codes(line_variant)) == {"FORBIDDEN"}  # customer and variant need their own scopes


# Query count


async def test_a_page_of_orders_costs_a_constant_number_of_queries(
    make_tenant: Any, query_log: list[str]  # noqa: F811
) -> None:
    shop = await open_shop(make_tenant, stock=100)
    skus = list(shop.variants)
    for n in range(50):
        request = orders.OrderRequest(
            customer_id=shop.customer_id,
            lines=(orders.LineRequest(1, sku=skus[n % 3]), orders.LineRequest(1, sku=skus[(n + 1) % 3])),
        )
        await order_services.create_order(request, price_list=None, tenant_id=shop.id, meta=META)
    await shop.gql(PAGE, {"first": 1})

    query_log.clear()
    small = await shop.gql(PAGE, {"first": 2})
    small_count = len(query_log)
    query_log.clear()
    large = await shop.gql(PAGE, {"first": 50})
    large_count = len(query_log)

    assert "errors" not in small and "errors" not in large
    assert len(large["data"]["orders"]["edges"]) == 50
    assert all(len(e["node"]["lines"]) == 2 for e in large["data"]["orders"]["edges"])
    assert large_count == small_count
    # credentials + tenant, the page, one batch each of lines, variants and customers
    assert large_count <= 6


async def test_order_histories_of_a_customer_page_cost_one_query(
    shop: Shop, query_log: list[str]  # noqa: F811
) -> None:
    for n in range(6):
        customer = await customer_services.create_customer(
            customers.CustomerDraft(email=f"c{n}@example.com"), [], tenant_id=shop.id, meta=META
        )
        for _ in range(n % 3):
            await shop.place(customerId=str(customer.id))
    await shop.gql(CUSTOMERS_WITH_ORDERS, {"first": 1})

    query_log.clear()
    small = await shop.gql(CUSTOMERS_WITH_ORDERS, {"first": 2})
    small_count = len(query_log)
    query_log.clear()
    large = await shop.gql(CUSTOMERS_WITH_ORDERS, {"first": 7})
    large_count = len(query_log)

    histories = {
        e["node"]["email"]: [o["node"]["number"] for o in e["node"]["orders"]["edges"]]
        for e in large["data"]["customers"]["edges"]
    }
    assert "errors" not in small
    assert histories == {
        "c0@example.com": [], "c1@example.com": [1], "c2@example.com": [3, 2], "c3@example.com": [],
        "c4@example.com": [4], "c5@example.com": [6, 5], f"buyer@{shop.tenant.slug}.example": [],
    }
    assert large_count == small_count
    # credentials + tenant, the customer page, one history query for all of them
    assert large_count <= 4
