"""Payments through /graphql: captures make orders paid, refunds never exceed captures, and
concurrent payments of one order never overshoot."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tables import events as outbox
from tests.documents import codes, error_codes, error_fields, payload
from tests.shop import MONEY_FIELDS, Shop, open_shop, payment_document

AUTHORIZE = payment_document("authorizePayment")
CAPTURE = payment_document("capturePayment")
REFUND = payment_document("refundPayment")
ORDER_MONEY = f"query Money($id: ID!) {{ order(id: $id) {{ {MONEY_FIELDS} }} }}"
PAYMENT = "query Payment($id: ID!) { payment(id: $id) { id orderId kind amount { amount currency } } }"
PAYMENTS = """
query Payments($first: Int, $after: String, $filter: PaymentFilter, $orderBy: PaymentOrder) {
  payments(first: $first, after: $after, filter: $filter, orderBy: $orderBy) {
    edges { cursor node { id kind amount { amount } } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
MUTATIONS = {AUTHORIZE: "authorizePayment", CAPTURE: "capturePayment", REFUND: "refundPayment"}


@pytest.fixture
async def shop(make_tenant: Any) -> Shop:
    return await open_shop(make_tenant)


@pytest.fixture
async def order(shop: Shop) -> dict[str, Any]:
    """Two tees at 15.00: a total of 3000 EUR cents."""
    return await shop.place(shop.line("TEE-S", 2))


async def pay(shop: Shop, document: str, order_id: str, amount: int, currency: str = "EUR") -> Any:
    return await shop.gql(document, {"input": {
        "orderId": order_id, "amount": {"amount": amount, "currency": currency}, "reference": "psp-1"
    }})


async def money(shop: Shop, order_id: str) -> dict[str, Any]:
    body = await shop.gql(ORDER_MONEY, {"id": order_id})
    assert "errors" not in body, body
    found: dict[str, Any] = body["data"]["order"]
    return found


def sums(found: dict[str, Any]) -> tuple[str, int, int, int]:
    return (found["status"], found["capturedAmount"]["amount"], found["refundedAmount"]["amount"],
            found["balance"]["amount"])


async def test_partial_capture_leaves_the_order_pending(shop: Shop, order: dict[str, Any]) -> None:
    body = await pay(shop, CAPTURE, order["id"], 1000)

    result = payload(body, "capturePayment")
    assert result["payment"]["kind"] == "CAPTURE"
    assert sums(result["order"]) == ("PENDING", 1000, 0, 2000)
    assert await shop.event_types() == ["inventory.reserved", "order.created", "payment.captured"]


async def test_capturing_the_total_makes_the_order_paid(shop: Shop, order: dict[str, Any]) -> None:
    payload(await pay(shop, AUTHORIZE, order["id"], 3000), "authorizePayment")
    payload(await pay(shop, CAPTURE, order["id"], 1000), "capturePayment")

    result = payload(await pay(shop, CAPTURE, order["id"], 2000), "capturePayment")

    assert sums(result["order"]) == ("PAID", 3000, 0, 0)
    assert result["order"]["authorizedAmount"] == {"amount": 3000}
    assert [p["kind"] for p in result["order"]["payments"]] == ["AUTHORIZATION", "CAPTURE", "CAPTURE"]
    assert (await shop.event_types())[-2:] == ["payment.captured", "order.status_changed"]
    changed = await outbox.list_events(tenant_id=shop.id, types=["order.status_changed"])
    assert changed[-1].payload["from"] == "pending" and changed[-1].payload["to"] == "paid"


async def test_capture_beyond_the_total_is_refused(shop: Shop, order: dict[str, Any]) -> None:
    payload(await pay(shop, CAPTURE, order["id"], 2500), "capturePayment")
    events_before = await shop.event_types()

    body = await pay(shop, CAPTURE, order["id"], 501)

    assert error_fields(body, "capturePayment") == {"input.amount.amount": "must be at most 500"}
    assert sums(await money(shop, order["id"])) == ("PENDING", 2500, 0, 500)
    assert await shop.event_types() == events_before


async def test_payment_in_another_currency_is_refused(shop: Shop, order: dict[str, Any]) -> None:
    body = await pay(shop, CAPTURE, order["id"], 100, "USD")

    assert error_fields(body, "capturePayment") == {"input.amount.currency": "must be EUR"}
    assert (await money(shop, order["id"]))["payments"] == []


async def test_invalid_amounts_are_refused(shop: Shop, order: dict[str, Any]) -> None:
    zero = await pay(shop, CAPTURE, order["id"], 0)
    authorize_too_much = await pay(shop, AUTHORIZE, order["id"], 3001)

    assert error_fields(zero, "capturePayment") == {
        "input.amount.amount": "must be between 1 and 10^12 minor units"
    }
    assert error_codes(authorize_too_much, "authorizePayment") == ["BAD_USER_INPUT"]
    assert (await money(shop, order["id"]))["payments"] == []


async def test_refund_never_exceeds_what_was_captured(shop: Shop, order: dict[str, Any]) -> None:
    refused_before_capture = await pay(shop, REFUND, order["id"], 1)
    payload(await pay(shop, CAPTURE, order["id"], 3000), "capturePayment")
    payload(await pay(shop, REFUND, order["id"], 1000), "refundPayment")

    too_much = await pay(shop, REFUND, order["id"], 2001)

    assert error_fields(refused_before_capture, "refundPayment") == {
        "input.amount.amount": "must be at most 0"
    }
    assert error_fields(too_much, "refundPayment") == {"input.amount.amount": "must be at most 2000"}
    assert sums(await money(shop, order["id"])) == ("PAID", 3000, 1000, 1000)


async def test_full_refund_of_a_paid_order_refunds_it_and_releases_stock(
    shop: Shop, order: dict[str, Any]
) -> None:
    payload(await pay(shop, CAPTURE, order["id"], 3000), "capturePayment")
    payload(await pay(shop, REFUND, order["id"], 1000), "refundPayment")

    result = payload(await pay(shop, REFUND, order["id"], 2000), "refundPayment")

    assert sums(result["order"]) == ("REFUNDED", 3000, 3000, 3000)
    assert await shop.stock("TEE-S") == (10, 0)
    assert await shop.reservations(order["id"]) == [("released", 2)]
    assert (await shop.event_types())[-2:] == ["payment.refunded", "order.status_changed"]


async def test_full_refund_of_a_fulfilled_order_restocks_it(shop: Shop, order: dict[str, Any]) -> None:
    payload(await pay(shop, CAPTURE, order["id"], 3000), "capturePayment")
    payload(await shop.change(order["id"], "FULFILLED"), "fulfillOrder")
    assert await shop.stock("TEE-S") == (8, 0)

    result = payload(await pay(shop, REFUND, order["id"], 3000), "refundPayment")

    assert result["order"]["status"] == "REFUNDED"
    assert await shop.stock("TEE-S") == (10, 0)


async def test_cancelled_order_takes_no_capture_but_returns_money(
    shop: Shop, order: dict[str, Any]
) -> None:
    payload(await pay(shop, CAPTURE, order["id"], 1000), "capturePayment")
    payload(await shop.change(order["id"], "CANCELLED"), "cancelOrder")

    capture = await pay(shop, CAPTURE, order["id"], 1000)
    refund = await pay(shop, REFUND, order["id"], 1000)

    assert error_codes(capture, "capturePayment") == ["CONFLICT"]
    assert sums(payload(refund, "refundPayment")["order"]) == ("CANCELLED", 1000, 1000, 3000)


async def test_concurrent_captures_never_overshoot(shop: Shop, order: dict[str, Any]) -> None:
    bodies = await asyncio.gather(*(pay(shop, CAPTURE, order["id"], 700) for _ in range(10)))

    made = [b for b in bodies if b["data"]["capturePayment"]["payment"]]
    refused = [b for b in bodies if not b["data"]["capturePayment"]["payment"]]
    assert len(made) == 4
    assert all(error_codes(b, "capturePayment") == ["BAD_USER_INPUT"] for b in refused)
    assert sums(await money(shop, order["id"])) == ("PENDING", 2800, 0, 200)
    payload(await pay(shop, CAPTURE, order["id"], 200), "capturePayment")
    assert (await money(shop, order["id"]))["status"] == "PAID"


async def test_concurrent_captures_make_the_order_paid_once(shop: Shop, order: dict[str, Any]) -> None:
    await asyncio.gather(*(pay(shop, CAPTURE, order["id"], 1000) for _ in range(6)))

    assert sums(await money(shop, order["id"])) == ("PAID", 3000, 0, 0)
    assert (await shop.event_types()).count("order.status_changed") == 1


async def test_concurrent_refunds_never_exceed_captured(shop: Shop, order: dict[str, Any]) -> None:
    payload(await pay(shop, CAPTURE, order["id"], 3000), "capturePayment")

    bodies = await asyncio.gather(*(pay(shop, REFUND, order["id"], 700) for _ in range(10)))

    assert sum(1 for b in bodies if b["data"]["refundPayment"]["payment"]) == 4
    assert sums(await money(shop, order["id"])) == ("PAID", 3000, 2800, 2800)


async def test_payment_by_id_and_list(shop: Shop, order: dict[str, Any]) -> None:
    other = await shop.place(shop.line("MUG", 1))
    captured = payload(await pay(shop, CAPTURE, order["id"], 1000), "capturePayment")["payment"]
    payload(await pay(shop, CAPTURE, other["id"], 800), "capturePayment")
    payload(await pay(shop, REFUND, order["id"], 100), "refundPayment")

    async def listed(**variables: Any) -> list[tuple[str, int]]:
        body = await shop.gql(PAYMENTS, variables)
        assert "errors" not in body, body
        return [(e["node"]["kind"], e["node"]["amount"]["amount"]) for e in body["data"]["payments"]["edges"]]

    by_id = await shop.gql(PAYMENT, {"id": captured["id"]})
    assert by_id["data"]["payment"] == {
        "id": captured["id"], "orderId": order["id"], "kind": "CAPTURE",
        "amount": {"amount": 1000, "currency": "EUR"},
    }
    assert await listed() == [("CAPTURE", 1000), ("CAPTURE", 800), ("REFUND", 100)]
    assert await listed(filter={"orderId": order["id"]}) == [("CAPTURE", 1000), ("REFUND", 100)]
    assert await listed(filter={"kind": "REFUND"}) == [("REFUND", 100)]
    assert await listed(orderBy={"direction": "DESC"}, first=2) == [("REFUND", 100), ("CAPTURE", 800)]
    page = await shop.gql(PAYMENTS, {"first": 1})
    assert await listed(after=page["data"]["payments"]["pageInfo"]["endCursor"]) == [
        ("CAPTURE", 800), ("REFUND", 100)
    ]


async def test_payment_scopes(shop: Shop, order: dict[str, Any]) -> None:
    orders_only = await shop.tenant.key_with("orders:write")
    reader = await shop.tenant.key_with("payments:read", "orders:read")

    capture = await shop.gql(CAPTURE, {"input": {
        "orderId": order["id"], "amount": {"amount": 1, "currency": "EUR"}
    }}, key=orders_only)
    read = await shop.gql(ORDER_MONEY, {"id": order["id"]}, key=orders_only)
    allowed = await shop.gql(ORDER_MONEY, {"id": order["id"]}, key=reader)

    assert codes(capture) == ["FORBIDDEN"]
    assert set(codes(read)) == {"FORBIDDEN"}
    assert "errors" not in allowed


async def test_tenant_without_payments_has_no_payment_fields(make_tenant: Any) -> None:
    shop = await open_shop(make_tenant, modules=("catalog", "customers", "inventory", "orders"))
    placed = await shop.place()

    body = await shop.gql(ORDER_MONEY, {"id": placed["id"]})

    assert set(codes(body)) == {"GRAPHQL_VALIDATION_FAILED"}
