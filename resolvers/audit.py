"""The audit log: who (an API key or a token subject) changed what and when, for admins."""

from __future__ import annotations

import base64
import binascii
import dataclasses
from collections.abc import Sequence
from datetime import datetime

from domain import events, tenancy
from domain.errors import Invalid
from resolvers import pagination
from resolvers.context import Context
from tables import events as outbox


@dataclasses.dataclass(frozen=True)
class AuditFilter:
    actor: str | None = None
    aggregate_type: str | None = None
    aggregate_id: str | None = None
    types: Sequence[str] = ()
    since: datetime | None = None
    until: datetime | None = None


async def audit_log(
    ctx: Context, *, first: int | None, after: str | None, where: AuditFilter
) -> pagination.Page[events.Event]:
    """This tenant's events, newest first, keyset-paginated by sequence number."""
    ctx.require(tenancy.ADMIN)
    size = pagination.page_size(first, ctx.settings.max_page_size)
    rows = await outbox.list_events(
        tenant_id=ctx.tenant_id,
        after_seq=None if after is None else _decode(after),
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
        items=[(_encode(event.seq), event) for event in rows[:size]],
        has_next_page=len(rows) > size,
        has_previous_page=after is not None,
    )


def _encode(seq: int) -> str:
    return base64.urlsafe_b64encode(f"audit:{seq}".encode()).decode().rstrip("=")


def _decode(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, seq = raw.partition(":")
        if kind == "audit" and seq.isdigit():
            return int(seq)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise Invalid("after: not a cursor from this connection", fields={"after": "invalid"})
