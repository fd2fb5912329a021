"""Webhooks out, delivery: the signed request (Standard Webhooks), the body an event becomes, the
retry schedule and what an answer means. Pure: workers.outbound sends, tables.outbound_messages
stores."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import random
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from uuid import UUID, uuid5

from domain import events, outbound
from domain.env import ConfigError, parse

DISABLED = outbound.OWN_EVENT_TYPES[0]
"""`webhook_endpoint.disabled`: the event written to a tenant's outbox when one of its endpoints
is disabled (410 Gone, or failing for longer than OUTBOUND_DISABLE_AFTER_SECONDS); admins read
it (no module scope)."""
TEST = "test"
"""The type of a `sendTestWebhook` message."""

SCHEDULE = (0.0, 5.0, 300.0, 1_800.0, 7_200.0, 18_000.0, 36_000.0, 36_000.0)
"""Seconds before each attempt (Svix, Standard Webhooks): immediately, 5 s, 5 min, 30 min,
2 h, 5 h, 10 h, 10 h; a message failing all eight is exhausted."""
JITTER = 0.1
"""A retry's delay varies by up to this share either way, so endpoints that failed together
are not all retried in the same instant."""
RESPONSE_BODY_BYTES = 1024


@dataclasses.dataclass(frozen=True)
class DeliverySettings:
    """Delivery settings (README "Webhooks out: delivery"); each env variable is OUTBOUND_ and
    the field's name in capitals."""

    timeout_seconds: float = 15.0
    concurrency: int = 20
    """Requests in flight at once per worker process, over all endpoints."""
    endpoint_concurrency: int = 1
    """Requests in flight at once per endpoint; above 1, order is kept only per batch start."""
    retry_schedule: tuple[float, ...] = SCHEDULE
    retry_after_max_seconds: float = 3_600.0
    ordered_attempts: int = 3
    """A failing message holds back the later messages of its endpoint for this many attempts
    (by default immediately, 5 s, 5 min); then they go and it keeps its own schedule."""
    disable_after_seconds: float = 5 * 86_400.0
    sweep_seconds: float = 5.0
    poll_seconds: float = 1.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> DeliverySettings:
        return cls(
            timeout_seconds=parse(environ, "OUTBOUND_TIMEOUT_SECONDS", float, cls.timeout_seconds,
                                  minimum=0.1, maximum=300),
            concurrency=parse(environ, "OUTBOUND_CONCURRENCY", int, cls.concurrency, minimum=1),
            endpoint_concurrency=parse(environ, "OUTBOUND_ENDPOINT_CONCURRENCY", int,
                                       cls.endpoint_concurrency, minimum=1, maximum=100),
            retry_schedule=parse(environ, "OUTBOUND_RETRY_SCHEDULE", schedule, cls.retry_schedule),
            retry_after_max_seconds=parse(environ, "OUTBOUND_RETRY_AFTER_MAX_SECONDS", float,
                                          cls.retry_after_max_seconds, minimum=0),
            ordered_attempts=parse(environ, "OUTBOUND_ORDERED_ATTEMPTS", int, cls.ordered_attempts,
                                   minimum=1),
            disable_after_seconds=parse(environ, "OUTBOUND_DISABLE_AFTER_SECONDS", float,
                                        cls.disable_after_seconds, minimum=1),
            sweep_seconds=parse(environ, "OUTBOUND_SWEEP_SECONDS", float, cls.sweep_seconds,
                                minimum=0.05),
            poll_seconds=parse(environ, "OUTBOUND_POLL_SECONDS", float, cls.poll_seconds, minimum=0.05),
        )

    @property
    def lease_seconds(self) -> float:
        """How long a claimed message is a worker's: past it (the worker died) it is due again."""
        return self.timeout_seconds * 2 + 5


def schedule(value: str) -> tuple[float, ...]:
    """`0,5,300`: seconds before each attempt, the first one included."""
    delays = tuple(float(part) for part in value.split(","))
    if any(delay < 0 for delay in delays):
        raise ConfigError("OUTBOUND_RETRY_SCHEDULE: delays must not be negative")
    return delays


def message_id(endpoint_id: UUID, seq: int) -> str:
    """The `webhook-id` of an event for an endpoint: the same on every attempt and replay, so
    receivers can drop duplicates."""
    return "msg_" + uuid5(endpoint_id, str(seq)).hex


def body(event: events.Event) -> dict[str, Any]:
    """What an endpoint receives: the event as the `events` subscription shows it (ids scoped
    to the tenant, its cursor); never the tenant id, trace context or anything internal."""
    return {
        "type": event.type,
        "timestamp": _iso(event.created_at),
        "data": {
            "cursor": str(event.seq),
            "seq": event.seq,
            "aggregateType": event.aggregate_type,
            "aggregateId": event.aggregate_id,
            "correlationId": event.correlation_id,
            "actor": event.actor,
            "payload": dict(event.payload),
        },
    }


def test_body(endpoint_id: UUID, at: datetime) -> dict[str, Any]:
    return {"type": TEST, "timestamp": _iso(at), "data": {"endpointId": str(endpoint_id)}}


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def signature(secrets: Sequence[str], msg_id: str, timestamp: int, payload: bytes) -> str:
    """`webhook-signature`: `v1,<base64 HMAC-SHA256 of "id.timestamp.body">` per secret,
    space-separated; the key is the base64 after `whsec_`."""
    signed = f"{msg_id}.{timestamp}.".encode() + payload
    return " ".join(
        "v1," + base64.b64encode(hmac.new(_key(secret), signed, hashlib.sha256).digest()).decode()
        for secret in secrets
    )


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix("whsec_"))


def headers(
    custom: Mapping[str, str], secrets: Sequence[str], msg_id: str, at: datetime, payload: bytes
) -> dict[str, str]:
    """The request's headers: the endpoint's own, then the signature (which they never name)."""
    timestamp = int(at.timestamp())
    return {
        **custom,
        "content-type": "application/json",
        "user-agent": "tenantgraph-webhooks/1",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(secrets, msg_id, timestamp, payload),
    }


@dataclasses.dataclass(frozen=True)
class Answer:
    """What one attempt got: a response (status, first KB of body, Retry-After) or an error."""

    status: int | None
    body: str = ""
    error: str | None = None
    retry_after: float | None = None
    duration_ms: int = 0

    @property
    def succeeded(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def gone(self) -> bool:
        return self.status == 410


def retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds from a Retry-After header (delay-seconds or an HTTP date); None if absent or bad."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        at = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max((at - now).total_seconds(), 0.0)


def next_delay(
    attempts: int, answer: Answer, settings: DeliverySettings, rand: random.Random | None = None
) -> float | None:
    """Seconds until the next attempt after `attempts` failed ones, or None: exhausted. A
    Retry-After (429, 503) pushes it back, up to OUTBOUND_RETRY_AFTER_MAX_SECONDS."""
    if attempts >= len(settings.retry_schedule):
        return None
    delay = settings.retry_schedule[attempts]
    delay *= 1 + (rand or random).uniform(-JITTER, JITTER)
    if answer.retry_after is not None and answer.status in (429, 503):
        delay = max(delay, min(answer.retry_after, settings.retry_after_max_seconds))
    return delay


def disabled_payload(endpoint_id: UUID, reason: str) -> dict[str, Any]:
    return {"endpointId": str(endpoint_id), "reason": reason}
