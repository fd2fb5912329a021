"""Idempotency keys on mutations (Stripe's model): a retried request replays the first answer.

A key belongs to one credential of one tenant. Its record is claimed before the mutation runs,
marked `executed` in the transaction of every change the mutation commits, and holds the
answer once the mutation has answered. What a later request with the same key gets follows
from that record alone (`verdict`)."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import datetime
from typing import Any

import orjson

from domain.errors import BadRequest, Conflict, DomainError

MAX_KEY_LENGTH = 255
HEADER = "Idempotency-Key"


class KeyInvalid(BadRequest):
    code = "IDEMPOTENCY_KEY_INVALID"


class KeyReused(DomainError):
    code = "IDEMPOTENCY_KEY_REUSED"
    http_status = 422


class KeyInUse(Conflict):
    code = "IDEMPOTENCY_KEY_IN_USE"


class ResponseLost(Conflict):
    code = "IDEMPOTENCY_RESPONSE_LOST"


class ClaimLost(Conflict):
    """Raised in a transaction of a request whose claim was taken over: it rolls back."""

    code = "IDEMPOTENCY_KEY_IN_USE"


@dataclasses.dataclass(frozen=True)
class Record:
    """What is stored under a key: the request's hash, whether a change of it committed,
    and its answer once it was given (status None: finished without one)."""

    request_hash: str
    executed_at: datetime | None
    finished_at: datetime | None
    status: int | None
    body: bytes | None
    stale: bool
    """Claimed longer ago than an operation may run: its request is gone."""


@dataclasses.dataclass(frozen=True)
class Replay:
    status: int
    body: bytes


def check_key(value: str) -> str:
    """The key as sent: 1 to 255 printable ASCII characters, not only spaces."""
    if not value.strip():
        raise KeyInvalid(f"the {HEADER} header is empty: send a unique key (e.g. a UUID)")
    if len(value) > MAX_KEY_LENGTH:
        raise KeyInvalid(f"the {HEADER} header is longer than {MAX_KEY_LENGTH} characters")
    if not all(" " <= char <= "~" for char in value):
        raise KeyInvalid(f"the {HEADER} header must be printable ASCII characters")
    return value


def request_hash(
    query: str, operation_name: str | None, variables: Any, price_list: str | None
) -> str:
    """What makes two requests the same: document, operation, variables (key order aside)
    and the price list header, which changes what a new order costs."""
    canonical = orjson.dumps(
        [query, operation_name, variables or {}, price_list], option=orjson.OPT_SORT_KEYS
    )
    return hashlib.sha256(canonical).hexdigest()


def verdict(record: Record, digest: str, retention_hours: int) -> Replay:
    """The stored answer to replay, or the error that refuses this request."""
    if record.request_hash != digest:
        raise KeyReused(
            f"this {HEADER} was already used with another operation or other variables in the "
            f"last {retention_hours} h; send a new key for a new request"
        )
    if record.finished_at is not None and record.status is not None and record.body is not None:
        return Replay(record.status, record.body)
    if record.executed_at is not None and (record.finished_at is not None or record.stale):
        raise ResponseLost(
            f"the first request with this {HEADER} made its change, but its answer was lost "
            "(an outage or a restart); it will not run again: read the result, or send a new key "
            "to make another change"
        )
    raise KeyInUse(
        f"a request with this {HEADER} is still running; retry after it has answered",
        details={"retryAfterSeconds": 1},
    )
