"""Applying webhook deliveries: claimed from PostgreSQL in batches, woken through Redis.

The inbox table is the queue: a batch claims ready rows with FOR UPDATE SKIP LOCKED (see
services.batches). Redis only carries the wake-up, and SAQ runs it:

- Ingest (and replay) commits the row, then `SET wake:{tenant}:{flow} 1 NX PX 5000`; only
  when it set the flag does it enqueue a job `apply_deliveries(tenant_id, flow)`.
- The job DELETEs the flag first, then claims and applies batches until a claim comes back
  short of a full batch (or its time budget is spent: it then wakes itself again).

Race-free: a delivery committed before the DEL is seen by the job's claims, which all come
after it; one committed after the DEL finds the flag absent (or set by another delivery
after the DEL, whose job likewise claims after that SET) and enqueues a job of its own. A
flag whose job was lost (Redis lost it, or the enqueue failed) expires after PX. Whatever
Redis does, every worker also polls the inbox every DELIVERY_POLL_SECONDS and drains the
(tenant, flow) pairs it finds ready, not through SAQ: with Redis down a delivery waits at
most one poll, and retried deliveries (available_at in the future) are found the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from uuid import UUID

from opentelemetry.trace import SpanKind
from saq import Queue

from domain import batches, tracing
from services import batches as batch_services
from tables import inbox_claims
from telemetry import metrics
from telemetry.tracing import Tracing
from workers.context import WorkerContext
from workers.graceful import cut_off

log = logging.getLogger("tenantgraph.deliveries")

JOB = "apply_deliveries"
JOB_SETTINGS: dict[str, Any] = {"retries": 1, "timeout": 60}
BUDGET_SECONDS = 10.0
"""How long a job drains before it wakes itself again: well under its timeout."""
WAKE_PX = 5000
CANCELLED = "cancelled: the attempt timed out"
POLL_RETRY_MAX = 10.0


def wake_key(tenant_id: UUID | str, flow: str) -> str:
    return f"tenantgraph:wake:{tenant_id}:{flow}"


async def wake(queue: Queue, *, tenant_id: UUID | str, flow: str) -> bool:
    """Wake the workers for a tenant's flow: one Redis round trip, and an enqueue only when no
    wake-up is pending. Whether this one enqueued the job."""
    redis = getattr(queue, "redis")  # noqa: B009 - SAQ's RedisQueue client, untyped on Queue
    if not await redis.set(wake_key(tenant_id, flow), b"1", nx=True, px=WAKE_PX):
        return False
    await queue.enqueue(JOB, tenant_id=str(tenant_id), flow=flow, **JOB_SETTINGS)
    return True


class QueueJobs:
    """The resolvers' view of the worker queue (resolvers.context.Jobs)."""

    def __init__(self, queue: Queue) -> None:
        self.queue = queue

    async def wake_deliveries(self, *, tenant_id: UUID, flow: str) -> None:
        await wake(self.queue, tenant_id=tenant_id, flow=flow)

    async def enqueue_job(self, function: str, key: str, kwargs: Mapping[str, str]) -> object:
        return await self.queue.enqueue(function, key=key, **kwargs)


async def apply_deliveries(ctx: WorkerContext, *, tenant_id: str, flow: str) -> int:
    """The wake-up job: clear the flag, then drain the tenant's flow. How many it applied."""
    worker = ctx.get("worker")
    queue = getattr(worker, "queue", None)
    if queue is not None:
        await getattr(queue, "redis").delete(wake_key(tenant_id, flow))  # noqa: B009
    size = int(ctx.get("delivery_batch_size", 50))
    return await drain(ctx, UUID(tenant_id), flow, size, queue)


async def drain(
    ctx: WorkerContext, tenant_id: UUID, flow: str, size: int, queue: Queue | None,
    budget: float = BUDGET_SECONDS,
) -> int:
    """Apply batches of the tenant's flow until a claim comes back short."""
    deadline = time.monotonic() + budget
    spans = _spans(ctx.get("tracing") or Tracing.off(), tenant_id)
    applied = 0
    while True:
        report = batch_services.Report()
        try:
            await batch_services.apply_batch(tenant_id, flow, size, report, spans=spans)
        except asyncio.CancelledError:
            if "job" in ctx and not cut_off(ctx):
                await asyncio.shield(_cancelled(tenant_id, report.claimed))
            else:
                log.warning("deliveries of %s cut off by the worker stopping; rolled back", flow)
            raise
        _observe(report)
        applied += report.applied
        if len(report.claimed) < size:
            return applied
        if time.monotonic() > deadline and queue is not None:
            await wake(queue, tenant_id=tenant_id, flow=flow)
            return applied


async def _cancelled(tenant_id: UUID, claimed: Sequence[UUID]) -> None:
    """A timed-out attempt counts like a failed one for each delivery it held (those it
    committed are done and stay so)."""
    for delivery in claimed:
        status = await inbox_claims.fail(delivery, CANCELLED, tenant_id=tenant_id, draw=0.5)
        if status == "dead":
            metrics.WEBHOOK_DEAD_LETTERED.labels("cancelled").inc()


def _observe(report: batch_services.Report) -> None:
    if report.claimed:
        metrics.DELIVERY_BATCH_SIZE.observe(len(report.claimed))
    if report.rejected:
        metrics.WEBHOOK_DEAD_LETTERED.labels("rejected").inc(report.rejected)
    for status in report.failed:
        if status == "dead":
            metrics.WEBHOOK_DEAD_LETTERED.labels("failed").inc()


def _spans(tracer: Tracing, tenant_id: UUID) -> batch_services.Spans:
    """A batch's span continues the trace of its first traced delivery and links the others."""
    if not tracer.enabled:
        return batch_services.no_spans

    @contextlib.contextmanager
    def span(claimed: Sequence[batches.Claimed]) -> Iterator[str | None]:
        traced = [c.traceparent for c in claimed if c.traceparent]
        tracing.for_tenant(tenant_id)
        with tracer.span(f"job {JOB}", parent=traced[0] if traced else None, kind=SpanKind.CONSUMER,
                         links=traced[1:], attributes={"job.function": JOB, "batch.size": len(claimed)}):
            yield tracer.traceparent()

    return span


async def poll(ctx: WorkerContext, every: float, size: int, stopping: asyncio.Event) -> None:
    """Every `every` seconds, drain every (tenant, flow) with ready deliveries, until
    `stopping` is set (the batch in flight ends first). A failed pass (the database down) is
    logged and tried again with a growing delay."""
    delay = every
    while not stopping.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), delay)
            return
        try:
            for tenant_id, flow in await inbox_claims.ready():
                if stopping.is_set():
                    return
                await drain(ctx, tenant_id, flow, size, None)
        except Exception as error:  # noqa: BLE001 - keep polling once the database is back
            log.warning("delivery poll failed (%r); retrying in %.0f s", error, delay)
            delay = min(delay * 2, POLL_RETRY_MAX)
            continue
        delay = every
