"""Domain events: what changed, appended to the outbox in the same transaction as the change."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from domain import modules
from domain.errors import DomainError, Invalid


@dataclasses.dataclass(frozen=True)
class WriteMeta:
    """Who makes a change and under which correlation id (request, job) it travels."""

    actor: str
    correlation_id: str
    traceparent: str | None = None
    """The W3C trace context of the work making the change, when it is traced."""


@dataclasses.dataclass(frozen=True)
class Draft:
    type: str
    aggregate_type: str
    aggregate_id: str
    payload: Mapping[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Event:
    """A committed event; `seq` is strictly increasing per tenant, without gaps."""

    seq: int
    type: str
    aggregate_type: str
    aggregate_id: str
    payload: Mapping[str, Any]
    correlation_id: str
    actor: str
    created_at: datetime
    traceparent: str | None = None
    """The trace context of the work that wrote it, when traced: linked from its publish and
    pushes, never shown to subscribers."""


def draft(type: str, aggregate_id: object, payload: Mapping[str, Any] | None = None) -> Draft:
    """An event whose aggregate type is the first part of its type (`order.created` -> order)."""
    return Draft(
        type=type,
        aggregate_type=type.split(".", 1)[0],
        aggregate_id=str(aggregate_id),
        payload=dict(payload or {}),
    )


class CursorExpired(DomainError):
    """The cursor is older than the events kept: reload, then subscribe without it."""

    code = "CURSOR_EXPIRED"
    http_status = 410


class ResyncRequired(DomainError):
    """The subscriber fell too far behind; resume from `cursor` (details) to miss nothing."""

    code = "RESYNC_REQUIRED"
    http_status = 409


# Which scope lets a principal see an event, by the aggregate it is about (`order` of
# `order.created`), from the event types the modules declare.
READ_SCOPES: Mapping[str, str] = {
    type.split(".", 1)[0]: scope
    for spec in modules.MODULES.values()
    for type, scope in spec.events.items()
}


def read_scope(event: Event) -> str:
    """Events of an aggregate without a module scope are for admins."""
    return READ_SCOPES.get(event.aggregate_type, "admin")


def parse_cursor(cursor: str) -> int:
    if not cursor.isdigit() or len(cursor) > 18:
        raise Invalid("after: not a cursor of this stream", fields={"after": "invalid"})
    return int(cursor)
