"""POST /webhooks/{flow}: a verified delivery is stored once and queued once; every other request
gets its 4xx as an RFC 7807 problem and writes nothing, neither an inbox row nor a job."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from saq import Queue

from domain import webhooks as webhook_domain
from domain.config import Settings
from tables import webhooks as webhook_tables
from tests import webhooks as hooks
from workers import deliveries
from workers.settings import queue as make_queue

PURCHASE = "purchase-flow"
WOKEN = f"{deliveries.JOB}:{PURCHASE}"
ORDER = hooks.purchase("ext-1", [("S1", 2, 500)], 1000, email="a@b.c")
BODY = hooks.encode(ORDER)
PROBLEM = "application/problem+json"


@dataclasses.dataclass(frozen=True)
class Target:
    """A tenant with a purchase-flow endpoint, and the secret of another tenant's."""

    tenant: Any
    secret: str
    other_secret: str

    @property
    def url(self) -> str:
        return hooks.url(self.tenant, PURCHASE)


@pytest.fixture
async def target(tenant_a: Any, tenant_b: Any) -> Target:
    return Target(
        tenant_a, await hooks.endpoint(tenant_a, PURCHASE), await hooks.endpoint(tenant_b, PURCHASE)
    )


@pytest.fixture
async def jobs(settings: Settings) -> AsyncIterator[Queue]:
    """The queue the in-process app enqueues on (the session's Redis)."""
    found = make_queue(settings)
    yield found
    await found.disconnect()


async def rows(tenant_id: Any) -> list[webhook_domain.Delivery]:
    return await webhook_tables.list_deliveries(tenant_id=tenant_id, limit=100)


