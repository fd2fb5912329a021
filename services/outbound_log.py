"""The delivery log's use cases: redeliver one message, recover an endpoint (as a job), prune.

Delivery itself is the worker's `deliver_outbound` job, keyed per endpoint (it coalesces): a
message made due here is sent by the next run of that job, which these functions enqueue. The
worker's sweep also wakes every endpoint with due messages, so a wake-up lost with Redis delays
a message but never loses it.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from uuid import UUID

from domain import audit, outbound_log
from tables import db
from tables import outbound_log as log_tables

EnqueueJob = Callable[[str, str, Mapping[str, str]], Awaitable[object]]
"""Enqueue a worker job: (function, key, keyword arguments)."""
DELIVER = "deliver_outbound"
RECOVER = "recover_outbound"


def deliver_key(endpoint_id: UUID) -> str:
    return f"outbound:{endpoint_id}"


async def wake(enqueue: EnqueueJob, endpoint_id: UUID, *, tenant_id: UUID) -> None:
    """Start the endpoint's delivery job (or leave the one already queued)."""
    await enqueue(
        DELIVER, deliver_key(endpoint_id), {"endpoint_id": str(endpoint_id), "tenant_id": str(tenant_id)}
    )


async def redeliver(
    enqueue: EnqueueJob, message_id: UUID, *, tenant_id: UUID, actor: audit.Actor
) -> outbound_log.Message:
    """Send a message again now (same webhook-id), whatever its status."""
    message = await log_tables.redeliver(message_id, tenant_id=tenant_id, actor=actor)
    await wake(enqueue, message.endpoint_id, tenant_id=tenant_id)
    return message


async def request_recovery(
    enqueue: EnqueueJob, endpoint_id: UUID, since: datetime, *, tenant_id: UUID, actor: audit.Actor
) -> str:
    """Queue the job that makes every message of the endpoint that failed since `since` due
    again: the job's key. The audit record commits only once the job is queued."""
    since = outbound_log.check_since(since, datetime.now(UTC))
    key = f"outbound_recover:{endpoint_id}:{uuid.uuid4().hex}"
    async with db.transaction(tenant_id=tenant_id):
        await log_tables.record_recovery(endpoint_id, since, tenant_id=tenant_id, actor=actor, job=key)
        await enqueue(RECOVER, key, {
            "endpoint_id": str(endpoint_id), "tenant_id": str(tenant_id), "since": since.isoformat(),
        })
    return key


async def recover(enqueue: EnqueueJob, endpoint_id: UUID, since: datetime, *, tenant_id: UUID) -> int:
    """The recovery job's work: the failed messages due now, then the endpoint woken."""
    count = await log_tables.recover(endpoint_id, since, tenant_id=tenant_id)
    if count:
        await wake(enqueue, endpoint_id, tenant_id=tenant_id)
    return count
