"""Stream tokens on real `serve` processes (two, sharing a deployment's secret) and a worker:
`createStreamToken` issues one, `/graphql/stream?token=` accepts it in place of the header on
either process; it expires, dies with its key (across processes, by the credential cache's
invalidation), is bound to its tenant, carries its key's scopes and no more, and never reaches
a log line."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from domain import stream_tokens
from tables import api_keys
from tests import live
from tests.conftest import TenantHandle
from tests.server.test_sse import EVENTS, SETTLE, TENANT_SLUG, Frames, create_product
from tests.shop import open_shop

KEEPALIVE = 1.0
CREATE = """mutation Create($ttl: Int) { createStreamToken(ttlSeconds: $ttl) {
  token expiresAt errors { code message } } }"""


@pytest.fixture(scope="module")
async def stack(server_env: dict[str, str], tmp_path_factory: Any) -> AsyncIterator[live.Stack]:
    env = {"WS_KEEPALIVE_SECONDS": str(KEEPALIVE), "STREAM_TOKEN_MAX_TTL_SECONDS": "900"}
    async with live.stack(server_env, tmp_path_factory.mktemp("stream-tokens"), apis=2, env=env) as made:
        yield made


async def issue(api: live.Api, key: str, ttl: int | None = None) -> dict[str, Any]:
    body = await api.gql(CREATE, key, {"ttl": ttl})
    assert "errors" not in body, body
    created: dict[str, Any] = body["data"]["createStreamToken"]
    return created


async def token_of(api: live.Api, key: str, ttl: int | None = None) -> str:
    created = await issue(api, key, ttl)
    assert created["errors"] == [], created
    return str(created["token"])


@contextlib.asynccontextmanager
async def opened(
    api: live.Api, token: str, query: str = EVENTS, headers: dict[str, str] | None = None,
    **params: str,
) -> AsyncIterator[tuple[httpx.Response, Frames]]:
    """GET /graphql/stream as an EventSource sends it: no header but Accept (and `headers`)."""
    sent = {"accept": "text/event-stream", **(headers or {})}
    async with httpx.AsyncClient(base_url=api.url, timeout=20) as http:
        async with http.stream("GET", "/graphql/stream", headers=sent,
                               params={"query": query, "token": token, **params}) as response:
            yield response, Frames(response)


async def refusal(
    api: live.Api, token: str, headers: dict[str, str] | None = None, **params: str
) -> tuple[int, str, str]:
    """(status, content type, error code) of a stream the server refuses."""
    async with opened(api, token, headers=headers, **params) as (response, _):
        body = (await response.aread()).decode()
    assert response.status_code != 200, body
    code = httpx.Response(200, content=body).json()["errors"][0]["extensions"]["code"]
    return response.status_code, response.headers["content-type"], code


async def test_a_token_from_one_process_opens_a_stream_on_the_other(
    stack: live.Stack, tenant_a: TenantHandle
) -> None:
    first, second = stack.apis
    created = await issue(first, tenant_a.key)
    async with opened(second, created["token"]) as (response, frames):
        await asyncio.sleep(SETTLE)
        await create_product(tenant_a)
        [frame] = await frames.data_frames(1)

    assert response.status_code == 200
    assert frame.json()["data"]["events"]["type"] == "product.created"
    expires = datetime.fromisoformat(created["expiresAt"])
    assert abs(expires - (datetime.now(UTC) + timedelta(minutes=5))) < timedelta(seconds=10)


async def test_a_jwt_issues_tokens_too(stack: live.Stack, tenant_a: TenantHandle) -> None:
    jwt = live.jwt_token(tenant_a.slug, scopes=["catalog:read"], seconds=60)
    token = await token_of(stack.api, jwt)
    async with opened(stack.apis[1], token) as (response, frames):
        await asyncio.sleep(SETTLE)
        await create_product(tenant_a)
        [frame] = await frames.data_frames(1)

    assert response.status_code == 200
    assert frame.json()["data"]["events"]["type"] == "product.created"


async def test_a_short_lived_token_expires(stack: live.Stack, tenant_a: TenantHandle) -> None:
    token = await token_of(stack.api, tenant_a.key, ttl=1)
    await asyncio.sleep(2.1)

    assert await refusal(stack.apis[1], token) == (401, "application/json", "STREAM_TOKEN_EXPIRED")


@pytest.mark.parametrize("ttl", [0, 901])
async def test_a_ttl_out_of_range_is_a_user_error(
    stack: live.Stack, tenant_a: TenantHandle, ttl: int
) -> None:
    created = await issue(stack.api, tenant_a.key, ttl)

    assert created["token"] is None
    assert [e["code"] for e in created["errors"]] == ["BAD_USER_INPUT"]
    assert "900" in created["errors"][0]["message"]


async def test_a_revoked_keys_token_is_refused_on_every_process(
    stack: live.Stack, tenant_a: TenantHandle
) -> None:
    key, secret = await api_keys.create(tenant_id=tenant_a.id, name="dashboard", scopes={"admin"})
    token = await token_of(stack.api, secret)
    for api in stack.apis:  # each process now remembers the key
        async with opened(api, token) as (response, _):
            assert response.status_code == 200

    async with opened(stack.apis[1], token) as (response, frames):
        await asyncio.sleep(SETTLE)
        await api_keys.revoke(key.prefix, tenant_id=tenant_a.id)
        frame = await frames.next(timeout=KEEPALIVE * 5)
        while frame.event is None:  # keep-alives until the check after the revocation
            frame = await frames.next(timeout=KEEPALIVE * 5)

    assert frame.json()["errors"][0]["extensions"]["code"] == "STREAM_TOKEN_REVOKED"
    for api in stack.apis:
        assert await refusal(api, token) == (401, "application/json", "STREAM_TOKEN_REVOKED")


async def test_another_tenants_token_is_refused_on_this_tenants_route(
    stack: live.Stack, tenant_a: TenantHandle, tenant_b: TenantHandle
) -> None:
    theirs = await token_of(stack.api, tenant_b.key)

    assert await refusal(stack.api, theirs, tenant=tenant_a.slug) == (
        403, "application/json", "STREAM_TOKEN_WRONG_TENANT")
    assert await refusal(stack.api, theirs, headers={"x-tenant-id": str(tenant_a.id)}) == (
        403, "application/json", "STREAM_TOKEN_WRONG_TENANT")


async def test_a_token_streams_its_own_tenants_events_only(
    stack: live.Stack, tenant_a: TenantHandle, tenant_b: TenantHandle
) -> None:
    theirs = await token_of(stack.api, tenant_b.key)
    query = "subscription { events { type payload } }"
    async with opened(stack.apis[1], theirs, query, tenant=tenant_b.slug) as (_, frames):
        await asyncio.sleep(SETTLE)
        await create_product(tenant_a, "Not theirs")
        await create_product(tenant_b, "Theirs")
        [frame] = await frames.data_frames(1)

    event = frame.json()["data"]["events"]
    assert event["type"] == "product.created"
    assert "Theirs" in str(event["payload"]) and "Not theirs" not in str(event["payload"])


async def test_a_token_carries_its_keys_scopes_and_no_more(
    stack: live.Stack, make_tenant: Any
) -> None:
    shop = await open_shop(make_tenant, modules=("catalog", "customers", "inventory", "orders"))
    _, catalog_only = await api_keys.create(tenant_id=shop.id, name="catalog", scopes={"catalog:read"})
    token = await token_of(stack.api, catalog_only)
    async with opened(stack.apis[1], token) as (_, frames):
        await asyncio.sleep(SETTLE)
        await shop.place()
        await create_product(shop.tenant, "After the order")
        [frame] = await frames.data_frames(1)

    assert "order.created" in await shop.event_types()
    assert frame.json()["data"]["events"]["type"] == "product.created"


@pytest.mark.parametrize("token", [
    "tgs_e30.AAAA", "not-a-token", "tg_0123456789ab_secret", "tgs_",
    stream_tokens.sign(stream_tokens.Grant(
        tenant_id=uuid.uuid4(), subject="key:0123456789ab", kind="api_key", scopes=frozenset({"admin"}),
        expires_at=datetime.now(UTC) + timedelta(hours=1)), b"a secret that is not the deployment's"),
], ids=["bad-signature", "garbage", "an-api-key", "empty", "forged"])
async def test_malformed_or_forged_tokens_answer_401_with_a_code(stack: live.Stack, token: str) -> None:
    assert await refusal(stack.api, token) == (401, "application/json", "STREAM_TOKEN_INVALID")


async def test_a_token_beside_an_authorization_header_is_refused(
    stack: live.Stack, tenant_a: TenantHandle
) -> None:
    token = await token_of(stack.api, tenant_a.key)

    status, _, code = await refusal(
        stack.api, token, headers={"authorization": f"Bearer {tenant_a.key}"}
    )
    assert (status, code) == (400, "STREAM_TOKEN_WITH_HEADER")


async def test_the_token_never_reaches_a_log_line(stack: live.Stack, tenant_a: TenantHandle) -> None:
    token = await token_of(stack.api, tenant_a.key)
    async with opened(stack.api, token) as (response, _):
        assert response.status_code == 200
    await refusal(stack.api, token + "x")
    deadline = time.monotonic() + 5
    while "stream token of key:" not in stack.api.log.read_text() and time.monotonic() < deadline:
        await asyncio.sleep(0.1)

    written = stack.log(tail=10**7)
    assert "stream token of key:" in written
    assert token.removeprefix("tgs_").split(".")[0] not in written
    assert "tgs_" not in written


async def test_a_platform_keys_token_is_bound_to_the_tenant_it_chose(
    stack: live.Stack, tenant_a: TenantHandle, tenant_b: TenantHandle, platform_key: str
) -> None:
    body = await stack.api.gql(CREATE, platform_key, {"ttl": None}, **{"x-tenant-id": tenant_a.slug})
    token = body["data"]["createStreamToken"]["token"]
    async with opened(stack.apis[1], token, TENANT_SLUG) as (response, frames):
        [frame] = await frames.data_frames(1)

    assert response.status_code == 200
    assert frame.json()["data"] == {"tenant": {"slug": tenant_a.slug}}
    assert await refusal(stack.api, token, tenant=tenant_b.slug) == (
        403, "application/json", "STREAM_TOKEN_WRONG_TENANT")