async def assert_nothing_written(queue: Queue, tenant_id: Any) -> None:
    assert await rows(tenant_id) == []
    assert await hooks.tenant_jobs(queue, tenant_id) == []


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """An RFC 7807 body with the response's status."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert {"type", "title", "status", "detail"} <= body.keys()
    assert body["status"] == status
    assert body["title"] and body["detail"]
    return body


def flip_one_byte(body: bytes) -> bytes:
    index = body.index(b"1000")
    return body[:index] + b"2" + body[index + 1:]


Signer = Callable[[Target], tuple[bytes, dict[str, str]]]


def standard_with(**changes: str | bytes) -> Signer:
    """Correctly signed Standard Webhooks headers, then some replaced ("-" drops one)."""

    def sign(target: Target) -> tuple[bytes, dict[str, str]]:
        headers: dict[str, Any] = {**hooks.sign_standard(target.secret, BODY), **changes}
        return BODY, {name: value for name, value in headers.items() if value != "-"}

    return sign


def signed_at(secret: str, offset: int) -> dict[str, str]:
    return hooks.sign_standard(secret, BODY, timestamp=int(time.time()) + offset)


def hub_with(signature: str) -> Signer:
    return lambda target: (BODY, {"content-type": hooks.JSON, "x-hub-signature-256": signature})


UNVERIFIED: dict[str, Signer] = {
    "wrong secret": lambda t: (BODY, hooks.sign_standard(webhook_domain.new_secret(), BODY)),
    "another tenant's secret": lambda t: (BODY, hooks.sign_standard(t.other_secret, BODY)),
    "another tenant's secret (hub)": lambda t: (BODY, hooks.sign_hub(t.other_secret, BODY)),
    "one byte of the body changed": lambda t: (
        flip_one_byte(BODY), hooks.sign_standard(t.secret, BODY)
    ),
    "one byte changed (hub)": lambda t: (flip_one_byte(BODY), hooks.sign_hub(t.secret, BODY)),
    "stale timestamp (> 300 s old)": lambda t: (BODY, signed_at(t.secret, -301)),
    "future timestamp (> 300 s ahead)": lambda t: (BODY, signed_at(t.secret, 305)),
    "missing webhook-id": standard_with(**{"webhook-id": "-"}),
    "missing webhook-timestamp": standard_with(**{"webhook-timestamp": "-"}),
    "webhook-id with a NUL, signed": lambda t: (BODY, hooks.sign_standard(t.secret, BODY, msg_id="m\x00")),
    "webhook-id over 128 characters, signed": lambda t: (
        BODY, hooks.sign_standard(t.secret, BODY, msg_id="m" * 129)
    ),
    "non-numeric timestamp": standard_with(**{"webhook-timestamp": "yesterday"}),
    "non-ASCII digit timestamp": standard_with(**{"webhook-timestamp": b"\xb2"}),
    "5000-digit timestamp": standard_with(**{"webhook-timestamp": "9" * 5000}),
    "signature without v1": standard_with(**{"webhook-signature": "v2,c2lnbmF0dXJl"}),
    "signature not base64": standard_with(**{"webhook-signature": "v1,not*base64!"}),
    "empty signature": standard_with(**{"webhook-signature": ""}),
    "no signature header": standard_with(**{"webhook-signature": "-"}),
    "hub signature not sha256": hub_with("sha1=" + "ab" * 20),
    "hub signature not hex": hub_with("sha256=" + "zz" * 32),
    "hub signature without scheme": hub_with("ab" * 32),
    "hub signature too short": hub_with("sha256=abcd"),
}


@pytest.mark.parametrize("case", UNVERIFIED, ids=list(UNVERIFIED))
async def test_a_delivery_that_fails_verification_is_401_and_writes_nothing(
    case: str, target: Target, client: httpx.AsyncClient, jobs: Queue
) -> None:
    body, headers = UNVERIFIED[case](target)

    response = await client.post(target.url, content=body, headers=headers)

    assert_problem(response, 401)
    await assert_nothing_written(jobs, target.tenant.id)


async def test_a_verified_delivery_is_stored_once_and_wakes_its_tenants_flow_with_one_job(
    target: Target, client: httpx.AsyncClient, jobs: Queue
) -> None:
    headers = hooks.sign_standard(target.secret, BODY, msg_id="msg_first")

    response = await client.post(target.url, content=BODY, headers=headers)

    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted == {"id": accepted["id"], "status": "queued"}
    [stored] = await rows(target.tenant.id)
    assert (str(stored.id), stored.flow, stored.delivery_id) == (accepted["id"], PURCHASE, "msg_first")
    assert stored.payload == ORDER
    assert await hooks.tenant_jobs(jobs, target.tenant.id) == [WOKEN]
    [job] = [job async for job in jobs.iter_jobs()
             if (job.kwargs or {}).get("tenant_id") == str(target.tenant.id)]
    assert job.kwargs == {"tenant_id": str(target.tenant.id), "flow": PURCHASE}
    assert await jobs.redis.exists(deliveries.wake_key(target.tenant.id, PURCHASE))  # type: ignore[attr-defined]


async def test_a_payload_signed_by_the_standard_webhooks_reference_library_is_accepted(
    target: Target, client: httpx.AsyncClient
) -> None:
    response = await client.post(
        target.url, content=BODY, headers=hooks.sign_reference(target.secret, BODY)
    )

    assert response.status_code == 202, response.text


async def test_a_delivery_signed_with_x_hub_signature_256_is_accepted_under_its_body_hash(
    target: Target, client: httpx.AsyncClient
) -> None:
    """The delivery header is not signed (see test_webhook_replay_api)."""
    headers = hooks.sign_hub(target.secret, BODY, delivery_id="gh-72d3162e")

    response = await client.post(target.url, content=BODY, headers=headers)

    assert response.status_code == 202, response.text
    [stored] = await rows(target.tenant.id)
    assert stored.delivery_id == "sha256:" + hashlib.sha256(BODY).hexdigest()


async def test_without_a_delivery_id_the_same_hub_signed_body_is_the_same_delivery(
    target: Target, client: httpx.AsyncClient
) -> None:
    headers = hooks.sign_hub(target.secret, BODY)

    first = await client.post(target.url, content=BODY, headers=headers)
    again = await client.post(target.url, content=BODY, headers=headers)

    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json()["id"] == first.json()["id"]
    assert len(await rows(target.tenant.id)) == 1


@pytest.mark.parametrize(
    ("flow", "payload"),
    [
        ("inventory-flow", hooks.stock("adjust", [("S1", "main", 5)])),
        ("inventory-flow", hooks.stock("set", [("S1", "main", 0)])),
        ("sales-flow", hooks.sale("pos-1", "sale", "store", [("S1", 1, 500)], 500)),
        ("sales-flow", hooks.sale("pos-2", "return", "store", [("S1", 1, 500)], 500)),
    ],
    ids=["stock adjust", "stock count", "pos sale", "pos return"],
)
async def test_each_flow_accepts_its_documented_payload(
    flow: str, payload: dict[str, Any], tenant_a: Any, client: httpx.AsyncClient
) -> None:
    secret = await hooks.endpoint(tenant_a, flow)

    response = await hooks.deliver(client, tenant_a, flow, secret, payload)

    assert response.status_code == 202, response.text
    [stored] = await rows(tenant_a.id)
    assert (stored.flow, stored.payload) == (flow, payload)


async def test_the_tenant_may_be_named_by_the_x_tenant_id_header_instead_of_the_url(
    target: Target, client: httpx.AsyncClient
) -> None:
    headers = {**hooks.sign_standard(target.secret, BODY), "x-tenant-id": target.tenant.slug}

    response = await client.post(f"/webhooks/{PURCHASE}", content=BODY, headers=headers)

    assert response.status_code == 202, response.text


async def test_a_repeated_delivery_answers_200_with_the_first_id_and_writes_nothing_more(
    target: Target, client: httpx.AsyncClient, jobs: Queue
) -> None:
    headers = hooks.sign_standard(target.secret, BODY)
    first = await client.post(target.url, content=BODY, headers=headers)

    again = await client.post(target.url, content=BODY, headers=headers)

    assert (first.status_code, again.status_code) == (202, 200)
    assert again.headers["content-type"] == "application/json"
    assert again.json()["id"] == first.json()["id"]
    assert len(await rows(target.tenant.id)) == 1
    assert await hooks.tenant_jobs(jobs, target.tenant.id) == [WOKEN]


async def test_the_same_delivery_sent_three_times_concurrently_is_stored_and_queued_once(
    target: Target, client: httpx.AsyncClient, jobs: Queue
) -> None:
    headers = hooks.sign_standard(target.secret, BODY)

    responses = await asyncio.gather(
        *(client.post(target.url, content=BODY, headers=headers) for _ in range(3))
    )

    assert sorted(r.status_code for r in responses) == [200, 200, 202], [r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    [stored] = await rows(target.tenant.id)
    assert await hooks.tenant_jobs(jobs, target.tenant.id) == [WOKEN]


async def test_the_request_id_becomes_the_correlation_id_of_the_stored_delivery(
    target: Target, client: httpx.AsyncClient
) -> None:
    headers = {**hooks.sign_standard(target.secret, BODY), "x-request-id": "req-webhook-42"}

    await client.post(target.url, content=BODY, headers=headers)

    [stored] = await rows(target.tenant.id)
    assert stored.correlation_id == "req-webhook-42"


async def test_when_redis_is_down_a_verified_delivery_is_still_stored_and_acknowledged(
    target: Target, client_for: Any, settings: Settings
) -> None:
    """The inbox row is the durable record; the workers' poll applies it while Redis is down."""
    offline = client_for(dataclasses.replace(settings, redis_url="redis://127.0.0.1:1/0"))

    response = await offline.post(target.url, content=BODY, headers=hooks.sign_standard(target.secret, BODY))

    assert response.status_code == 202, response.text
    [stored] = await rows(target.tenant.id)
    assert stored.status is webhook_domain.DeliveryStatus.QUEUED


