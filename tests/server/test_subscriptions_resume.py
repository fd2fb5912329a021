"""Resuming a subscription by cursor, end to end (real `serve` processes, a worker's relay,
PostgreSQL, Redis, WebSocket clients): across a disconnect while events keep arriving, from a
cursor whose events were pruned (CURSOR_EXPIRED), and after falling behind (RESYNC_REQUIRED).
Whatever happens, each event arrives exactly once and in order, or the client is told."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket as sockets
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import asyncpg
import psutil
import pytest
from websockets.asyncio.client import connect as ws_connect
from websockets.typing import Subprotocol

from domain import events, tenancy
from tables import db
from tables import events as outbox
from tests import live
from tests import shop as shops
from tests.documents import META
from workers import maintenance

MODULES = tuple(tenancy.MODULES)
BUFFER = 8
"""SUBSCRIPTION_BUFFER of the API process that the slow-consumer test uses."""

EVENTS = """
subscription Events($after: String) { events(after: $after) { cursor seq type } }
"""
EVENTS_WITH_PAYLOAD = """
subscription Events($after: String) { events(after: $after) { cursor seq type payload } }
"""
LIVE_WITH_PAYLOAD = "subscription { events { cursor seq type payload } }"
READERS = 8
"""Clients of one shared stream in the back-pressure test."""
ADJUST_STOCK = """
mutation Adjust($input: AdjustStockInput!) { adjustStock(input: $input) { errors { code } } }
"""


@pytest.fixture(scope="module")
async def stack(server_env: dict[str, str], tmp_path_factory: Any) -> AsyncIterator[live.Stack]:
    async with live.stack(server_env, tmp_path_factory.mktemp("resume")) as made:
        yield made


@pytest.fixture(scope="module")
async def small_buffer(stack: live.Stack) -> live.Api:
    """An API process whose subscribers may have only BUFFER events waiting."""
    return await stack.start_api(SUBSCRIPTION_BUFFER=str(BUFFER))


@pytest.fixture
async def shop(make_tenant: Any) -> shops.Shop:
    return await shops.open_shop(make_tenant, modules=MODULES)


@contextlib.asynccontextmanager
async def subscribed(api: live.Api, shop: shops.Shop, after: int | str) -> AsyncIterator[live.Socket]:
    """A socket with operation "0": the shop's events after `after`."""
    async with live.connect(api, tenant=shop.tenant.slug, key=shop.tenant.key) as socket:
        await socket.subscribe("0", EVENTS, {"after": str(after)})
        yield socket


async def next_events(socket: live.Socket, count: int, timeout: float = 20) -> list[dict[str, Any]]:
    results = await socket.results("0", count, timeout)
    assert all("errors" not in result for result in results), results
    return [result["data"]["events"] for result in results]


def seqs(found: list[dict[str, Any]]) -> list[int]:
    return [int(event["cursor"]) for event in found]


async def adjust(api: live.Api, shop: shops.Shop, delta: int = 1) -> None:
    body = await api.gql(ADJUST_STOCK, shop.tenant.key, {"input": {
        "sku": "MUG", "locationId": str(shop.location_id), "delta": delta, "reason": "RECEIVED",
    }})
    assert body == {"data": {"adjustStock": {"errors": []}}}, body


async def published(shop: shops.Shop, timeout: float = 20) -> None:
    """Wait until the relay has published every event of the shop."""
    deadline = time.monotonic() + timeout
    while True:
        async with db.platform() as tx:
            waiting = await tx.connection.fetchval(
                "select count(*) from events where tenant_id = $1 and published_at is null", shop.id
            )
        if waiting == 0:
            return
        assert time.monotonic() < deadline, f"{waiting} events still unpublished"
        await asyncio.sleep(0.05)


async def test_resume_by_cursor_across_a_disconnect_delivers_every_event_once_in_order(
    stack: live.Stack, shop: shops.Shop
) -> None:
    total = 80

    async def write() -> None:
        for _ in range(total):
            await adjust(stack.api, shop)

    writer = asyncio.create_task(write())
    try:
        async with subscribed(stack.api, shop, shop.seeded_seq) as socket:
            before = await next_events(socket, 15)
        assert not writer.done(), "the writer finished before the disconnect"
        await asyncio.sleep(0.2)
        resume_at = before[-1]["cursor"]
        async with subscribed(stack.api, shop, resume_at) as socket:
            assert not writer.done(), "the writer finished before the reconnect"
            after = await next_events(socket, shop.seeded_seq + total - int(resume_at))
            await writer
            assert await socket.quiet(1.0) == []
    finally:
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await writer

    assert seqs(before + after) == list(range(shop.seeded_seq + 1, shop.seeded_seq + total + 1))
    assert {event["type"] for event in before + after} == {"inventory.adjusted"}


