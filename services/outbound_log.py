"""The delivery log's use cases: redeliver one message, recover an endpoint (as a job), prune.

Delivery itself is the worker's `deliver_outbound` job, keyed per endpoint (it coalesces): a
message made due here is sent by the next run of that job, which these functions enqueue. The
worker's sweep also wakes every endpoint with due messages, so a wake-up lost with Redis delays
a message but never loses it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from uuid import UUID

from domain import audit, outbound_log
from services import outbound_delivery as delivery
from tables import db
from tables import outbound_log as log_tables

EnqueueJob = delivery.EnqueueJob
RECOVER = "recover_outbound"


async def redeliver(
    enqueue: EnqueueJob, message_id: UUID, *, tenant_id: UUID, actor: audit.Actor
) -> outbound_log.Message:
    """Send a message again now (same webhook-id), whatever its status."""
    message = await log_tables.redeliver(message_id, tenant_id=tenant_id, actor=actor)
    await delivery.wake(enqueue, endpoint_id=message.endpoint_id, tenant_id=tenant_id)
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
        await delivery.wake(enqueue, endpoint_id=endpoint_id, tenant_id=tenant_id)
    return count
