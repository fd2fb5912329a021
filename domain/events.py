"""Domain events: what changed, appended to the outbox in the same transaction as the change."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from typing import Any


@dataclasses.dataclass(frozen=True)
class WriteMeta:
    """Who makes a change and under which correlation id (request, job) it travels."""

    actor: str
    correlation_id: str


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


def draft(type: str, aggregate_id: object, payload: Mapping[str, Any] | None = None) -> Draft:
    """An event whose aggregate type is the first part of its type (`order.created` -> order)."""
    return Draft(
        type=type,
        aggregate_type=type.split(".", 1)[0],
        aggregate_id=str(aggregate_id),
        payload=dict(payload or {}),
    )
