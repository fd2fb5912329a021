"""Housekeeping jobs."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from tables import api_keys, idempotency
from tables import audit as trail
from tables import events as outbox
from workers.context import WorkerContext

log = logging.getLogger("tenantgraph.jobs")
REVOKED_KEY_RETENTION = timedelta(days=90)


async def purge_revoked_keys(ctx: WorkerContext) -> int:
    """Revoked keys stay listed for 90 days (who had access, until when), then go."""
    purged = await api_keys.purge_revoked(older_than=REVOKED_KEY_RETENTION)
    log.info("purged %d revoked api keys", purged)
    return purged


async def prune_events(ctx: WorkerContext) -> int:
    """Published events past the retention window go; their cursors then get CURSOR_EXPIRED."""
    days = int(ctx.get("event_retention_days", 7))
    pruned = await outbox.prune(older_than=datetime.now(UTC) - timedelta(days=days))
    log.info("pruned %d events older than %d days", pruned, days)
    return pruned


async def prune_audit(ctx: WorkerContext) -> int:
    """Audit records past AUDIT_RETENTION_DAYS go (independently of the events' retention)."""
    days = int(ctx.get("audit_retention_days", 365))
    pruned = await trail.prune(older_than=datetime.now(UTC) - timedelta(days=days))
    log.info("pruned %d audit records older than %d days", pruned, days)
    return pruned


async def prune_idempotency_keys(ctx: WorkerContext) -> int:
    """Idempotency-Key records past IDEMPOTENCY_RETENTION_HOURS go; their keys may be used again."""
    hours = int(ctx.get("idempotency_retention_hours", 24))
    pruned = await idempotency.prune(older_than=datetime.now(UTC) - timedelta(hours=hours))
    log.info("pruned %d idempotency keys older than %d hours", pruned, hours)
    return pruned
