"""The inbox sweep runs every few seconds in every worker, but one sweeps at a time: the one
holding a PostgreSQL lease (an advisory lock); another takes over when that one goes."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
import redis.asyncio as aioredis
from saq import Queue
from saq.queue.redis import RedisQueue

from domain.config import Settings
from tables import engine, leases
from tests import live
from tests import webhooks as hooks
from tests.conftest import TenantHandle
from workers import deliveries

EVERY = 0.1


class CountingQueue(RedisQueue):
    """A real queue that counts what it was asked to enqueue."""

    enqueued = 0

    async def enqueue(self, *args: Any, **kwargs: Any) -> Any:
        self.enqueued += 1
        return await super().enqueue(*args, **kwargs)


@pytest.fixture
async def stale(settings: Settings, tenant_a: TenantHandle) -> Any:
    """A delivery accepted long ago whose job never reached Redis."""
    stored = await hooks.store(
        tenant_id=tenant_a.id, flow="inventory-flow", delivery_id=hooks.new_msg_id(),
        payload=hooks.stock("adjust", []), correlation_id="lost",
    )
    assert settings.database_url is not None
    connection = await asyncpg.connect(settings.database_url)
    try:
        await connection.execute(
            "update webhook_inbox set updated_at = now() - interval '2 minutes' where id = $1", stored.id
        )
    finally:
        await connection.close()
    return stored.id


@pytest.fixture
async def queues(settings: Settings) -> AsyncIterator[tuple[CountingQueue, CountingQueue]]:
    url = await live.free_redis(str(settings.redis_url))
    made = (CountingQueue(aioredis.from_url(url), name="tenantgraph"),
            CountingQueue(aioredis.from_url(url), name="tenantgraph"))
    yield made
    await made[0].redis.flushdb()
    for queue in made:
        await queue.disconnect()


def lease(settings: Settings, key: int) -> leases.Lease:
    assert settings.database_url is not None
    return leases.Lease(engine.app_dsn(settings.database_url, str(settings.app_database_password)), key)


@contextlib.asynccontextmanager
async def sweeping(queue: Queue, held: leases.Lease) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(deliveries.keep_sweeping(queue, held, every=EVERY))
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def until(done: Any, timeout: float = 15.0) -> None:
    for _ in range(int(timeout / EVERY)):
        if done():
            return
        await asyncio.sleep(EVERY)
    raise AssertionError("never happened")


async def test_of_two_sweepers_one_sweeps_and_the_other_takes_over_when_it_goes(
    settings: Settings, app_pool: None, stale: Any, queues: tuple[CountingQueue, CountingQueue],
) -> None:
    key = random.randrange(1 << 40)  # this test's own lock: no other worker holds it
    first, second = queues
    async with sweeping(first, lease(settings, key)):
        await until(lambda: first.enqueued >= 1)
        async with sweeping(second, lease(settings, key)):
            await asyncio.sleep(EVERY * 10)
            assert first.enqueued >= 2, "the holder sweeps at every interval"
            assert second.enqueued == 0, "swept twice: by both workers"
    assert await first.job(deliveries.job_key(stale)) is not None

    handed_over = first.enqueued
    async with sweeping(second, lease(settings, key)):
        await until(lambda: second.enqueued >= 1)
    assert first.enqueued == handed_over


async def test_a_lease_is_held_by_one_and_freed_when_its_holder_lets_go(
    settings: Settings, app_pool: None,
) -> None:
    key = random.randrange(1 << 40)
    one, other = lease(settings, key), lease(settings, key)
    try:
        assert await one.hold() and await one.hold()
        assert not await other.hold()
        one.release()
        for _ in range(50):  # the server ends the released session a moment later
            if await other.hold():
                break
            await asyncio.sleep(0.05)
        assert await other.hold() and not await one.hold()
    finally:
        one.release()
        other.release()


def test_the_cron_sweep_is_not_registered_besides_the_sweeper_task(settings: Settings) -> None:
    from workers.settings import worker

    made = worker(settings, relay=False)
    assert [c for c in made.cron_jobs if c.function.__name__ == "sweep"] == []
