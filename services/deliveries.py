"""Webhook deliveries: applying one exactly once, and queueing dead ones again."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from uuid import UUID

from domain import events, tracing
from domain import flows as domain_flows
from services import flows
from tables import db
from tables import webhooks as inbox

log = logging.getLogger("tenantgraph.deliveries")

Enqueue = Callable[[UUID], Awaitable[object]]


async def apply(tenant: UUID, delivery: UUID) -> str:
    """Lock the inbox row and mark it processed, then write the flow's change and its events,
    all in one transaction: "processed", or "already done" for a delivery applied before."""
    async with db.transaction(tenant_id=tenant):
        claimed = await inbox.claim(delivery, tenant_id=tenant)
        if claimed is None:
            log.info("delivery %s is already done", delivery)
            return "already done"
        tracing.request_id.set(claimed.correlation_id)
        tracing.tenant.set(str(tenant))
        meta = events.WriteMeta(actor=f"webhook:{claimed.flow}", correlation_id=claimed.correlation_id)
        payload = domain_flows.parse(claimed.flow, claimed.payload)
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
) -> list[UUID]:
    """Put dead (or failed) deliveries back in the queue and enqueue their jobs: which ones."""
    requeued = await inbox.requeue(tenant_id=tenant_id, ids=ids, flow=flow, since=since, until=until)
    for delivery_id in requeued:
        await enqueue(delivery_id)
    return requeued