async def test_a_non_utf8_body_signed_correctly_is_422_and_writes_nothing(
    target: Target, client: httpx.AsyncClient, jobs: Queue
) -> None:
    body = b'{"version":1,"order":{"id":"\xff\xfe"}}'

    response = await client.post(target.url, content=body, headers=hooks.sign_standard(target.secret, body))

    assert_problem(response, 422)
    await assert_nothing_written(jobs, target.tenant.id)


async def test_a_body_that_is_not_json_is_422_and_writes_nothing(
    target: Target, client: httpx.AsyncClient, jobs: Queue
) -> None:
    body = b'{"version": 1, "order": '

    response = await client.post(target.url, content=body, headers=hooks.sign_standard(target.secret, body))

    assert_problem(response, 422)
    await assert_nothing_written(jobs, target.tenant.id)


async def test_a_schema_violation_is_422_naming_every_wrong_field_and_writes_nothing(
    target: Target, client: httpx.AsyncClient, jobs: Queue
) -> None:
    payload = hooks.purchase("ext-1", [("S1", 0, 500), ("", 1, -1)], 1000)
    del payload["version"]

    response = await hooks.deliver(client, target.tenant, PURCHASE, target.secret, payload)

    problem = assert_problem(response, 422)
    assert problem["errors"] == {
        "version": "is required",
        "order.items[0].quantity": "must be at least 1",
        "order.items[1].sku": "must be 1-64 characters",
        "order.items[1].unitPrice": "must be at least 0",
    }
    await assert_nothing_written(jobs, target.tenant.id)


def in_currency(currency: str, items: list[hooks.PricedItem], total: int) -> dict[str, Any]:
    payload = hooks.purchase("ext-1", items, total)
    payload["order"]["currency"] = currency
    return payload


