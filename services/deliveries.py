"""Webhook deliveries: queueing dead ones again (applying them: services.batches)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from uuid import UUID

from domain import audit
from tables import webhooks as webhook_tables

Wake = Callable[[str], Awaitable[object]]
"""Wake the workers for one of the tenant's flows."""


async def replay(
    wake: Wake,
    *,
    tenant_id: UUID,
    ids: list[UUID] | None,
    flow: str | None,
    since: datetime | None,
    until: datetime | None,
    actor: audit.Actor,
) -> list[UUID]:
    """Put dead (or failed) deliveries back in the queue, ready now, and wake their flows:
    which ones."""
    requeued = await webhook_tables.requeue(
        tenant_id=tenant_id, ids=ids, flow=flow, since=since, until=until, actor=actor
    )
    for woken in sorted({flow for _, flow in requeued}):
        await wake(woken)
    return [delivery for delivery, _ in requeued]
