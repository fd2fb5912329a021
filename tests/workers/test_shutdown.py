"""A worker stopped by SIGTERM (a deploy) while a delivery is in flight, on real processes.

The delivery is held deterministically: the test locks the shop's stock rows, so the batch
(of a wake-up job or of the worker's poll), having claimed its inbox row, waits to reserve
stock until the test lets go. Within the grace the batch finishes; cut off, it is rolled back:
its inbox row as it was, no attempt counted, and the next worker applies it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import pytest

from domain import webhooks
from domain.config import Settings
from tables import webhooks as webhook_tables
from tests import shop as shops
from tests import webhooks as hooks
from tests.processes import wait_exit
from tests.workers.test_deliveries import MODULES, Pipeline, pipeline_for

GRACE = 6.0
SLACK = 2.5
"""Allowed past a deadline on 2 busy cores (polling, interpreter exit)."""


@pytest.fixture
async def pipeline(
    settings: Settings, server_env: dict[str, str], app_pool: None, tmp_path: Path
) -> AsyncIterator[Pipeline]:
    async with pipeline_for(settings, server_env, tmp_path, start=False) as made:
        made.env = {**made.env, "SHUTDOWN_GRACE_SECONDS": str(GRACE)}
        yield made


@pytest.fixture
async def shop(make_tenant: Any) -> shops.Shop:
    return await shops.open_shop(make_tenant, modules=MODULES)


@dataclasses.dataclass
class Held:
    """A delivery whose job waits on the test's lock of the shop's stock rows."""

    tenant_id: UUID
    delivery_id: UUID
    lock: asyncpg.Connection
    transaction: Any

    async def release(self) -> None:
        await self.transaction.rollback()


@contextlib.asynccontextmanager
async def held_delivery(
    pipeline: Pipeline, shop: shops.Shop, settings: Settings, ref: str
) -> AsyncIterator[Held]:
    """Start a worker, lock the stock, post a purchase: its job blocks once it has claimed its row.
    (The worker starts first: SAQ's start-up sweep can take a job it is dequeueing for lost.)"""
    await until_ready(pipeline, pipeline.start_worker())
    secret = await hooks.endpoint(shop.tenant, "purchase-flow")
    assert settings.database_url is not None
    lock = await asyncpg.connect(settings.database_url)
    transaction = lock.transaction()
    await transaction.start()
    await lock.execute("select 1 from stock_levels where tenant_id = $1 for update", shop.id)
    payload = hooks.purchase(ref, [("TEE-S", 1, 1500)], 1500)
    delivery_id = await pipeline.post(shop.tenant, "purchase-flow", secret, payload)
    held = Held(shop.id, delivery_id, lock, transaction)
    try:
        await until_blocked(pipeline, held, settings)
        yield held
    finally:
        with contextlib.suppress(Exception):
            await transaction.rollback()
        await lock.close()


async def until_ready(pipeline: Pipeline, worker: Any) -> None:
    """Until the worker has registered and its start-up sweep has run."""
    deadline = time.monotonic() + 20
    while not (await pipeline.jobs.info())["workers"]:
        assert worker.poll() is None and time.monotonic() < deadline, pipeline.log()[-4000:]
        await asyncio.sleep(0.1)
    await asyncio.sleep(1)


async def until_blocked(pipeline: Pipeline, held: Held, settings: Settings) -> None:
    """Until a batch (of the wake-up job or of the poll) holds the delivery and waits on the
    test's lock."""
    assert settings.database_url is not None
    probe = await asyncpg.connect(settings.database_url)
    deadline = time.monotonic() + 20
    while True:
        waiting = await probe.fetchval(
            "select count(*) from pg_stat_activity where wait_event_type = 'Lock'"
            " and datname = current_database() and query like '%stock_levels%'"
        )
        if waiting:
            await probe.close()
            return
        assert time.monotonic() < deadline, pipeline.log()[-4000:]
        await asyncio.sleep(0.05)


async def test_a_batch_in_flight_finishes_within_the_grace_and_the_worker_exits_0(
    pipeline: Pipeline, shop: shops.Shop, settings: Settings
) -> None:
    async with held_delivery(pipeline, shop, settings, "deploy-1") as held:
        (worker,) = pipeline.workers
        worker.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        await asyncio.sleep(1.5)
        assert worker.poll() is None, "the worker left its job in flight"
        await held.release()
        code = await wait_exit(worker, GRACE + SLACK)
        took = time.monotonic() - signalled

    log = pipeline.log()
    assert code == 0, f"exit {code} after {took:.1f}s:\n{log[-4000:]}"
    assert "cut off" not in log, log[-4000:]  # the batch finished: the grace did not have to act
    delivery = await webhook_tables.get_delivery(held.delivery_id, tenant_id=held.tenant_id)
    assert (delivery.status, delivery.attempts) == (webhooks.DeliveryStatus.PROCESSED, 1)


async def test_a_batch_cut_off_by_the_grace_is_rolled_back_without_an_attempt_and_applied_next(
    pipeline: Pipeline, shop: shops.Shop, settings: Settings
) -> None:
    async with held_delivery(pipeline, shop, settings, "deploy-2") as held:
        (worker,) = pipeline.workers
        worker.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        code = await wait_exit(worker, GRACE + SLACK)
        took = time.monotonic() - signalled
        log = pipeline.log()
        # It exited while the test still held the batch's lock: the grace acted, and said so.
        assert code == 0, f"exit {code} after {took:.1f}s:\n{log[-4000:]}"
        assert "cut off" in log, log[-4000:]

        delivery = await webhook_tables.get_delivery(held.delivery_id, tenant_id=held.tenant_id)
        assert (delivery.status, delivery.attempts) == (webhooks.DeliveryStatus.QUEUED, 0)

    pipeline.start_worker()
    delivery = await pipeline.settled(held.tenant_id, held.delivery_id)
    assert (delivery.status, delivery.attempts) == (webhooks.DeliveryStatus.PROCESSED, 1)


async def test_an_idle_worker_exits_0_at_once(pipeline: Pipeline) -> None:
    """With nothing in flight it does not wait for its grace: it exits long before the grace
    (10 minutes here) could end."""
    pipeline.env = {**pipeline.env, "SHUTDOWN_GRACE_SECONDS": "600"}
    worker = pipeline.start_worker()
    await asyncio.sleep(3)  # started: its startup ran and its dequeues wait

    worker.send_signal(signal.SIGTERM)
    signalled = time.monotonic()
    code = await wait_exit(worker, 60)
    took = time.monotonic() - signalled

    log = pipeline.log()
    assert code == 0, f"exit {code} after {took:.1f}s:\n{log[-4000:]}"
    assert "cut off" not in log, log[-4000:]
