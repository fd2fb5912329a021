"""The worker: its queue, jobs and explicit job settings, and the outbox relay beside them."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
from saq import CronJob, Job, Queue
from saq.queue.redis import RedisQueue

from domain import outbound_log
from domain.config import DRAIN_SHARE, Settings
from tables import engine
from telemetry import metrics
from telemetry.tracing import Tracing
from workers import deliveries, maintenance, outbound
from workers import outbound_log as outbound_log_jobs
from workers.context import WorkerContext
from workers.graceful import GracefulWorker
from workers.relay import Relay

JOB_DEFAULTS: dict[str, Any] = {"retries": 3, "timeout": 60}
SWEEP_SECONDS = 5
"""How often a worker looks for the jobs of dead workers (stuck past their timeout)."""
ABORT_WAIT_SECONDS = 1.0
"""How long a sweep waits for a stuck job's worker to let go of it before retrying it."""


class TenantgraphQueue(RedisQueue):
    """SAQ's Redis queue, whose sweep waits only briefly for each stuck job to be released.

    SAQ waits 5 s per job, one job at a time: after a worker with ten jobs in flight is
    killed, its jobs would be retried only after 50 s. A live worker cancels an aborted job
    within its 1 s abort check; a dead one never does. Retrying a job that is still running
    somewhere is safe: every job here is idempotent (a delivery is applied once, under its
    inbox row's lock).

    The sweep's lock is also how long every other worker skips sweeping (SAQ never releases
    it): SAQ's 60 s meant a sweeper killed mid-sweep left dead jobs for a minute; it lasts
    one sweep interval here."""

    async def sweep(self, lock: int = SWEEP_SECONDS, abort: float = ABORT_WAIT_SECONDS) -> list[str]:
        return await super().sweep(lock, abort)

    async def notify(self, job: Job) -> None:
        # SAQ publishes every status change for callers awaiting a job (Job.refresh with
        # until_complete, Queue.listen); nothing here awaits one, so the two PUBLISH round
        # trips per job are skipped. Whoever starts awaiting jobs must remove this.
        return None


def queue(settings: Settings) -> Queue:
    assert settings.redis_url is not None
    made = TenantgraphQueue.from_url(settings.redis_url, name="tenantgraph")
    made.register_before_enqueue(outbound.job_settings(settings.outbound_delivery))
    return made


async def relay_alone(
    settings: Settings, stopping: asyncio.Event, tracing: Tracing | None = None
) -> None:
    """The outbox relay as a process of its own (`tenantgraph relay`), until `stopping` is set
    (it then finishes its batch): its event loop waits for nothing else, so events leave as
    soon as they commit."""
    assert settings.database_url is not None and settings.redis_url is not None
    dsn = engine.app_dsn(settings.database_url, str(settings.app_database_password))
    await engine.start(dsn, max_size=2, timeouts=engine.Timeouts.of(settings))
    client = aioredis.from_url(settings.redis_url)
    relay = Relay(client, dsn, tracing=tracing)

    async def stop_when_told() -> None:
        await stopping.wait()
        relay.stop()

    told = asyncio.create_task(stop_when_told())
    try:
        await relay.run()
    finally:
        told.cancel()
        await client.aclose()
        await engine.stop()


async def observe_job(ctx: WorkerContext) -> None:
    """jobs_total{function,outcome} and job_duration_seconds, once SAQ has settled the attempt."""
    job, started = ctx.get("job"), ctx.get("job_started")
    if job is not None and started is not None:
        metrics.observe_job(job.function, job.status.value, time.monotonic() - started)


