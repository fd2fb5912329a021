"""The worker: its queue, jobs and explicit job settings, wired from Settings."""

from __future__ import annotations

from typing import Any

from saq import CronJob, Queue, Worker

from domain.config import Settings
from tables import engine
from workers import maintenance

JOB_DEFAULTS: dict[str, Any] = {"retries": 3, "timeout": 60}


def queue(settings: Settings) -> Queue:
    assert settings.redis_url is not None
    return Queue.from_url(settings.redis_url, name="tenantgraph")


def worker(settings: Settings) -> Worker[dict[str, Any]]:
    assert settings.database_url is not None
    dsn = engine.app_dsn(settings.database_url, str(settings.app_database_password))

    async def startup(ctx: dict[str, Any]) -> None:
        await engine.start(dsn, max_size=settings.db_pool_max)

    async def shutdown(ctx: dict[str, Any]) -> None:
        await engine.stop()

    return Worker(
        queue(settings),
        functions=[maintenance.purge_revoked_keys],
        cron_jobs=[CronJob(maintenance.purge_revoked_keys, cron="17 3 * * *", **JOB_DEFAULTS)],
        startup=startup,
        shutdown=shutdown,
        concurrency=10,
    )
