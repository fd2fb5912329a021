"""The audit trail of administrative changes (tables.audit), for a tenant's admins and for the
platform, and the history of domain events (the outbox, pruned after EVENT_RETENTION_DAYS)."""

from __future__ import annotations

import base64
import binascii
import dataclasses
from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from domain import audit, events, tenancy
from domain.errors import Forbidden, Invalid
from resolvers import pagination
from resolvers.context import Context
from tables import audit as trail
from tables import events as outbox


@dataclasses.dataclass(frozen=True)
class EventFilter:
    actor: str | None = None
    aggregate_type: str | None = None
    aggregate_id: str | None = None
    types: Sequence[str] = ()
    since: datetime | None = None
    until: datetime | None = None


async def audit_log(
    ctx: Context, *, page: pagination.Window, where: audit.Filter
) -> pagination.Page[audit.Entry]:
    """This tenant's audit trail, newest first, keyset-paginated by record id."""
    ctx.require(tenancy.ADMIN)
    return await _trail(ctx.tenant_id, page=page, where=where)


async def platform_audit_log(
    ctx: Context, *, page: pagination.Window, where: audit.Filter
) -> pagination.Page[audit.Entry]:
    """The platform's own trail (tenants created, changed, exported, imported, deleted;
    platform keys): platform credentials only."""
    if not ctx.principal.is_platform:
        raise Forbidden("the platform's audit trail needs a platform key")
    return await _trail(None, page=page, where=where)


async def _trail(
    tenant_id: UUID | None, *, page: pagination.Window, where: audit.Filter
) -> pagination.Page[audit.Entry]:
    cursor = None if page.cursor is None else _decode(page.cursor, name=page.argument)
    rows = await trail.entries(
        tenant_id=tenant_id, where=where, before_id=cursor, limit=page.size + 1,
        oldest_first=page.backward,
    )
    return pagination.page_of(
        rows, page, lambda entry: _encode(entry.id),
        lambda: trail.count_entries(tenant_id=tenant_id, where=where),
    )


async def event_log(
    ctx: Context, *, page: pagination.Window, where: EventFilter
) -> pagination.Page[events.Event]:
    """This tenant's events, newest first, keyset-paginated by sequence number."""
    ctx.require(tenancy.ADMIN)
    cursor = None if page.cursor is None else _decode(page.cursor, "event", page.argument)
    rows = await outbox.list_events(
        tenant_id=ctx.tenant_id, after_seq=cursor, descending=not page.backward,
        limit=page.size + 1, types=list(where.types) or None, aggregate_type=where.aggregate_type,
        aggregate_id=where.aggregate_id, actor=where.actor, since=where.since, until=where.until,
    )
    return pagination.page_of(
        rows, page, lambda event: _encode(event.seq, "event"),
        lambda: outbox.count_events(
            tenant_id=ctx.tenant_id, types=list(where.types) or None,
            aggregate_type=where.aggregate_type, aggregate_id=where.aggregate_id,
            actor=where.actor, since=where.since, until=where.until,
        ),
    )


def _encode(number: int, kind: str = "audit") -> str:
    return base64.urlsafe_b64encode(f"{kind}:{number}".encode()).decode().rstrip("=")


def _decode(cursor: str, expected: str = "audit", name: str = "after") -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, seq = raw.partition(":")
        if kind == expected and seq.isdigit():
            return int(seq)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise Invalid(f"{name}: not a cursor from this connection", fields={name: "invalid"})
