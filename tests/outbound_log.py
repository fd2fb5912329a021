"""Rows of the outgoing webhook log written directly, as the engine would leave them, for tests
of reading, redelivering, recovering and pruning them."""

from __future__ import annotations

import itertools
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from tables import db

_seq = itertools.count(1)


async def endpoint(tenant_id: UUID, *, enabled: bool = True, failing: bool = False) -> UUID:
    async with db.transaction(tenant_id=tenant_id) as tx:
        found: UUID = await tx.connection.fetchval(
            "insert into outbound_endpoints (tenant_id, url, event_types, secrets, enabled, failing_since)"
            " values ($1, 'https://example.com/hook', '{*}',"
            " '[{\"secret\": \"whsec_dGVzdC1zZWNyZXQtb2YtMjQtYnl0ZXMh\"}]', $2, $3)"
            " returning id",
            tenant_id, enabled, datetime.now(UTC) if failing else None,
        )
    return found


async def message(
    tenant_id: UUID,
    endpoint_id: UUID,
    *,
    status: str = "pending",
    age: timedelta = timedelta(0),
    attempts: int = 0,
    event_type: str = "order.created",
) -> UUID:
    """A message created `age` ago, due in an hour (so that only a redelivery makes it due now)."""
    seq = next(_seq)
    now = datetime.now(UTC)
    body = {"type": event_type, "timestamp": (now - age).isoformat(), "data": {"cursor": str(seq)}}
    async with db.transaction(tenant_id=tenant_id) as tx:
        found: UUID = await tx.connection.fetchval(
            "insert into outbound_messages (tenant_id, endpoint_id, event_seq, event_type, msg_id, body,"
            " status, attempts, next_attempt_at, created_at, updated_at)"
            " values ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10, $10) returning id",
            tenant_id, endpoint_id, seq, event_type, f"msg_{uuid.uuid4().hex}", json.dumps(body),
            status, attempts, now + timedelta(hours=1), now - age,
        )
    return found


async def attempt(
    tenant_id: UUID, message_id: UUID, endpoint_id: UUID, *, at: datetime, status: int | None = 500
) -> UUID:
    async with db.transaction(tenant_id=tenant_id) as tx:
        found: UUID = await tx.connection.fetchval(
            "insert into outbound_attempts (tenant_id, message_id, endpoint_id, attempted_at,"
            " duration_ms, response_status, response_body, error)"
            " values ($1, $2, $3, $4, 12, $5, 'nope', $6) returning id",
            tenant_id, message_id, endpoint_id, at, status, None if status else "timeout",
        )
    return found


async def row(tenant_id: UUID, message_id: UUID) -> dict[str, Any]:
    """The stored message (or {} when it is gone)."""
    async with db.transaction(tenant_id=tenant_id) as tx:
        found = await tx.connection.fetchrow(
            "select *, next_attempt_at <= now() as due from outbound_messages where id = $1", message_id
        )
    return {} if found is None else dict(found)


async def audit_actions(tenant_id: UUID, target_id: UUID) -> list[str]:
    async with db.transaction(tenant_id=tenant_id) as tx:
        rows = await tx.connection.fetch(
            "select action from audit_log where tenant_id = $1 and target_id = $2 order by created_at",
            tenant_id, str(target_id),
        )
    return [r["action"] for r in rows]
