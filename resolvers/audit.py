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
    ctx: Context, *, first: int | None, after: str | None, where: audit.Filter
) -> pagination.Page[audit.Entry]:
    """This tenant's audit trail, newest first, keyset-paginated by record id."""
    ctx.require(tenancy.ADMIN)
    return await _trail(ctx, ctx.tenant_id, first=first, after=after, where=where)


async def platform_audit_log(
    ctx: Context, *, first: int | None, after: str | None, where: audit.Filter
) -> pagination.Page[audit.Entry]:
    """The platform's own trail (tenants created, changed, exported, imported, deleted;
    platform keys): platform credentials only."""
    if not ctx.principal.is_platform:
        raise Forbidden("the platform's audit trail needs a platform key")
    return await _trail(ctx, None, first=first, after=after, where=where)


async def _trail(
    ctx: Context, tenant_id: UUID | None, *, first: int | None, after: str | None,
    where: audit.Filter,
) -> pagination.Page[audit.Entry]:
    size = pagination.page_size(first, ctx.settings.max_page_size)
    rows = await trail.entries(
        tenant_id=tenant_id, where=where, before_id=None if after is None else _decode(after),
        limit=size + 1,
    )
    return pagination.Page(
        items=[(_encode(entry.id), entry) for entry in rows[:size]],
        has_next_page=len(rows) > size,
        has_previous_page=after is not None,
    )


async def event_log(
    ctx: Context, *, first: int | None, after: str | None, where: EventFilter
) -> pagination.Page[events.Event]:
    """This tenant's events, newest first, keyset-paginated by sequence number."""
    ctx.require(tenancy.ADMIN)
    size = pagination.page_size(first, ctx.settings.max_page_size)
    rows = await outbox.list_events(
        tenant_id=ctx.tenant_id,
        after_seq=None if after is None else _decode(after, "event"),
        types=list(where.types) or None,
        aggregate_type=where.aggregate_type,
        aggregate_id=where.aggregate_id,
        actor=where.actor,
        since=where.since,
        until=where.until,
        descending=True,
        limit=size + 1,
    )
    return pagination.Page(
        items=[(_encode(event.seq, "event"), event) for event in rows[:size]],
        has_next_page=len(rows) > size,
        has_previous_page=after is not None,
    )


def _encode(number: int, kind: str = "audit") -> str:
    return base64.urlsafe_b64encode(f"{kind}:{number}".encode()).decode().rstrip("=")


def _decode(cursor: str, expected: str = "audit") -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, seq = raw.partition(":")
        if kind == expected and seq.isdigit():
            return int(seq)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise Invalid("after: not a cursor from this connection", fields={"after": "invalid"})