@dataclasses.dataclass
class Pruned:
    shop: shops.Shop
    oldest: int
    """The first event kept."""
    last: int


@pytest.fixture
async def pruned(stack: live.Stack, shop: shops.Shop) -> Pruned:
    """The shop with three events written and published, then two more: the first three
    (and the seeding) pruned, the two others kept."""
    for _ in range(3):
        await adjust(stack.api, shop)
    await published(shop)
    cutoff = datetime.now(UTC)
    await asyncio.sleep(0.01)
    for _ in range(2):
        await adjust(stack.api, shop)
    await published(shop)
    await outbox.prune(older_than=cutoff)
    first, last = await outbox.bounds(tenant_id=shop.id)
    assert (first, last) == (shop.seeded_seq + 4, shop.seeded_seq + 5)
    return Pruned(shop, first, last)


async def test_a_cursor_older_than_the_events_kept_gets_cursor_expired_with_the_oldest_cursor(
    stack: live.Stack, pruned: Pruned
) -> None:
    async with subscribed(stack.api, pruned.shop, pruned.oldest - 2) as socket:
        failed = await socket.message("0")
        ended = await socket.quiet(0.5)

    assert failed["type"] == "error", failed
    [error] = failed["payload"]
    assert error["extensions"]["code"] == "CURSOR_EXPIRED"
    assert error["extensions"]["oldestCursor"] == str(pruned.oldest)
    assert ended == []


async def test_a_cursor_at_or_after_the_oldest_kept_replays_what_follows_it(
    stack: live.Stack, pruned: Pruned
) -> None:
    async with subscribed(stack.api, pruned.shop, pruned.oldest - 1) as right_before, \
            subscribed(stack.api, pruned.shop, pruned.oldest) as at_oldest:
        from_before = await next_events(right_before, 2)
        from_oldest = await next_events(at_oldest, 1)

    assert seqs(from_before) == [pruned.oldest, pruned.last]
    assert seqs(from_oldest) == [pruned.last]


async def age(owner_dsn: str, shop: shops.Shop, seqs: range, days: int) -> None:
    """Make the shop's events `seqs` look created `days` days ago."""
    connection = await asyncpg.connect(owner_dsn)
    try:
        await connection.execute(
            "update events set created_at = now() - make_interval(days => $3)"
            " where tenant_id = $1 and seq = any($2::bigint[])",
            shop.id, list(seqs), days,
        )
    finally:
        await connection.close()


async def test_the_retention_job_prunes_only_a_prefix_so_kept_cursors_replay_without_a_gap(
    stack: live.Stack, shop: shops.Shop, owner_dsn: str
) -> None:
    for _ in range(3):
        await adjust(stack.api, shop)
    await published(shop)
    first = shop.seeded_seq + 1
    await age(owner_dsn, shop, range(1, first), days=30)
    await age(owner_dsn, shop, range(first + 1, first + 2), days=30)

    pruned = await maintenance.prune_events({"event_retention_days": 7})

    assert pruned >= shop.seeded_seq
    assert await outbox.bounds(tenant_id=shop.id) == (first, first + 2)
    async with subscribed(stack.api, shop, first - 1) as socket:
        replayed = await next_events(socket, 3)
    assert seqs(replayed) == [first, first + 1, first + 2]


