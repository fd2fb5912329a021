"""Limits on live connections against a real `serve` process: connection_init past a credential's
rate is closed with 4429; a subscribe past its rate gets an error and the connection stays; live
subscriptions (SSE streams too) past a tenant's cap are refused across connections, and every
way one ends gives its slot back; one tenant's limits never touch another's. And, without a
process, what the limits do when Redis cannot be asked."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
import redis.asyncio as aioredis

from domain import tenancy
from domain.config import Settings
from domain.errors import ServiceUnavailable
from server import auth
from server.buckets import Buckets
from server.embedded import free_port
from server.live_limits import LiveLimits
from server.refusals import TooManySubscriptions
from tests import live
from tests.conftest import TenantHandle

INIT_BURST = 2
SUBSCRIBE_BURST = 3
PER_TENANT = 2
TOKEN = "metrics-token-of-the-live-limits"
TENANT = "query { tenant { slug } }"
EVENTS = "subscription { events { cursor type } }"
EVENTS_AFTER = "subscription Resume($after: String) { events(after: $after) { cursor type } }"


@pytest.fixture(scope="module")
async def stack(server_env: dict[str, str], tmp_path_factory: Any) -> AsyncIterator[live.Stack]:
    env = {"WS_INIT_BURST": str(INIT_BURST), "WS_INIT_RATE": "0.001",
           "SUBSCRIBE_BURST": str(SUBSCRIBE_BURST), "SUBSCRIBE_RATE": "0.001",
           "LIVE_SUBSCRIPTIONS_PER_TENANT": str(PER_TENANT), "METRICS_TOKEN": TOKEN}
    async with live.stack(server_env, tmp_path_factory.mktemp("live-limits"), workers=0, env=env) as made:
        yield made


def error_of(message: dict[str, Any]) -> dict[str, Any]:
    assert message["type"] == "error", message
    extensions: dict[str, Any] = message["payload"][0]["extensions"]
    return extensions


async def served(socket: live.Socket, op_id: str) -> None:
    """Run a query on `socket` and wait for its answer: whatever was sent before it has been
    handled by then (a connection's messages are handled in order)."""
    await socket.subscribe(op_id, TENANT)
    assert (await socket.message(op_id))["type"] == "next"


async def refusal(socket: live.Socket, op_id: str, query: str = EVENTS) -> dict[str, Any]:
    await socket.subscribe(op_id, query)
    return error_of(await socket.message(op_id))


async def accepted(socket: live.Socket, op_id: str, probe: str) -> None:
    """Subscribe `op_id` to events and make sure no error came for it."""
    await socket.subscribe(op_id, EVENTS)
    await served(socket, probe)
    assert not [m for m in await socket.quiet(0.2) if m.get("id") == op_id and m["type"] == "error"]


async def admitted(stack: live.Stack, tenant: TenantHandle, count: int) -> bool:
    """Whether `count` new subscriptions of the tenant are all admitted now, each on a
    connection of a new key."""
    async with contextlib.AsyncExitStack() as sockets:
        for _ in range(count):
            key = await tenant.key_with("admin")
            socket = await sockets.enter_async_context(live.connect(stack.api, tenant=tenant.slug, key=key))
            await socket.subscribe("1", EVENTS)
            await served(socket, "q")
            if [m for m in await socket.quiet(0.1) if m.get("id") == "1" and m["type"] == "error"]:
                return False
    return True


async def eventually_admitted(stack: live.Stack, tenant: TenantHandle, count: int) -> None:
    """The server gives back the slots of connections and streams that ended (it notices
    their clients went away soon after they did)."""
    for _ in range(50):
        if await admitted(stack, tenant, count):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{count} subscriptions never fitted again: slots were not given back")


@contextlib.asynccontextmanager
async def stream(api: live.Api, key: str) -> AsyncIterator[httpx.Response]:
    async with httpx.AsyncClient(base_url=api.url, timeout=10) as http:
        async with http.stream("POST", "/graphql/stream", json={"query": EVENTS},
                               headers={"authorization": f"Bearer {key}"}) as response:
            yield response


async def scrape(api: live.Api) -> str:
    async with httpx.AsyncClient(base_url=api.url, timeout=10) as http:
        response = await http.get("/metrics", headers={"authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.text
    return response.text


async def test_connection_inits_past_a_credentials_rate_are_closed_with_4429_and_no_other_credential_is(
    stack: live.Stack, tenant_a: TenantHandle, tenant_b: TenantHandle
) -> None:
    key = await tenant_a.key_with("admin")
    for _ in range(INIT_BURST):
        async with live.connect(stack.api, tenant=tenant_a.slug, key=key):
            pass

    async with live.connect(stack.api, tenant=tenant_a.slug) as socket:
        await socket.init(key)
        code, reason = await socket.closed()

    assert code == 4429, reason
    assert reason is not None and "connection_init" in reason and "retry in" in reason
    async with live.connect(stack.api, tenant=tenant_a.slug, key=await tenant_a.key_with("admin")):
        pass  # another key of the same tenant
    async with live.connect(stack.api, tenant=tenant_b.slug, key=tenant_b.key):
        pass  # another tenant
    assert 'rate_limited_total{limit="ws_init"' in await scrape(stack.api)


async def test_a_subscribe_past_a_credentials_rate_gets_an_error_and_the_connection_stays(
    stack: live.Stack, tenant_a: TenantHandle, tenant_b: TenantHandle
) -> None:
    key = await tenant_a.key_with("admin")
    async with live.connect(stack.api, tenant=tenant_a.slug, key=key) as socket:
        for number in range(SUBSCRIBE_BURST):
            await served(socket, str(number))
        refused = await refusal(socket, "over", TENANT)
        await socket.send({"type": "ping"})
        pong = await socket.take(lambda message: message["type"] == "pong")

    assert refused["code"] == "RATE_LIMITED"
    assert refused["limit"] == "subscribe" and refused["retryAfter"] >= 1
    assert pong == {"type": "pong"}
    async with live.connect(stack.api, tenant=tenant_b.slug, key=tenant_b.key) as other:
        await served(other, "1")


async def test_live_subscriptions_past_a_tenants_cap_are_refused_across_connections_until_one_ends(
    stack: live.Stack, tenant_a: TenantHandle, tenant_b: TenantHandle
) -> None:
    keys = [await tenant_a.key_with("admin") for _ in range(3)]
    async with contextlib.AsyncExitStack() as sockets:
        first, second, third = [
            await sockets.enter_async_context(live.connect(stack.api, tenant=tenant_a.slug, key=key))
            for key in keys
        ]
        await accepted(first, "shared", "q1")  # a stream shared by equal subscriptions
        await second.subscribe("own", EVENTS_AFTER)  # a stream of its own
        await served(second, "q1")

        over_cap = await refusal(third, "1")
        await served(third, "q1")  # queries are not live subscriptions: the connection serves them
        async with stream(stack.api, keys[2]) as refused_stream:
            refused_body = orjson.loads(await refused_stream.aread())
        async with live.connect(stack.api, tenant=tenant_b.slug, key=tenant_b.key) as other:
            await accepted(other, "1", "q1")

        await first.complete("shared")
        await served(first, "q2")
        await accepted(third, "2", "q2")  # the completed one's slot
        again = await refusal(first, "3")

    assert over_cap["code"] == "TOO_MANY_SUBSCRIPTIONS" and over_cap["limit"] == "live_subscriptions"
    assert refused_stream.status_code == 429
    assert refused_stream.headers["retry-after"] == str(over_cap["retryAfter"])
    assert refused_body["errors"][0]["extensions"]["code"] == "TOO_MANY_SUBSCRIPTIONS"
    assert again["code"] == "TOO_MANY_SUBSCRIPTIONS"
    await eventually_admitted(stack, tenant_a, PER_TENANT)  # closed connections gave theirs back


async def test_sse_streams_hold_live_subscriptions_of_their_tenant_until_they_end(
    stack: live.Stack, tenant_a: TenantHandle
) -> None:
    keys = [await tenant_a.key_with("admin") for _ in range(3)]
    async with stream(stack.api, keys[0]) as first, stream(stack.api, keys[1]) as second:
        assert (first.status_code, second.status_code) == (200, 200)
        async with live.connect(stack.api, tenant=tenant_a.slug, key=keys[2]) as socket:
            over_cap = await refusal(socket, "1")

    assert over_cap["code"] == "TOO_MANY_SUBSCRIPTIONS"
    await eventually_admitted(stack, tenant_a, PER_TENANT)


def caller_of(tenant: TenantHandle) -> auth.Caller:
    return auth.Caller(tenant=tenant.tenant, principal=tenancy.Principal(
        subject="key:test", scopes=frozenset({"admin"}), tenant_id=tenant.id,
    ))


async def test_when_redis_cannot_be_asked_subscribes_are_admitted_and_only_counted(
    settings: Settings, tenant_a: TenantHandle
) -> None:
    gone = aioredis.from_url(f"redis://127.0.0.1:{free_port()}", socket_connect_timeout=0.2)
    limits = LiveLimits(Buckets(gone), dataclasses.replace(
        settings, subscribe_burst=1, live_subscriptions_per_tenant=2
    ))
    caller = caller_of(tenant_a)
    try:
        held = [await limits.subscribe(caller, {"query": EVENTS}) for _ in range(2)]
        queries = [await limits.subscribe(caller, {"query": TENANT}) for _ in range(3)]
        with pytest.raises(TooManySubscriptions):
            await limits.subscribe(caller, {"query": EVENTS})
    finally:
        await gone.aclose()

    assert all(slot is not None for slot in held)
    assert queries == [None, None, None]


async def test_when_the_limits_fail_closed_a_subscribe_is_service_unavailable_and_holds_nothing(
    settings: Settings, tenant_a: TenantHandle
) -> None:
    gone = aioredis.from_url(f"redis://127.0.0.1:{free_port()}", socket_connect_timeout=0.2)
    limits = LiveLimits(Buckets(gone, fail_open=False), settings)
    try:
        with pytest.raises(ServiceUnavailable, match="Redis"):
            await limits.subscribe(caller_of(tenant_a), {"query": EVENTS})
    finally:
        await gone.aclose()

    assert limits.subscriptions.count(tenant_a.id) == 0


async def test_a_slot_is_given_back_once_whatever_ends_it(
    settings: Settings, tenant_a: TenantHandle, tenant_b: TenantHandle
) -> None:
    limits = LiveLimits(None, dataclasses.replace(settings, live_subscriptions_per_tenant=1))
    slot = await limits.subscribe(caller_of(tenant_a), {"query": EVENTS})

    with pytest.raises(TooManySubscriptions):
        await limits.subscribe(caller_of(tenant_a), {"query": EVENTS})
    assert await limits.subscribe(caller_of(tenant_b), {"query": EVENTS}) is not None
    operation = object()
    limits.hold(operation, slot)
    limits.release(operation)
    limits.release(operation)
    assert limits.subscriptions.count(tenant_a.id) == 0
    task = asyncio.create_task(asyncio.sleep(0))
    limits.hold(task, await limits.subscribe(caller_of(tenant_a), {"query": EVENTS}))
    await task
    await asyncio.sleep(0)
    assert limits.subscriptions.count(tenant_a.id) == 0
