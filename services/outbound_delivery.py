"""Webhooks out, delivery as the API and the worker start it: the `deliver_outbound` job of an
endpoint (keyed per endpoint, so wake-ups coalesce while one is queued) and test messages."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from uuid import UUID

from domain import audit
from tables import outbound_messages as messages

EnqueueJob = Callable[[str, str, Mapping[str, str]], Awaitable[object]]
"""Enqueue a worker job: (function, key, keyword arguments)."""
JOB = "deliver_outbound"


def job_key(endpoint_id: UUID | str) -> str:
    return f"outbound:{endpoint_id}"


async def wake(enqueue: EnqueueJob, *, endpoint_id: UUID, tenant_id: UUID) -> bool:
    """Start the endpoint's delivery job; False when one is already queued or running (which
    may be past its last look for due messages: see workers.outbound.Dispatcher)."""
    job = await enqueue(
        JOB, job_key(endpoint_id), {"endpoint_id": str(endpoint_id), "tenant_id": str(tenant_id)}
    )
    return job is not None


async def send_test(enqueue: EnqueueJob, endpoint_id: UUID, *, tenant_id: UUID, actor: audit.Actor) -> str:
    """A `test` message to the endpoint through the same path as events (signed, retried,
    logged); returns its webhook-id."""
    msg_id = await messages.add_test(
        endpoint_id=endpoint_id, tenant_id=tenant_id, at=datetime.now(UTC), actor=actor
    )
    await wake(enqueue, endpoint_id=endpoint_id, tenant_id=tenant_id)
    return msg_id
