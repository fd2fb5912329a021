"""The audit trail's storage (table `audit_log`, migration 2026-12-05T10:40): appended in the
transaction of each administrative change, read by a tenant's admins (their tenant's rows) and
by the platform (its own rows, `tenant_id` null), pruned after AUDIT_RETENTION_DAYS.

The app role may insert, read and delete (prune) records, never update them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

from domain import audit
from tables import db

INSERT = """
insert into audit_log (tenant_id, actor_kind, actor_id, action, target_type, target_id,
                       before, after, request_id, client_address)
values ($1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb, $9, $10)
"""


async def record(
    connection: Any,
    actor: audit.Actor,
    action: str,
    target_type: str,
    target_id: str,
    *,
    tenant_id: UUID | None,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
) -> None:
    """Record `action` on (`target_type`, `target_id`) by `actor`, in the transaction open on
    `connection` (a tables.db transaction's `tx.connection`, or an asyncpg connection inside
    `connection.transaction()`), so that the change and its record commit or vanish together.
    `tenant_id` is the tenant whose trail holds it; None puts it in the platform's trail.
    Secrets are dropped from `before`/`after` (domain.audit.SECRET_KEYS)."""
    if not connection.is_in_transaction():
        raise RuntimeError("an audit record is written in the transaction of the change it records")
    await connection.execute(
        INSERT, tenant_id, actor.kind, actor.id, audit.check_action(action), target_type,
        target_id, _json(audit.redact(before)), _json(audit.redact(after)), actor.request_id,
        actor.client_address,
    )


def _json(values: Mapping[str, Any] | None) -> str | None:
    return None if values is None else json.dumps(values, default=_plain, sort_keys=True)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, set | frozenset):
        return sorted(value)
    return str(value)


async def entries(
    *, tenant_id: UUID | None, where: audit.Filter, before_id: int | None, limit: int,
    oldest_first: bool = False,
) -> list[audit.Entry]:
    """Newest first, keyset-paginated by id: a tenant's trail, or with `tenant_id` None the
    platform's own. `oldest_first`: ids above `before_id` instead, oldest first."""
    conditions, args = _conditions(tenant_id, where)
    if before_id is not None:
        args.append(before_id)
        conditions.append(f"id {'>' if oldest_first else '<'} ${len(args)}")
    args.append(limit)
    sql = (f"select * from audit_log where {' and '.join(conditions)} "
           f"order by id {'asc' if oldest_first else 'desc'} limit ${len(args)}")
    scope = db.platform() if tenant_id is None else db.transaction(tenant_id=tenant_id)
    async with scope as tx:
        rows = await tx.connection.fetch(sql, *args)
    return [_entry(row) for row in rows]


async def count_entries(*, tenant_id: UUID | None, where: audit.Filter) -> int:
    """How many entries `where` selects in a tenant's trail (or the platform's), every page."""
    conditions, args = _conditions(tenant_id, where)
    sql = f"select count(*) from audit_log where {' and '.join(conditions)}"
    scope = db.platform() if tenant_id is None else db.transaction(tenant_id=tenant_id)
    async with scope as tx:
        return int(await tx.connection.fetchval(sql, *args))


def _conditions(tenant_id: UUID | None, where: audit.Filter) -> tuple[list[str], list[Any]]:
    args: list[Any] = []

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    conditions = ["tenant_id is null" if tenant_id is None else f"tenant_id = {arg(tenant_id)}"]
    if where.action_prefix:
        prefix = where.action_prefix.rstrip(".")
        conditions.append(f"(action = {arg(prefix)} or starts_with(action, {arg(prefix + '.')}))")
    if where.action is not None:
        conditions.append(f"action = {arg(where.action)}")
    if where.actor is not None:
        kind, actor_id = audit.parse_subject(where.actor)
        conditions.append(f"actor_kind = {arg(kind)} and actor_id = {arg(actor_id)}")
    if where.target_type is not None:
        conditions.append(f"target_type = {arg(where.target_type)}")
    if where.target_id is not None:
        conditions.append(f"target_id = {arg(where.target_id)}")
    if where.since is not None:
        conditions.append(f"created_at >= {arg(where.since)}")
    if where.until is not None:
        conditions.append(f"created_at < {arg(where.until)}")
    return conditions, args


def _entry(row: Any) -> audit.Entry:
    return audit.Entry(
        id=row["id"],
        tenant_id=row["tenant_id"],
        actor=audit.Actor(
            row["actor_kind"], row["actor_id"], request_id=row["request_id"],
            client_address=row["client_address"],
        ),
        action=row["action"],
        target_type=row["target_type"],
        target_id=row["target_id"],
        before=None if row["before"] is None else db.json_field(row["before"]),
        after=None if row["after"] is None else db.json_field(row["after"]),
        created_at=row["created_at"],
    )


async def prune(*, older_than: datetime) -> int:
    """Delete records made before `older_than`, in every trail; returns how many."""
    async with db.platform() as tx:
        status = await tx.connection.execute("delete from audit_log where created_at < $1", older_than)
    return int(status.split()[-1])
