"""Tenant isolation of orders and payments: tenant B never sees or changes tenant A's orders,
payments or stock, and cannot order A's customers' or A's variants."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from tests.documents import error_codes, error_fields, payload
from tests.shop import (
    CHANGES,
    CREATE_ORDER,
    ORDER,
    ORDER_BY_NUMBER,
    ORDERS,
    Shop,
    open_shop,
    payment_document,
)

CAPTURE = payment_document("capturePayment")
PAYMENT = "query Payment($id: ID!) { payment(id: $id) { id } }"
PAYMENTS = """
query Payments($filter: PaymentFilter, $after: String) {
  payments(first: 100, filter: $filter, after: $after) { edges { cursor node { id } } }
}
"""
HISTORY = """
query History($id: ID!) { customer(id: $id) { id orders(first: 50) { edges { node { id } } } } }
"""
A_STATE = """
query AState($id: ID!) {
  order(id: $id) { status capturedAmount { amount } payments { id } lines { quantity } }
}
"""


@dataclasses.dataclass(frozen=True)
class World:
    a: Shop
    b: Shop
    a_order: dict[str, Any]
    a_cancelled: dict[str, Any]
    a_payment_id: str
    b_order: dict[str, Any]


@pytest.fixture
async def world(make_tenant: Any) -> World:
    a = await open_shop(make_tenant, prefix="A-")
    b = await open_shop(make_tenant)
    a_order = await a.place(a.line("TEE-S", 2), idempotencyKey="shared-key")
    a_payment = payload(await capture(a, a_order["id"], 1000), "capturePayment")["payment"]
    a_cancelled = await a.place(a.line("MUG", 1))
    payload(await a.change(a_cancelled["id"], "CANCELLED"), "cancelOrder")
    for _ in range(2):
        await a.place(a.line("MUG", 1))
    b_order = await b.place(b.line("MUG", 1))
    payload(await capture(b, b_order["id"], 100), "capturePayment")
    return World(a, b, a_order, a_cancelled, a_payment["id"], b_order)


async def capture(shop: Shop, order_id: str, amount: int) -> Any:
    return await shop.gql(CAPTURE, {"input": {
        "orderId": order_id, "amount": {"amount": amount, "currency": "EUR"}
    }})


async def order_ids(shop: Shop, **variables: Any) -> set[str]:
    body = await shop.gql(ORDERS, {"first": 100, **variables})
    assert "errors" not in body, body
    return {edge["node"]["id"] for edge in body["data"]["orders"]["edges"]}


async def payment_ids(shop: Shop, **variables: Any) -> set[str]:
    body = await shop.gql(PAYMENTS, variables)
    assert "errors" not in body, body
    return {edge["node"]["id"] for edge in body["data"]["payments"]["edges"]}


async def a_state(world: World) -> Any:
    """What A sees of its first order, its stock and its events."""
    body = await world.a.gql(A_STATE, {"id": world.a_order["id"]})
    return body, await world.a.stock("TEE-S"), await world.a.event_types()


# Reads


async def test_b_reads_a_order_by_id_as_null(world: World) -> None:
    assert await world.b.gql(ORDER, {"id": world.a_order["id"]}) == {"data": {"order": None}}


async def test_b_reads_a_order_numbers_as_its_own_or_null(world: World) -> None:
    own = await world.b.gql(ORDER_BY_NUMBER, {"number": 1})
    missing = await world.b.gql(ORDER_BY_NUMBER, {"number": 3})

    assert own["data"]["orderByNumber"] == {"id": world.b_order["id"], "number": 1}
    assert missing == {"data": {"orderByNumber": None}}


async def test_b_order_list_and_filters_hold_none_of_a(world: World) -> None:
    b_only = {world.b_order["id"]}

    assert await order_ids(world.b) == b_only
    assert await order_ids(world.b, filter={"status": "CANCELLED"}) == set()
    assert await order_ids(world.b, filter={"status": "PENDING"}) == b_only
    assert await order_ids(world.b, filter={"customerId": str(world.a.customer_id)}) == set()
    assert await order_ids(world.b, filter={"createdAfter": "2000-01-01T00:00:00Z"}) == b_only
    assert await order_ids(world.b, filter={"createdBefore": "2999-01-01T00:00:00Z"}) == b_only
    for field in ("CREATED_AT", "NUMBER", "TOTAL"):
        assert await order_ids(world.b, orderBy={"field": field, "direction": "DESC"}) == b_only


async def test_a_cursor_used_by_b_returns_only_b_rows(world: World) -> None:
    page = await world.a.gql(ORDERS, {"first": 1})
    cursor = page["data"]["orders"]["edges"][0]["cursor"]

    assert await order_ids(world.b, after=cursor) == {world.b_order["id"]}


async def test_b_reads_a_customer_and_its_history_as_null(world: World) -> None:
    a_customer = await world.b.gql(HISTORY, {"id": str(world.a.customer_id)})
    own = await world.b.gql(HISTORY, {"id": str(world.b.customer_id)})

    assert a_customer == {"data": {"customer": None}}
    assert own["data"]["customer"]["orders"]["edges"] == [{"node": {"id": world.b_order["id"]}}]


async def test_b_reads_a_payment_as_null_and_lists_none_of_a(world: World) -> None:
    b_payments = await payment_ids(world.b)

    assert await world.b.gql(PAYMENT, {"id": world.a_payment_id}) == {"data": {"payment": None}}
    assert len(b_payments) == 1 and world.a_payment_id not in b_payments
    assert await payment_ids(world.b, filter={"orderId": world.a_order["id"]}) == set()
    assert await payment_ids(world.b, filter={"kind": "CAPTURE"}) == b_payments
    a_page = await world.a.gql(PAYMENTS, {})
    cursor = a_page["data"]["payments"]["edges"][0]["cursor"]
    assert await payment_ids(world.b, after=cursor) <= b_payments


# Writes


@pytest.mark.parametrize("status", list(CHANGES))
async def test_b_cannot_change_a_order_status(world: World, status: str) -> None:
    before = await a_state(world)

    body = await world.b.change(world.a_order["id"], status)

    assert error_codes(body, CHANGES[status]) == ["NOT_FOUND"]
    assert await a_state(world) == before


@pytest.mark.parametrize("mutation", ["authorizePayment", "capturePayment", "refundPayment"])
async def test_b_cannot_pay_or_refund_a_order(world: World, mutation: str) -> None:
    before = await a_state(world)

    body = await world.b.gql(payment_document(mutation), {"input": {
        "orderId": world.a_order["id"], "amount": {"amount": 100, "currency": "EUR"}
    }})

    assert error_codes(body, mutation) == ["NOT_FOUND"]
    assert await a_state(world) == before
    assert len(await payment_ids(world.b)) == 1


async def test_b_cannot_order_for_a_customer(world: World) -> None:
    body = await world.b.gql(CREATE_ORDER, {"input": {
        "customerId": str(world.a.customer_id), "lines": [world.b.line("MUG")]
    }})

    assert error_fields(body, "createOrder") == {"input.customerId": "no such customer"}
    assert await order_ids(world.b) == {world.b_order["id"]}


async def test_b_cannot_order_a_variant_by_id_or_sku(world: World) -> None:
    before = await a_state(world)

    by_id = await world.b.gql(CREATE_ORDER, {"input": {"lines": [world.a.line("TEE-S")]}})
    by_sku = await world.b.gql(CREATE_ORDER, {"input": {"lines": [world.a.line("TEE-S", by_id=False)]}})

    assert error_fields(by_id, "createOrder") == {"input.lines[0].variantId": "no such variant"}
    assert error_fields(by_sku, "createOrder") == {"input.lines[0].sku": "no such variant"}
    assert await order_ids(world.b) == {world.b_order["id"]}
    assert await a_state(world) == before


async def test_idempotency_keys_belong_to_one_tenant(world: World) -> None:
    made = await world.b.place(world.b.line("TEE-S", 2), idempotencyKey="shared-key")

    assert made["id"] != world.a_order["id"]
    assert made["number"] == 2
    assert await world.a.stock("TEE-S") == (10, 2)
    assert await world.b.stock("TEE-S") == (10, 2)
