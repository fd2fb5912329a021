"""Idempotency-Key on mutations over HTTP: the first answer replayed and the change made once,
other requests under a used key refused, queries ignoring it, bad keys refused, expired keys
free again, and keys never shared across tenants or credentials."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx
import pytest

from tables import idempotency
from tests.shop import CREATE_ORDER, ORDERS, Shop, open_shop, payment_document

CAPTURE = payment_document("capturePayment")
REFUND = payment_document("refundPayment")


def order_input(shop: Shop, quantity: int = 1) -> dict[str, Any]:
    return {"input": {"customerId": str(shop.customer_id), "lines": [shop.line("TEE-S", quantity)]}}


async def send(
    shop: Shop, key: str | bytes | None, query: str = CREATE_ORDER,
    variables: dict[str, Any] | None = None, *, api_key: str | None = None,
) -> httpx.Response:
    headers = {} if key is None else {"idempotency-key": key}
    return await shop.tenant.post(  # type: ignore[no-any-return]
        query, order_input(shop) if variables is None else variables, key=api_key, headers=headers
    )


async def order_count(shop: Shop) -> int:
    body = await shop.gql(ORDERS, {"first": 50})
    return len(body["data"]["orders"]["edges"])


def code(response: httpx.Response) -> str:
    return str(response.json()["errors"][0]["extensions"]["code"])


async def records(owner: asyncpg.Connection, shop: Shop) -> int:
    count: int = await owner.fetchval(
        "select count(*) from idempotency_keys where tenant_id = $1", shop.id
    )
    return count


async def test_the_same_request_again_replays_the_first_answer_and_changes_nothing(
    shop: Shop,
) -> None:
    first = await send(shop, "order-1")
    again = await send(shop, "order-1")

    assert first.status_code == 200, first.text
    assert "idempotency-replayed" not in first.headers
    assert first.json()["data"]["createOrder"]["order"]["number"] == 1
    assert again.status_code == 200
    assert again.headers["idempotency-replayed"] == "true"
    assert again.headers["content-type"] == "application/graphql-response+json; charset=utf-8"
    assert again.content == first.content
    assert await order_count(shop) == 1
    assert await shop.stock("TEE-S") == (10, 1)
    assert await shop.event_types() == ["inventory.reserved", "order.created"]


async def test_a_replay_keeps_the_first_answers_errors(shop: Shop) -> None:
    too_many = order_input(shop, 50)

    first = await send(shop, "short", variables=too_many)
    again = await send(shop, "short", variables=too_many)

    assert first.status_code == 200
    assert first.json()["data"]["createOrder"]["errors"], first.text
    assert again.headers["idempotency-replayed"] == "true"
    assert again.content == first.content


async def test_the_key_with_other_variables_is_refused(shop: Shop) -> None:
    await send(shop, "order-2")

    other = await send(shop, "order-2", variables=order_input(shop, 2))

    assert other.status_code == 422
    assert code(other) == "IDEMPOTENCY_KEY_REUSED"
    assert "another operation or other variables" in other.json()["errors"][0]["message"]
    assert await order_count(shop) == 1
    assert await shop.stock("TEE-S") == (10, 1)


async def test_the_key_with_another_document_or_price_list_is_refused(shop: Shop) -> None:
    order = (await send(shop, "order-3")).json()["data"]["createOrder"]["order"]
    capture = {"input": {"orderId": order["id"], "amount": {"amount": 100, "currency": "EUR"}}}

    other_document = await send(shop, "order-3", CAPTURE, capture)
    other_price_list = await shop.tenant.post(
        CREATE_ORDER, order_input(shop),
        headers={"idempotency-key": "order-3", "x-price-list": "wholesale"},
    )

    assert code(other_document) == "IDEMPOTENCY_KEY_REUSED"
    assert code(other_price_list) == "IDEMPOTENCY_KEY_REUSED"
    assert await order_count(shop) == 1


async def test_a_capture_and_a_refund_sent_twice_are_made_once(shop: Shop) -> None:
    order = (await send(shop, None)).json()["data"]["createOrder"]["order"]
    money = {"input": {
        "orderId": order["id"], "amount": {"amount": 1500, "currency": "EUR"}, "reference": "psp-1",
    }}

    captures = [await send(shop, "capture-1", CAPTURE, money) for _ in range(2)]
    refunds = [await send(shop, "refund-1", REFUND, money) for _ in range(2)]

    assert captures[1].content == captures[0].content
    assert refunds[1].content == refunds[0].content
    paid = captures[0].json()["data"]["capturePayment"]
    assert paid["order"]["capturedAmount"]["amount"] == 1500
    assert refunds[0].json()["data"]["refundPayment"]["order"]["refundedAmount"]["amount"] == 1500
    events = await shop.event_types()
    assert events.count("payment.captured") == 1
    assert events.count("payment.refunded") == 1


async def test_a_query_with_the_header_runs_as_usual_and_keeps_nothing(
    shop: Shop, owner: asyncpg.Connection
) -> None:
    await send(shop, None)

    first = await send(shop, "a-query", ORDERS, {"first": 5})
    await send(shop, None)
    second = await send(shop, "a-query", ORDERS, {"first": 5})

    assert first.status_code == second.status_code == 200
    assert "idempotency-replayed" not in second.headers
    assert len(first.json()["data"]["orders"]["edges"]) == 1
    assert len(second.json()["data"]["orders"]["edges"]) == 2
    assert await records(owner, shop) == 0


@pytest.mark.parametrize(
    ("key", "why"),
    [("", "empty"), ("   ", "empty"), ("k" * 256, "longer than 255"), ("caf\xe9", "printable ASCII"),
     ("a\tb", "printable ASCII")],
)
async def test_a_malformed_key_is_refused_before_anything_runs(
    shop: Shop, owner: asyncpg.Connection, key: str, why: str
) -> None:
    response = await send(shop, key.encode("latin-1"))

    assert response.status_code == 400
    assert code(response) == "IDEMPOTENCY_KEY_INVALID"
    assert why in response.json()["errors"][0]["message"]
    assert await order_count(shop) == 0
    assert await records(owner, shop) == 0


async def test_a_key_of_255_printable_characters_is_accepted(shop: Shop) -> None:
    key = ("x ~!" * 64)[:255]

    assert (await send(shop, key)).status_code == 200
    assert (await send(shop, key)).headers["idempotency-replayed"] == "true"


async def test_an_expired_key_may_be_used_again(shop: Shop, owner: asyncpg.Connection) -> None:
    await send(shop, "old")
    await owner.execute(
        "update idempotency_keys set created_at = now() - interval '25 hours' where tenant_id = $1",
        shop.id,
    )

    again = await send(shop, "old", variables=order_input(shop, 2))

    assert again.status_code == 200, again.text
    assert "idempotency-replayed" not in again.headers
    assert again.json()["data"]["createOrder"]["order"]["number"] == 2
    assert await order_count(shop) == 2


async def test_another_credential_of_the_tenant_has_keys_of_its_own(shop: Shop) -> None:
    other_key = await shop.tenant.key_with("admin")

    mine = await send(shop, "shared")
    theirs = await send(shop, "shared", api_key=other_key)
    theirs_again = await send(shop, "shared", api_key=other_key)

    assert "idempotency-replayed" not in theirs.headers
    assert theirs.json()["data"]["createOrder"]["order"]["number"] == 2
    assert mine.json()["data"]["createOrder"]["order"]["number"] == 1
    assert theirs_again.content == theirs.content
    assert await order_count(shop) == 2


async def test_another_tenant_sending_the_same_request_never_gets_a_tenants_answer(
    shop: Shop, make_tenant: Any, owner: asyncpg.Connection
) -> None:
    other = await open_shop(make_tenant)
    mine = await send(shop, "shared")

    theirs = await send(other, "shared", variables=order_input(shop))
    theirs_own = await send(other, "shared-2", variables={"input": {
        "customerId": str(other.customer_id), "lines": [other.line("TEE-S")],
    }})

    assert theirs.status_code == 200
    assert "idempotency-replayed" not in theirs.headers
    assert theirs.json()["data"]["createOrder"]["order"] is None
    assert mine.json()["data"]["createOrder"]["order"]["id"] not in theirs.text
    assert theirs_own.json()["data"]["createOrder"]["order"]["number"] == 1
    assert await order_count(shop) == 1
    assert await order_count(other) == 1
    assert (await records(owner, shop), await records(owner, other)) == (1, 2)


async def test_without_the_header_the_store_is_never_asked(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a request without Idempotency-Key reached the idempotency store")

    monkeypatch.setattr(idempotency, "claim", refuse)

    response = await send(shop, None)

    assert response.status_code == 200
    assert response.json()["data"]["createOrder"]["order"]["number"] == 1
