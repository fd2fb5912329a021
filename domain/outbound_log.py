"""The delivery log of outgoing webhooks: each message per endpoint with its status, each
attempt at sending it, and the rules for redelivering, recovering and keeping them."""

from __future__ import annotations

import dataclasses
import enum
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from domain.errors import Invalid


class MessageStatus(enum.Enum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    RETRYING = "retrying"
    EXHAUSTED = "exhausted"


class StatusFilter(enum.Enum):
    """A message status, or FAILED: retrying or exhausted (its last attempt failed)."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    RETRYING = "retrying"
    EXHAUSTED = "exhausted"
    FAILED = "failed"


FAILED = (MessageStatus.RETRYING.value, MessageStatus.EXHAUSTED.value)
TRIGGERS = ("scheduled", "manual", "recovery")
RESPONSE_BODY_BYTES = 1024


def statuses(wanted: StatusFilter | None) -> tuple[str, ...] | None:
    """The stored statuses a filter matches; None for every status."""
    if wanted is None:
        return None
    return FAILED if wanted is StatusFilter.FAILED else (wanted.value,)


def due_again(status: str) -> str:
    """The status a redelivered message takes: a message that failed keeps counting its attempts
    as retrying; any other is pending again."""
    return MessageStatus.RETRYING.value if status in FAILED else MessageStatus.PENDING.value


@dataclasses.dataclass(frozen=True)
class Message:
    id: UUID
    endpoint_id: UUID
    msg_id: str
    event_type: str
    event_seq: int | None
    status: MessageStatus
    attempts: int
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    succeeded_at: datetime | None
    created_at: datetime
    body: dict[str, Any]

    @property
    def cursor(self) -> str | None:
        """The event's cursor as subscriptions give it; None for a test message."""
        return None if self.event_seq is None else str(self.event_seq)


@dataclasses.dataclass(frozen=True)
class Attempt:
    id: UUID
    message_id: UUID
    attempted_at: datetime
    duration_ms: int
    response_status: int | None
    response_body: str
    error: str | None
    trigger: str


@dataclasses.dataclass(frozen=True)
class Retention:
    """How long finished messages stay in the log: succeeded ones OUTBOUND_RETENTION_DAYS,
    exhausted ones OUTBOUND_EXHAUSTED_RETENTION_DAYS (longer: they are what recovery replays).
    Pending and retrying messages are never pruned."""

    succeeded: timedelta
    exhausted: timedelta

    @classmethod
    def of_days(cls, succeeded: int, exhausted: int) -> Retention:
        return cls(succeeded=timedelta(days=succeeded), exhausted=timedelta(days=exhausted))


def check_since(since: datetime, now: datetime) -> datetime:
    """A recovery's start: a time with its zone, not in the future."""
    if since.tzinfo is None:
        raise Invalid("since: give a time zone (e.g. 2026-12-01T00:00:00Z)", fields={"since": "no time zone"})
    if since > now:
        raise Invalid("since: must not be in the future", fields={"since": "in the future"})
    return since
