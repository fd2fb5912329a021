"""Applying webhook deliveries: one SAQ job per inbox row, idempotent, dead-lettered at last."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from saq import Queue

from domain.errors import DomainError
from services import deliveries as delivery_services
from tables import webhooks as webhook_tables
from telemetry import metrics
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

    async def enqueue_delivery(self, *, tenant_id: UUID, delivery_id: UUID) -> None:
        await enqueue(self.queue, tenant_id=tenant_id, delivery_id=delivery_id)


async def enqueue(queue: Queue, *, tenant_id: UUID, delivery_id: UUID) -> None:
    """Idempotent while the job is pending: the key dedupes a second enqueue."""
    await queue.enqueue(
        JOB,
        key=job_key(delivery_id),
        tenant_id=str(tenant_id),
        delivery_id=str(delivery_id),
        **JOB_SETTINGS,
    )


SWEEP_AFTER = timedelta(seconds=60)
CANCELLED = "cancelled: the attempt timed out"


async def apply_delivery(ctx: WorkerContext, *, tenant_id: str, delivery_id: str) -> str:
    """Apply one accepted delivery exactly once: the inbox row is locked and marked processed,
    and the domain change and its events are written, all in one transaction."""
    tenant, delivery = UUID(tenant_id), UUID(delivery_id)
    job = ctx.get("job")
    final = job is None or job.attempts >= job.retries
    try:
        return await delivery_services.apply(tenant, delivery)
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
    Redis lost their job. Enqueueing by key never duplicates a job that still exists."""
    stale = await webhook_tables.unfinished(older_than=datetime.now(UTC) - SWEEP_AFTER)
    queue = ctx["worker"].queue
    for tenant_id, delivery_id in stale:
        await enqueue(queue, tenant_id=tenant_id, delivery_id=delivery_id)
    if stale:
        log.info("sweeper re-enqueued %d deliveries", len(stale))
    return len(stale)
