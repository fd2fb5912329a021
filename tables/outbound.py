"""Webhooks out: the endpoints a tenant sends its events to, and the tables W and L share."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from piccolo.columns import JSONB, Array, BigInt, Boolean, Integer, Text, Timestamptz
from piccolo.columns import UUID as UUIDColumn
from piccolo.table import Table

from domain import audit, outbound
from domain.errors import Conflict, NotFound
from tables import audit as trail
from tables import db
from tables.engine import DB


class EndpointTable(Table, tablename="outbound_endpoints", db=DB):
    id = UUIDColumn(primary_key=True)
    tenant_id = UUIDColumn()
    url = Text()
    description = Text(default="")
    event_types = Array(base_column=Text())
    enabled = Boolean(default=True)
    disabled_reason = Text(null=True, default=None)
    secrets = JSONB(default=[])
    headers = JSONB(default={})
    rate_limit = Integer(null=True, default=None)
    failing_since = Timestamptz(null=True, default=None)
    created_at = Timestamptz()
    updated_at = Timestamptz()


class MessageTable(Table, tablename="outbound_messages", db=DB):
    id = UUIDColumn(primary_key=True)
    tenant_id = UUIDColumn()
    endpoint_id = UUIDColumn()
    event_seq = BigInt(null=True, default=None)
    event_type = Text()
    msg_id = Text()
    body = JSONB(default={})
    status = Text(default="pending")
    attempts = Integer(default=0)
    next_attempt_at = Timestamptz()
    claimed_until = Timestamptz(null=True, default=None)
    last_attempt_at = Timestamptz(null=True, default=None)
    succeeded_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz()
    updated_at = Timestamptz()


class AttemptTable(Table, tablename="outbound_attempts", db=DB):
    id = UUIDColumn(primary_key=True)
    tenant_id = UUIDColumn()
    message_id = UUIDColumn()
    endpoint_id = UUIDColumn()
    attempted_at = Timestamptz()
    duration_ms = Integer(default=0)
    response_status = Integer(null=True, default=None)
    response_body = Text(default="")
    error = Text(null=True, default=None)
    trigger = Text(default="scheduled")


class CursorTable(Table, tablename="outbound_cursors", db=DB):
    tenant_id = UUIDColumn(primary_key=True)
    last_seq = BigInt(default=0)


COLUMNS = (
    "id, tenant_id, url, description, event_types, enabled, disabled_reason, secrets, headers,"
    " rate_limit, failing_since, created_at, updated_at"
)
INSERT = f"""
insert into outbound_endpoints (tenant_id, url, description, event_types, enabled, secrets,
                                headers, rate_limit)
values ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8)
returning {COLUMNS}
"""
UPDATE = f"""
update outbound_endpoints
set url = $3, description = $4, event_types = $5, enabled = $6, disabled_reason = $7,
    secrets = $8::jsonb, headers = $9::jsonb, rate_limit = $10, failing_since = $11,
    updated_at = now()