def worker(
    settings: Settings, *, relay: bool = True, stopping: Callable[[], None] = lambda: None,
    tracing: Tracing | None = None,
) -> GracefulWorker:
    """A worker applying deliveries (woken, and polling for them); with `relay`, it also publishes
    the outbox (several workers may: their batches take turns under an advisory lock).
    Stopped, it finishes its jobs in flight within the shutdown grace (see workers.graceful)
    and its relay its batch; `stopping` is called when the stop begins."""
    assert settings.database_url is not None and settings.redis_url is not None
    dsn = engine.app_dsn(settings.database_url, str(settings.app_database_password))
    redis_url = settings.redis_url

    async def startup(ctx: WorkerContext) -> None:
        ctx["event_retention_days"] = settings.event_retention_days
        ctx["audit_retention_days"] = settings.audit_retention_days
        ctx["idempotency_retention_hours"] = settings.idempotency_retention_hours
        ctx["outbound_retention"] = outbound_log.Retention.of_days(
            settings.outbound_retention_days, settings.outbound_exhausted_retention_days
        )
        ctx["tracing"] = tracing or Tracing.off()
        await engine.start(dsn, max_size=settings.db_pool_max, timeouts=engine.Timeouts.of(settings))
        ctx["delivery_batch_size"] = settings.delivery_batch_size
        ctx["delivery_poll"] = asyncio.create_task(deliveries.poll(
            ctx, settings.delivery_poll_seconds, settings.delivery_batch_size, ctx["worker"].event
        ))
        if isinstance(ctx["worker"], GracefulWorker):
            ctx["worker"].finishing.append(ctx["delivery_poll"])
        ctx["pool_sampler"] = asyncio.create_task(metrics.sample_pool_forever(lambda: engine.DB.pool))
        outbound.start(ctx, ctx["worker"].queue, dsn, settings)
        ctx["outbound_backlog_sampler"] = asyncio.create_task(outbound_log_jobs.sample_backlog_forever())
        if relay:
            ctx["redis"] = aioredis.from_url(redis_url)
            ctx["relay"] = Relay(ctx["redis"], dsn, tracing=ctx["tracing"])
            ctx["relay_task"] = asyncio.create_task(ctx["relay"].run())

    async def shutdown(ctx: WorkerContext) -> None:
        if "delivery_poll" in ctx:
            ctx["delivery_poll"].cancel()  # drained with the jobs; a batch still running rolls back
            with contextlib.suppress(asyncio.CancelledError):
                await ctx["delivery_poll"]
        if "pool_sampler" in ctx:
            ctx["pool_sampler"].cancel()
        await outbound.stop(ctx)
        if "outbound_backlog_sampler" in ctx:
            ctx["outbound_backlog_sampler"].cancel()
        if "relay" in ctx:
            ctx["relay"].stop()
            last_batch = settings.shutdown_grace_seconds * (1 - DRAIN_SHARE) / 2
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(ctx["relay_task"], last_batch)
            await ctx["redis"].aclose()
        await engine.stop()

    return GracefulWorker(
        queue(settings),
        functions=[
            deliveries.apply_deliveries, maintenance.purge_revoked_keys,
            maintenance.prune_events, maintenance.prune_audit, maintenance.prune_idempotency_keys,
            outbound.deliver_outbound,
            outbound_log_jobs.recover_outbound, outbound_log_jobs.prune_outbound,
        ],
        cron_jobs=[
            CronJob(maintenance.purge_revoked_keys, cron="17 3 * * *", **JOB_DEFAULTS),
            CronJob(maintenance.prune_events, cron="41 * * * *", **JOB_DEFAULTS),
            CronJob(maintenance.prune_audit, cron="23 4 * * *", **JOB_DEFAULTS),
            CronJob(maintenance.prune_idempotency_keys, cron="47 * * * *", **JOB_DEFAULTS),
            CronJob(outbound_log_jobs.prune_outbound, cron="53 * * * *", **JOB_DEFAULTS),
        ],
        startup=startup,
        shutdown=shutdown,
        after_process=[observe_job],
        concurrency=10,
        timers={"sweep": SWEEP_SECONDS},
        grace=settings.shutdown_grace_seconds,
        stopping=stopping,
    )
