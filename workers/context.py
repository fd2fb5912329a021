"""What a job receives: SAQ's context plus the keys this worker's startup adds."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import redis.asyncio as aioredis
from saq.types import Context

from domain import outbound_log
from telemetry.tracing import Tracing
from workers.relay import Relay

if TYPE_CHECKING:
    from workers.outbound import Runtime


class WorkerContext(Context, total=False):
    event_retention_days: int
    audit_retention_days: int
    idempotency_retention_hours: int
    outbound_retention: outbound_log.Retention
    outbound_backlog_sampler: asyncio.Task[None]
    redis: aioredis.Redis
    """The relay's client; only when the worker runs the relay."""
    relay: Relay
    """The outbox relay; only when the worker runs the relay."""
    relay_task: asyncio.Task[None]
    """The task running `relay`."""
    pool_sampler: asyncio.Task[None]
    tracing: Tracing
    """This process's spans (off unless the OTEL_* variables switch them on)."""
    delivery_batch_size: int
    delivery_poll: asyncio.Task[None]
    """Every worker's poll of the inbox for ready deliveries (workers.deliveries.poll)."""
    outbound: Runtime
    """Webhooks out: the HTTP client and request slots the delivery jobs share."""
    outbound_dispatcher: asyncio.Task[None]
    job_started: float
    """time.monotonic() when this job's attempt began (a job's own context)."""
