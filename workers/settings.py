"""The worker: its queue, jobs and explicit job settings, and the outbox relay beside them."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import redis.asyncio as aioredis
from saq import CronJob, Queue, Worker

from domain.config import Settings
from tables import engine
from workers import deliveries, maintenance
from workers.relay import Relay

JOB_DEFAULTS: dict[str, Any] = {"retries": 3, "timeout": 60}


def queue(settings: Settings) -> Queue:
    assert settings.redis_url is not None
    return Queue.from_url(settings.redis_url, name="tenantgraph")


def worker(settings: Settings, *, relay: bool = True) -> Worker[dict[str, Any]]:
    """A worker applying deliveries and sweeping lost ones; with `relay`, it also publishes
    the outbox (several workers may: their batches take turns under an advisory lock)."""
    assert settings.database_url is not None and settings.redis_url is not None
    dsn = engine.app_dsn(settings.database_url, str(settings.app_database_password))
    redis_url = settings.redis_url

    async def startup(ctx: dict[str, Any]) -> None:
        await engine.start(dsn, max_size=settings.db_pool_max)
        if relay:
            ctx["redis"] = aioredis.from_url(redis_url)
            ctx["relay"] = asyncio.create_task(Relay(ctx["redis"], dsn).run())

    async def shutdown(ctx: dict[str, Any]) -> None:
        if "relay" in ctx:
            ctx["relay"].cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ctx["relay"]
            await ctx["redis"].aclose()
        await engine.stop()

    return Worker(
        queue(settings),
        functions=[deliveries.apply_delivery, deliveries.sweep, maintenance.purge_revoked_keys],
        cron_jobs=[
            CronJob(deliveries.sweep, cron="* * * * *", **JOB_DEFAULTS),
            CronJob(maintenance.purge_revoked_keys, cron="17 3 * * *", **JOB_DEFAULTS),
        ],
        startup=startup,
        shutdown=shutdown,
        concurrency=10,
    )