async def test_a_cursor_ahead_of_the_tenants_events_is_refused(
    stack: live.Stack, shop: shops.Shop
) -> None:
    async with subscribed(stack.api, shop, shop.seeded_seq + 1000) as socket:
        failed = await socket.message("0")

    assert failed["type"] == "error", failed
    [error] = failed["payload"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT", failed


@contextlib.asynccontextmanager
async def slow_socket(api: live.Api, shop: shops.Shop) -> AsyncIterator[live.Socket]:
    """A socket whose receive buffers are tiny (kernel and client library), so that a client
    that stops reading soon stops the server's sends."""
    raw = sockets.socket()
    raw.setsockopt(sockets.SOL_SOCKET, sockets.SO_RCVBUF, 4096)
    raw.connect(("127.0.0.1", api.port))
    raw.setblocking(False)
    async with ws_connect(
        api.ws_url(shop.tenant.slug), sock=raw, subprotocols=[Subprotocol(live.PROTOCOL)],
        compression=None, proxy=None, ping_interval=None, max_queue=1, max_size=None,
    ) as connection:
        socket = live.Socket(connection)
        await socket.acknowledged(shop.tenant.key)
        yield socket


async def append_big_events(shop: shops.Shop, count: int, size: int) -> int:
    """`count` events of about `size` bytes each, one transaction each; the last's sequence."""
    blob = "x" * size
    for _ in range(count):
        draft = events.draft("product.updated", uuid4(), {"blob": blob})
        await outbox.append([draft], tenant_id=shop.id, meta=META)
    _, last = await outbox.bounds(tenant_id=shop.id)
    return last


async def test_a_consumer_that_falls_behind_gets_resync_required_and_resumes_from_its_cursor(
    small_buffer: live.Api, shop: shops.Shop
) -> None:
    async with slow_socket(small_buffer, shop) as socket:
        await socket.subscribe("0", EVENTS_WITH_PAYLOAD, {"after": str(shop.seeded_seq)})
        await adjust(small_buffer, shop)
        [first] = await next_events(socket, 1)
        last = await append_big_events(shop, 300, 32_000)
        await published(shop)
        await asyncio.sleep(0.5)
        delivered: list[dict[str, Any]] = []
        while (message := await socket.message("0"))["type"] == "next":
            delivered.append(message["payload"]["data"]["events"])
        after_error = await socket.quiet(0.5)

    assert message["type"] == "error", message
    [error] = message["payload"]
    assert error["extensions"]["code"] == "RESYNC_REQUIRED"
    resume_at = int(error["extensions"]["cursor"])
    assert seqs([first, *delivered]) == list(range(shop.seeded_seq + 1, resume_at + 1))
    assert resume_at < last
    assert after_error == []

    async with subscribed(small_buffer, shop, resume_at) as socket:
        rest = await next_events(socket, last - resume_at)
        assert await socket.quiet(0.5) == []
    assert seqs(rest) == list(range(resume_at + 1, last + 1))


def rss_mb(api: live.Api) -> float:
    return float(psutil.Process(api.process.pid).memory_info().rss) / 2**20


async def test_shared_stream_readers_that_stop_get_resync_required_and_server_memory_stays_flat(
    small_buffer: live.Api, shop: shops.Shop
) -> None:
    """Real back-pressure: READERS clients of one shared stream stop reading while 30 MB of
    events pile up. The kernels hold what they hold and uvicorn's writes wait below its
    high-water mark; in the server each client's backlog holds at most BUFFER references to the
    group's payloads. Each then gets RESYNC_REQUIRED with the cursor of the last event sent."""
    count, size = 150, 200_000
    async with contextlib.AsyncExitStack() as held:
        sockets = [await held.enter_async_context(slow_socket(small_buffer, shop)) for _ in range(READERS)]
        for socket in sockets:
            await socket.subscribe("0", LIVE_WITH_PAYLOAD)
        await asyncio.sleep(0.3)
        await adjust(small_buffer, shop)
        firsts = [(await next_events(socket, 1))[0] for socket in sockets]
        before = rss_mb(small_buffer)
        peak = before
        flooding = asyncio.create_task(append_big_events(shop, count, size))
        while not flooding.done():
            peak = max(peak, rss_mb(small_buffer))
            await asyncio.sleep(0.02)
        last = await flooding
        await published(shop)
        for _ in range(50):
            peak = max(peak, rss_mb(small_buffer))
            await asyncio.sleep(0.02)
        ends = [await read_until_error(socket) for socket in sockets]

    for first, (delivered, message, after_error) in zip(firsts, ends, strict=True):
        assert message["type"] == "error", message
        [error] = message["payload"]
        assert error["extensions"]["code"] == "RESYNC_REQUIRED"
        resume_at = int(error["extensions"]["cursor"])
        assert seqs([first, *delivered]) == list(range(int(first["cursor"]), resume_at + 1))
        assert resume_at < last
        assert after_error == []
    # Per reader: uvicorn's buffer (up to its high-water mark, then one more message) and the
    # message being written; the group's payloads once. Measured: 6-6.5 MB; 14-16.5 MB when
    # each reader's backlog held its own copy of every payload.
    bound = (READERS * 2 + BUFFER) * size / 2**20 + 4
    assert peak - before < bound, f"the server grew {peak - before:.1f} MB (bound {bound:.1f} MB)"


async def read_until_error(
    socket: live.Socket,
) -> tuple[list[dict[str, Any]], live.Message, list[live.Message]]:
    """The events a reader gets once it reads again, the message that ended them, and what
    followed that."""
    delivered: list[dict[str, Any]] = []
    while (message := await socket.message("0"))["type"] == "next":
        delivered.append(message["payload"]["data"]["events"])
    return delivered, message, await socket.quiet(0.3)
