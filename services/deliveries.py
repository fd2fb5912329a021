"""Webhook deliveries: applying one exactly once, and queueing dead ones again."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from uuid import UUID

from domain import audit, events, tracing
from domain import flows as flow_domain
from services import flows
from tables import db
from tables import webhooks as webhook_tables

log = logging.getLogger("tenantgraph.deliveries")

Enqueue = Callable[[UUID], Awaitable[object]]


async def apply(tenant: UUID, delivery: UUID, *, traceparent: str | None = None) -> str:
    """Lock the inbox row and mark it processed, then write the flow's change and its events,
    all in one transaction: "processed", or "already done" for a delivery applied before.
    The events carry `traceparent`, the job's trace context when it is traced."""
    async with db.transaction(tenant_id=tenant):
        claimed = await webhook_tables.claim(delivery, tenant_id=tenant)
        if claimed is None:
            log.info("delivery %s is already done", delivery)
            return "already done"
        tracing.request_id.set(claimed.correlation_id)
        tracing.tenant.set(str(tenant))
        meta = events.WriteMeta(
            actor=f"webhook:{claimed.flow}", correlation_id=claimed.correlation_id,
            traceparent=traceparent,
        )
        payload = flow_domain.parse(claimed.flow, claimed.payload)
        await flows.APPLY[claimed.flow](payload, tenant_id=tenant, meta=meta)
    log.info("delivery %s (%s %s) applied", delivery, claimed.flow, claimed.delivery_id)
    return "processed"


async def replay(
    enqueue: Enqueue,
    *,
    tenant_id: UUID,
    ids: list[UUID] | None,
    flow: str | None,
    since: datetime | None,
    until: datetime | None,
    actor: audit.Actor,
) -> list[UUID]:
    """Put dead (or failed) deliveries back in the queue and enqueue their jobs: which ones."""
    requeued = await webhook_tables.requeue(
        tenant_id=tenant_id, ids=ids, flow=flow, since=since, until=until, actor=actor
    )
    for delivery_id in requeued:
        await enqueue(delivery_id)
    return requeued
