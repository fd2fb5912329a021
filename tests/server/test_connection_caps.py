"""Caps on live connections (WebSocket and SSE, counted together) per credential and per
tenant, against a real `serve` process: over a cap, a WebSocket is closed at connection_init
with 4430 and a reason, a stream answers 429 JSON with Retry-After; a key or a tenant at its
cap never stops another; and every way a connection ends gives its slot back, which the
process's counts (in /healthz) show by returning to zero."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from tables import api_keys
from tests import live
from tests.conftest import TenantHandle

PER_CREDENTIAL = 2
PER_TENANT = 3
KEEPALIVE = 0.5
EVENTS = "subscription { events { cursor type } }"
IDLE = {"connections": 0, "tenants": 0, "credentials": 0, "listeners": 0, "sharedStreams": 0}


@pytest.fixture(scope="module")
async def stack(server_env: dict[str, str], tmp_path_factory: Any) -> AsyncIterator[live.Stack]:
    env = {"LIVE_CONNECTIONS_PER_CREDENTIAL": str(PER_CREDENTIAL),
           "LIVE_CONNECTIONS_PER_TENANT": str(PER_TENANT), "WS_KEEPALIVE_SECONDS": str(KEEPALIVE)}
    async with live.stack(server_env, tmp_path_factory.mktemp("caps"), workers=0, env=env) as made:
        yield made


async def live_counts(api: live.Api) -> dict[str, int]:
    async with httpx.AsyncClient(base_url=api.url, timeout=5) as http:
        counts: dict[str, int] = (await http.get("/healthz")).json()["live"]
    return counts


async def settled(api: live.Api, timeout: float = 5) -> dict[str, int]:
    """The process's live counts once they are back to zero (or after `timeout`)."""
    deadline = time.monotonic() + timeout
    while (counts := await live_counts(api)) != IDLE and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return counts


async def refused(api: live.Api, tenant: str, key: str) -> tuple[int | None, str | None]:
    """The close code and reason a new connection gets at connection_init."""
    async with live.connect(api, tenant=tenant) as socket:
        await socket.init(key)
        return await socket.closed()


@contextlib.asynccontextmanager
async def holding(api: live.Api, tenant: TenantHandle, *keys: str) -> AsyncIterator[list[live.Socket]]:
    """One acknowledged connection per key, each with a live subscription."""
    async with contextlib.AsyncExitStack() as held:
        sockets = [await held.enter_async_context(live.connect(api, tenant=tenant.slug, key=key))
                   for key in keys]
        for socket in sockets:
            await socket.subscribe("1", EVENTS)
        yield sockets


@contextlib.asynccontextmanager
async def stream(api: live.Api, key: str, query: str = EVENTS) -> AsyncIterator[httpx.Response]:
    async with httpx.AsyncClient(base_url=api.url, timeout=10) as http:
        async with http.stream("POST", "/graphql/stream", json={"query": query},
                               headers={"authorization": f"Bearer {key}"}) as response:
            yield response


async def test_a_key_at_its_cap_is_refused_with_4430_and_another_key_of_its_tenant_is_not(
    stack: live.Stack, tenant_a: TenantHandle
) -> None:
    other_key = await tenant_a.key_with("admin")

    async with holding(stack.api, tenant_a, *[tenant_a.key] * PER_CREDENTIAL):
        code, reason = await refused(stack.api, tenant_a.slug, tenant_a.key)
        async with live.connect(stack.api, tenant=tenant_a.slug, key=other_key) as other:
            await other.subscribe("1", "{ tenant { slug } }")
            answer = await other.message("1")

    assert (code, reason) == (4430, f"too many live connections: at most {PER_CREDENTIAL} per "
                                    "credential on this server")
    assert answer["payload"] == {"data": {"tenant": {"slug": tenant_a.slug}}}
    assert await settled(stack.api) == IDLE


async def test_a_tenant_at_its_cap_is_refused_and_another_tenant_is_not(
    stack: live.Stack, tenant_a: TenantHandle, tenant_b: TenantHandle
) -> None:
    second, third = await tenant_a.key_with("admin"), await tenant_a.key_with("catalog:read")

    async with holding(stack.api, tenant_a, tenant_a.key, tenant_a.key, second):
        code, reason = await refused(stack.api, tenant_a.slug, third)
        async with holding(stack.api, tenant_b, tenant_b.key, tenant_b.key):
            other_tenant = await live_counts(stack.api)

    assert (code, reason) == (4430, f"too many live connections: at most {PER_TENANT} per tenant "
                                    "on this server")
    assert other_tenant["connections"] == PER_TENANT + 2
    assert await settled(stack.api) == IDLE


