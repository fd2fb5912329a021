"""The delivery log's jobs: recovering an endpoint's failed messages, pruning finished ones,
and sampling the backlog per endpoint state."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from uuid import UUID

from saq import Queue

from domain import outbound_log
from services import outbound_log as log_services
from tables import outbound_log as log_tables
from telemetry import outbound as outbound_metrics
from workers.context import WorkerContext

log = logging.getLogger("tenantgraph.outbound")
BACKLOG_SAMPLE_SECONDS = 5.0


def enqueuer(queue: Queue) -> log_services.EnqueueJob:
    async def enqueue(function: str, key: str, kwargs: Mapping[str, str]) -> object:
        return await queue.enqueue(function, key=key, **kwargs)

    return enqueue


async def recover_outbound(ctx: WorkerContext, *, tenant_id: str, endpoint_id: str, since: str) -> int:
    """Make the endpoint's messages that failed since `since` due now, and wake the endpoint."""
    count = await log_services.recover(
        enqueuer(ctx["worker"].queue), UUID(endpoint_id), datetime.fromisoformat(since),
        tenant_id=UUID(tenant_id),
    )
    log.info("recovery of endpoint %s since %s: %d messages due again", endpoint_id, since, count)
    return count


async def prune_outbound(ctx: WorkerContext) -> int:
    """Succeeded messages past OUTBOUND_RETENTION_DAYS and exhausted ones past
    OUTBOUND_EXHAUSTED_RETENTION_DAYS go, with their attempts."""
    retention = ctx.get("outbound_retention") or outbound_log.Retention.of_days(30, 90)
    pruned = await log_tables.prune(retention, now=datetime.now(UTC))
    log.info("pruned %d outbound messages", pruned)
    return pruned


async def sample_backlog_forever() -> None:
    """outbound_backlog_messages every BACKLOG_SAMPLE_SECONDS, until cancelled."""
    while True:
        try:
            outbound_metrics.set_backlog(await log_tables.backlog())
        except Exception:  # noqa: BLE001 - a metric never stops the worker; the next round retries
            log.warning("could not measure the outbound backlog", exc_info=True)
        await asyncio.sleep(BACKLOG_SAMPLE_SECONDS)