@pytest.mark.parametrize(
    ("payload", "field", "problem"),
    [
        (in_currency("XXX", [("S1", 2, 500)], 1000), "order.currency",
         "must be the ISO 4217 code of a currency, such as EUR"),
        (in_currency("EUR", [("S1", 2, 500), ("S2", 1, 300)], 1000), "order.total",
         "must equal the sum of quantity × unitPrice over the items, 1300"),
        (in_currency("EUR", [("S1", 2, 500)], -1000), "order.total", "must be at least 0"),
    ],
    ids=["not a currency", "total is not the sum of the lines", "negative total"],
)
async def test_a_purchase_that_contradicts_itself_is_422_naming_the_field_and_writes_nothing(
    payload: dict[str, Any], field: str, problem: str, target: Target, client: httpx.AsyncClient,
    jobs: Queue,
) -> None:
    response = await hooks.deliver(client, target.tenant, PURCHASE, target.secret, payload)

    assert assert_problem(response, 422)["errors"] == {field: problem}
    await assert_nothing_written(jobs, target.tenant.id)


async def test_a_nul_character_anywhere_in_the_payload_is_422_and_writes_nothing(
    target: Target, client: httpx.AsyncClient, jobs: Queue
) -> None:
    """PostgreSQL cannot store U+0000 in jsonb: it is refused up front, never a 500."""
    payload = {**ORDER, "note": {"text": "a\u0000b"}}

    response = await hooks.deliver(client, target.tenant, PURCHASE, target.secret, payload)

    problem = assert_problem(response, 422)
    assert problem["errors"] == {"note.text": "must not contain U+0000"}
    await assert_nothing_written(jobs, target.tenant.id)


@pytest.fixture
async def small(client_for: Any, settings: Settings) -> httpx.AsyncClient:
    """The app with webhook bodies capped at 1 KiB."""
    limited: httpx.AsyncClient = client_for(dataclasses.replace(settings, webhook_max_body_bytes=1024))
    return limited


def padded(size: int) -> bytes:
    """A valid purchase of exactly `size` bytes (JSON allows trailing whitespace)."""
    return BODY + b" " * (size - len(BODY))


async def test_a_body_over_the_declared_limit_is_413_and_writes_nothing(
    target: Target, small: httpx.AsyncClient, jobs: Queue
) -> None:
    body = padded(1025)

    response = await small.post(target.url, content=body, headers=hooks.sign_standard(target.secret, body))

    assert_problem(response, 413)
    await assert_nothing_written(jobs, target.tenant.id)


async def test_a_streamed_body_without_content_length_is_cut_at_the_limit_with_413(
    target: Target, small: httpx.AsyncClient, jobs: Queue
) -> None:
    body = padded(4096)

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 512):
            yield body[start:start + 512]

    headers = hooks.sign_standard(target.secret, body)
    response = await small.post(target.url, content=chunks(), headers=headers)

    assert "content-length" not in response.request.headers
    assert_problem(response, 413)
    await assert_nothing_written(jobs, target.tenant.id)


async def test_a_streamed_body_of_exactly_the_limit_is_accepted(
    target: Target, small: httpx.AsyncClient
) -> None:
    body = padded(1024)

    async def chunks() -> AsyncIterator[bytes]:
        yield body[:600]
        yield body[600:]

    headers = hooks.sign_standard(target.secret, body)
    response = await small.post(target.url, content=chunks(), headers=headers)

    assert response.status_code == 202, response.text


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
async def test_a_body_that_is_not_declared_json_is_415_and_writes_nothing(
    content_type: str | None, target: Target, client: httpx.AsyncClient, jobs: Queue
) -> None:
    headers = hooks.sign_standard(target.secret, BODY)
    del headers["content-type"]
    if content_type is not None:
        headers["content-type"] = content_type

    response = await client.post(target.url, content=BODY, headers=headers)

    assert_problem(response, 415)
    await assert_nothing_written(jobs, target.tenant.id)


async def test_json_with_a_charset_parameter_is_json(target: Target, client: httpx.AsyncClient) -> None:
    headers = {**hooks.sign_standard(target.secret, BODY), "content-type": "application/json; charset=utf-8"}

    response = await client.post(target.url, content=BODY, headers=headers)

    assert response.status_code == 202, response.text


async def test_an_unknown_flow_is_404_and_writes_nothing(
    target: Target, client: httpx.AsyncClient, jobs: Queue
) -> None:
    response = await client.post(
        f"/webhooks/refund-flow?tenant={target.tenant.slug}", content=BODY,
        headers=hooks.sign_standard(target.secret, BODY),
    )

    assert_problem(response, 404)
    await assert_nothing_written(jobs, target.tenant.id)


