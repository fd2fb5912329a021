"""Applying webhook deliveries: one SAQ job per inbox row, idempotent, dead-lettered at last."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from opentelemetry.trace import SpanKind
from saq import Queue

from domain import tracing
from domain.errors import DomainError
from services import deliveries as delivery_services
from tables import leases
from tables import webhooks as webhook_tables
from telemetry import metrics
from telemetry.tracing import Tracing
from workers.context import WorkerContext
from workers.graceful import cut_off

log = logging.getLogger("tenantgraph.deliveries")

JOB = "apply_delivery"
# Five attempts, with exponential backoff and jitter (SAQ draws each delay between 0 and the
# doubled delay, at most 30 s). A delivery is at most 500 items, applied in well under the
# timeout: the timeout is also how soon SAQ's sweep takes back the jobs of a dead worker, so
# it stays short, and such short jobs need no heartbeat.
JOB_SETTINGS: dict[str, Any] = {"retries": 5, "timeout": 10, "retry_delay": 0.5, "retry_backoff": 30}


def job_key(delivery_id: UUID) -> str:
    return f"delivery:{delivery_id}"


class QueueJobs:
    """The resolvers' view of the worker queue (resolvers.context.Jobs)."""

    def __init__(self, queue: Queue) -> None:
        self.queue = queue

    async def enqueue_delivery(
        self, *, tenant_id: UUID, delivery_id: UUID, traceparent: str | None = None
    ) -> None:
        await enqueue(self.queue, tenant_id=tenant_id, delivery_id=delivery_id, traceparent=traceparent)

    async def enqueue_job(self, function: str, key: str, kwargs: Mapping[str, str]) -> object:
        return await self.queue.enqueue(function, key=key, **kwargs)


async def enqueue(
    queue: Queue, *, tenant_id: UUID, delivery_id: UUID, traceparent: str | None = None
) -> None:
    """Idempotent while the job is pending: the key dedupes a second enqueue. The request's
    trace context, when traced, travels with the job (and only then)."""
    traced = {} if traceparent is None else {"traceparent": traceparent}
    await queue.enqueue(
        JOB,
        key=job_key(delivery_id),
        tenant_id=str(tenant_id),
        delivery_id=str(delivery_id),
        **traced,
        **JOB_SETTINGS,
    )


SWEEP_AFTER = timedelta(seconds=10)
"""A delivery unfinished this long after it was accepted (or last failed) may have lost its
job (Redis lost it, or was down when it was accepted): enqueued again, by key."""
SWEEP_EVERY = 3.0
SWEEP_RETRY_MAX = 10.0
"""The longest pause between failed passes: a delivery waits at most this after Redis returns."""
CANCELLED = "cancelled: the attempt timed out"


async def apply_delivery(
    ctx: WorkerContext, *, tenant_id: str, delivery_id: str, traceparent: str | None = None
) -> str:
    """Apply one accepted delivery exactly once: the inbox row is locked and marked processed,
    and the domain change and its events are written, all in one transaction. A traced job
    continues the trace of the request that delivered it (`traceparent`)."""
    tracer = ctx.get("tracing") or Tracing.off()
    if not tracer.enabled:
        return await _apply(ctx, UUID(tenant_id), UUID(delivery_id), None)
    tracing.for_tenant(tenant_id)
    with tracer.span(f"job {JOB}", parent=traceparent, kind=SpanKind.CONSUMER,
                     attributes={"delivery.id": delivery_id, "job.function": JOB}):
        return await _apply(ctx, UUID(tenant_id), UUID(delivery_id), tracer.traceparent())


async def _apply(ctx: WorkerContext, tenant: UUID, delivery: UUID, traceparent: str | None) -> str:
    job = ctx.get("job")
    final = job is None or job.attempts >= job.retries
    try:
        return await delivery_services.apply(tenant, delivery, traceparent=traceparent)
    except DomainError as error:
        # The delivery breaks a rule (unknown sku, short stock...): retrying cannot help.
        log.warning("delivery %s dead: %s", delivery, error.message)
        await webhook_tables.mark_failed(
            delivery, f"{error.code}: {error.message}", tenant_id=tenant, dead=True
        )
        metrics.WEBHOOK_DEAD_LETTERED.labels("rejected").inc()
        return "dead"
    except asyncio.CancelledError:
        if cut_off(ctx):
            # Rolled back and queued again with its attempt given back: the row stays as it was.
            log.warning("delivery %s cut off by the worker stopping; queued again", delivery)
            raise
        # The attempt timed out; SAQ retries it unless it was the last.
        log.warning("delivery %s cancelled (attempt %s)%s", delivery, getattr(job, "attempts", "?"),
                    "; dead-lettered" if final else "")
        await asyncio.shield(webhook_tables.mark_failed(delivery, CANCELLED, tenant_id=tenant, dead=final))
        if final:
            metrics.WEBHOOK_DEAD_LETTERED.labels("cancelled").inc()
        raise
    except Exception as error:
        log.warning("delivery %s failed (attempt %s)%s", delivery, getattr(job, "attempts", "?"),
                    "; dead-lettered" if final else "", exc_info=True)
        await webhook_tables.mark_failed(delivery, repr(error), tenant_id=tenant, dead=final)
        if final:
            metrics.WEBHOOK_DEAD_LETTERED.labels("failed").inc()
        raise


async def sweep(ctx: WorkerContext) -> int:
    """Re-enqueue deliveries accepted (or retried) long ago and still unfinished, e.g. because
    Redis lost their job. Enqueueing by key never duplicates a job that still exists. A job
    to run on demand; the workers' sweeper task (keep_sweeping) does it every few seconds."""
    return await sweep_inbox(ctx["worker"].queue)


async def keep_sweeping(queue: Queue, lease: leases.Lease, every: float = SWEEP_EVERY) -> None:
    """The inbox sweep every few seconds, until cancelled: a task of every worker, not a job,
    so that no killed worker can hold it up, done by the one holding `lease` (a PostgreSQL
    lock: the sweep is for when Redis was down); another takes it over when that one dies. A
    failed pass (the database or Redis down) is logged and retried with a growing delay."""
    delay = every
    try:
        while True:
            await asyncio.sleep(delay)
            try:
                if await lease.hold():
                    await sweep_inbox(queue)
            except Exception as error:  # noqa: BLE001 - keep sweeping once the dependency is back
                log.warning("inbox sweep failed (%r); retrying in %.0f s", error, delay)
                delay = min(delay * 2, SWEEP_RETRY_MAX)
                continue
            delay = every
    finally:
        lease.release()


async def sweep_inbox(queue: Queue) -> int:
    """One pass: enqueue (by key) the deliveries unfinished for SWEEP_AFTER."""
    stale = await webhook_tables.unfinished(older_than=datetime.now(UTC) - SWEEP_AFTER)
    for tenant_id, delivery_id, traceparent in stale:
        # The request's trace goes on with the job, as when the request enqueued it.
        await enqueue(queue, tenant_id=tenant_id, delivery_id=delivery_id, traceparent=traceparent)
    if stale:
        log.info("sweeper re-enqueued %d deliveries", len(stale))
    return len(stale)