where tenant_id = $1 and id = $2
returning {COLUMNS}
"""
# Creations of one tenant's endpoints queue here, so that two cannot both pass the count.
LOCK_TENANT = "select pg_advisory_xact_lock(hashtextextended('outbound_endpoints:' || $1, 0))"
Change = Callable[[outbound.Endpoint, datetime], outbound.Endpoint]


def endpoint_of(row: Any) -> outbound.Endpoint:
    """An endpoint from a row of outbound_endpoints (every column)."""
    return outbound.Endpoint(
        id=row["id"], tenant_id=row["tenant_id"], url=row["url"], description=row["description"],
        event_types=tuple(row["event_types"]), enabled=row["enabled"],
        disabled_reason=row["disabled_reason"], headers=_json(row["headers"]),
        rate_limit=row["rate_limit"], failing_since=row["failing_since"],
        created_at=row["created_at"], updated_at=row["updated_at"],
        secrets=tuple(
            outbound.SigningSecret(s["secret"], None if s.get("expires_at") is None
                                   else datetime.fromisoformat(s["expires_at"]))
            for s in _json(row["secrets"])
        ),
    )


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _secrets_json(secrets: tuple[outbound.SigningSecret, ...]) -> str:
    return json.dumps([
        {"secret": s.value, "expires_at": None if s.expires_at is None else s.expires_at.isoformat()}
        for s in secrets
    ])


async def create_endpoint(
    draft: outbound.Draft, secret: str, *, tenant_id: UUID, max_endpoints: int,
    actor: audit.Actor = audit.INTERNAL,
) -> outbound.Endpoint:
    """Store a new endpoint signing with `secret`, unless the tenant has `max_endpoints`."""
    async with db.transaction(tenant_id=tenant_id) as tx:
        await tx.connection.execute(LOCK_TENANT, str(tenant_id))
        count = await tx.connection.fetchval(
            "select count(*) from outbound_endpoints where tenant_id = $1", tenant_id)
        if count >= max_endpoints:
            raise Conflict(f"this tenant has {count} outbound endpoints, the most allowed "
                           "(OUTBOUND_MAX_ENDPOINTS): delete one first")
        row = await tx.connection.fetchrow(
            INSERT, tenant_id, draft.url, draft.description, list(draft.event_types), draft.enabled,
            _secrets_json((outbound.SigningSecret(secret),)), json.dumps(dict(draft.headers)),
            draft.rate_limit,
        )
        endpoint = endpoint_of(row)
        await trail.record(
            tx.connection, actor, "outbound_endpoint.created", "outbound_endpoint", str(endpoint.id),
            tenant_id=tenant_id, after=outbound.audited(endpoint),
        )
    return endpoint


async def get_endpoint(endpoint_id: UUID, *, tenant_id: UUID) -> outbound.Endpoint:
    async with db.transaction(tenant_id=tenant_id) as tx:
        row = await tx.connection.fetchrow(
            f"select {COLUMNS} from outbound_endpoints where tenant_id = $1 and id = $2",
            tenant_id, endpoint_id)
    if row is None:
        raise NotFound(f"no outbound endpoint {endpoint_id}")
    return endpoint_of(row)


async def list_endpoints(*, tenant_id: UUID) -> list[outbound.Endpoint]:
    async with db.transaction(tenant_id=tenant_id) as tx:
        rows = await tx.connection.fetch(
            f"select {COLUMNS} from outbound_endpoints where tenant_id = $1"
            " order by created_at, id", tenant_id)
    return [endpoint_of(row) for row in rows]


async def change_endpoint(
    endpoint_id: UUID, change: Change, action: str, *, tenant_id: UUID,
    actor: audit.Actor = audit.INTERNAL,
) -> outbound.Endpoint:
    """Apply `change` to the endpoint (locked), dropping secrets past their expiry, and record
    `action` in the same transaction."""
    async with db.transaction(tenant_id=tenant_id) as tx:
        row = await tx.connection.fetchrow(
            f"select {COLUMNS} from outbound_endpoints where tenant_id = $1 and id = $2 for update",
            tenant_id, endpoint_id)
        if row is None:
            raise NotFound(f"no outbound endpoint {endpoint_id}")
        before = endpoint_of(row)
        now = datetime.now(UTC)
        new = change(before, now)
        new = dataclasses.replace(new, secrets=tuple(s for s in new.secrets if s.active(now)))
        row = await tx.connection.fetchrow(
            UPDATE, tenant_id, endpoint_id, new.url, new.description, list(new.event_types),
            new.enabled, new.disabled_reason, _secrets_json(new.secrets),
            json.dumps(dict(new.headers)), new.rate_limit, new.failing_since,
        )
        after = endpoint_of(row)
        await trail.record(
            tx.connection, actor, action, "outbound_endpoint", str(endpoint_id), tenant_id=tenant_id,
            before=outbound.audited(before), after=outbound.audited(after),
        )
    return after


async def delete_endpoint(
    endpoint_id: UUID, *, tenant_id: UUID, actor: audit.Actor = audit.INTERNAL
) -> outbound.Endpoint:
    """Delete the endpoint, its messages and their attempts (foreign keys cascade)."""
    async with db.transaction(tenant_id=tenant_id) as tx:
        row = await tx.connection.fetchrow(
            f"delete from outbound_endpoints where tenant_id = $1 and id = $2 returning {COLUMNS}",
            tenant_id, endpoint_id)
        if row is None:
            raise NotFound(f"no outbound endpoint {endpoint_id}")
        endpoint = endpoint_of(row)
        await trail.record(
            tx.connection, actor, "outbound_endpoint.deleted", "outbound_endpoint", str(endpoint_id),
            tenant_id=tenant_id, before=outbound.audited(endpoint),
        )
    return endpoint