@pytest.mark.parametrize(
    "address",
    [
        "/webhooks/purchase-flow?tenant=no-such-tenant",
        "/webhooks/purchase-flow",
        "/webhooks/purchase-flow?tenant=",
        "/webhooks/purchase-flow?tenant=%00",
        "/webhooks/purchase-flow?tenant=" + "t" * 2000,
        "/webhooks/inventory-flow?tenant={slug}",
    ],
    ids=["unknown tenant", "no tenant named", "empty tenant", "NUL tenant", "2000-character tenant",
         "no endpoint for the flow"],
)
async def test_a_delivery_that_addresses_no_endpoint_is_404_and_writes_nothing(
    address: str, target: Target, client: httpx.AsyncClient, jobs: Queue
) -> None:
    response = await client.post(
        address.format(slug=target.tenant.slug), content=BODY,
        headers=hooks.sign_standard(target.secret, BODY),
    )

    assert_problem(response, 404)
    await assert_nothing_written(jobs, target.tenant.id)


async def test_a_disabled_endpoint_is_404_and_writes_nothing(
    target: Target, client: httpx.AsyncClient, jobs: Queue
) -> None:
    await webhook_tables.set_endpoint(PURCHASE, tenant_id=target.tenant.id, enabled=False)

    response = await client.post(target.url, content=BODY, headers=hooks.sign_standard(target.secret, BODY))

    assert_problem(response, 404)
    await assert_nothing_written(jobs, target.tenant.id)


async def test_a_delivery_for_one_tenant_is_stored_for_that_tenant_only(
    target: Target, tenant_b: Any, client: httpx.AsyncClient
) -> None:
    await client.post(target.url, content=BODY, headers=hooks.sign_standard(target.secret, BODY))

    assert len(await rows(target.tenant.id)) == 1
    assert await rows(tenant_b.id) == []


@pytest.fixture
async def meta(tenant_a: Any) -> Any:
    """A tenant whose purchase-flow endpoint answers the Meta handshake."""
    await hooks.endpoint(tenant_a, PURCHASE, verify_token="meta-token")
    return tenant_a


def handshake(tenant: Any, **params: str) -> str:
    query = "&".join(f"{name}={value}" for name, value in params.items())
    return f"{hooks.url(tenant, PURCHASE)}&{query}"


async def test_the_meta_handshake_echoes_the_challenge_when_the_verify_token_matches(
    meta: Any, client: httpx.AsyncClient
) -> None:
    response = await client.get(
        handshake(meta, **{"hub.mode": "subscribe", "hub.verify_token": "meta-token",
                           "hub.challenge": "1158201444"})
    )

    assert response.status_code == 200
    assert response.text == "1158201444"
    assert response.headers["content-type"].startswith("text/plain")


@pytest.mark.parametrize(
    "params",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "wrong-token", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": "meta-token", "hub.challenge": "1"},
        {"hub.challenge": "1"},
    ],
    ids=["wrong token", "wrong mode", "no token"],
)
async def test_the_meta_handshake_is_403_unless_mode_and_token_match(
    params: dict[str, str], meta: Any, client: httpx.AsyncClient
) -> None:
    response = await client.get(handshake(meta, **params))

    assert_problem(response, 403)


async def test_the_meta_handshake_is_403_for_an_endpoint_without_a_verify_token(
    target: Target, client: httpx.AsyncClient
) -> None:
    response = await client.get(
        handshake(target.tenant, **{"hub.mode": "subscribe", "hub.verify_token": "", "hub.challenge": "1"})
    )

    assert_problem(response, 403)


async def test_the_meta_handshake_of_an_unknown_tenant_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/webhooks/purchase-flow?tenant=no-such-tenant&hub.mode=subscribe&hub.verify_token=x"
    )

    assert_problem(response, 404)


async def test_a_payload_nested_a_thousand_levels_deep_is_422_and_writes_nothing(
    target: Target, client: httpx.AsyncClient, jobs: Queue
) -> None:
    body = BODY[:-1] + b',"extra":' + b"[" * 1000 + b"]" * 1000 + b"}"

    response = await client.post(target.url, content=body, headers=hooks.sign_standard(target.secret, body))

    problem = assert_problem(response, 422)
    assert list(problem["errors"].values()) == ["nests deeper than 32 levels"]
    await assert_nothing_written(jobs, target.tenant.id)


async def test_the_meta_handshake_of_an_unknown_flow_is_404(meta: Any, client: httpx.AsyncClient) -> None:
    response = await client.get(
        f"/webhooks/refund-flow?tenant={meta.slug}&hub.mode=subscribe&hub.verify_token=meta-token"
    )

    assert_problem(response, 404)