async def test_a_stream_over_the_cap_answers_429_json_with_retry_after(
    stack: live.Stack, tenant_a: TenantHandle, tenant_b: TenantHandle
) -> None:
    async with holding(stack.api, tenant_a, *[tenant_a.key] * PER_CREDENTIAL):
        async with stream(stack.api, tenant_a.key) as response:
            assert response.status_code == 429  # (a stream that opened would never end)
            await response.aread()
        async with stream(stack.api, tenant_b.key) as other:
            other_status = other.status_code

    assert response.headers["content-type"] == "application/json"
    assert response.headers["retry-after"] == "5"
    [error] = response.json()["errors"]
    assert error["extensions"] == {"code": "TOO_MANY_CONNECTIONS", "limit": PER_CREDENTIAL,
                                   "retryAfter": 5}
    assert other_status == 200
    assert await settled(stack.api) == IDLE


async def test_streams_and_websockets_share_the_cap(stack: live.Stack, tenant_a: TenantHandle) -> None:
    async with stream(stack.api, tenant_a.key) as first, stream(stack.api, tenant_a.key) as second:
        statuses = [first.status_code, second.status_code]
        code, _ = await refused(stack.api, tenant_a.slug, tenant_a.key)

    assert statuses == [200, 200]
    assert code == 4430
    assert await settled(stack.api) == IDLE


Ending = Callable[[live.Stack, TenantHandle], Awaitable[None]]


async def client_closes(stack: live.Stack, tenant: TenantHandle) -> None:
    async with holding(stack.api, tenant, tenant.key, tenant.key):
        assert (await live_counts(stack.api))["connections"] == 2


async def server_closes_on_a_bad_message(stack: live.Stack, tenant: TenantHandle) -> None:
    async with holding(stack.api, tenant, tenant.key) as [socket]:
        await socket.send({"type": "no such type"})
        assert (await socket.closed())[0] == 4400


async def client_vanishes(stack: live.Stack, tenant: TenantHandle) -> None:
    async with holding(stack.api, tenant, tenant.key, tenant.key) as sockets:
        for socket in sockets:
            socket.connection.transport.abort()  # no close frame: the TCP connection is gone


async def credential_revoked(stack: live.Stack, tenant: TenantHandle) -> None:
    key, token = await api_keys.create(tenant_id=tenant.id, name="soon revoked", scopes={"admin"})
    async with holding(stack.api, tenant, token, token) as sockets:
        await api_keys.revoke(key.prefix, tenant_id=tenant.id)
        assert [(await socket.closed())[0] for socket in sockets] == [4403, 4403]


async def second_init(stack: live.Stack, tenant: TenantHandle) -> None:
    async with holding(stack.api, tenant, tenant.key) as [socket]:
        await socket.init(tenant.key)  # a second init: 4429
        assert (await socket.closed())[0] == 4429


async def stream_completes(stack: live.Stack, tenant: TenantHandle) -> None:
    async with stream(stack.api, tenant.key, "{ tenant { slug } }") as response:
        body = await response.aread()
    assert body.endswith(b"event: complete\ndata: \n\n")


async def stream_client_vanishes(stack: live.Stack, tenant: TenantHandle) -> None:
    async with stream(stack.api, tenant.key) as response:
        await anext(response.aiter_lines())  # the first keep-alive; then the client goes
        assert (await live_counts(stack.api))["connections"] == 1


async def stream_credential_revoked(stack: live.Stack, tenant: TenantHandle) -> None:
    key, token = await api_keys.create(tenant_id=tenant.id, name="soon revoked", scopes={"admin"})
    async with stream(stack.api, token) as response:
        lines = response.aiter_lines()
        await anext(lines)
        await api_keys.revoke(key.prefix, tenant_id=tenant.id)
        body = "\n".join([line async for line in lines])
    assert "UNAUTHENTICATED" in body and "event: complete" in body


@pytest.mark.parametrize("ending", [
    client_closes, server_closes_on_a_bad_message, client_vanishes, credential_revoked,
    second_init, stream_completes, stream_client_vanishes,
    stream_credential_revoked,
], ids=lambda ending: ending.__name__)
async def test_every_way_a_connection_ends_gives_its_slot_back(
    stack: live.Stack, tenant_a: TenantHandle, ending: Ending
) -> None:
    await ending(stack, tenant_a)

    assert await settled(stack.api) == IDLE
    async with holding(stack.api, tenant_a, *[tenant_a.key] * PER_CREDENTIAL):
        assert (await live_counts(stack.api))["connections"] == PER_CREDENTIAL
