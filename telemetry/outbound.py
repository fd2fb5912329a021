"""Recording outgoing webhook deliveries (the metrics are defined in telemetry.metrics)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import orjson

from domain import outbound_delivery as delivery
from telemetry import metrics

ATTEMPT_OUTCOMES = ("success", "failure", "timeout", "refused")
"""success: a 2xx; failure: any other answer or a broken connection; timeout: no answer in
time; refused: not sent (the address was refused, or the connection was)."""
MESSAGE_OUTCOMES = ("succeeded", "retrying", "exhausted")
ENDPOINT_STATES = ("healthy", "failing", "disabled")

for _outcome in ATTEMPT_OUTCOMES:
    metrics.OUTBOUND_ATTEMPTS.labels(_outcome)
for _outcome in MESSAGE_OUTCOMES:
    metrics.OUTBOUND_MESSAGES.labels(_outcome)


def observe_attempt(outcome: str, status: str, latency_seconds: float | None = None) -> None:
    """One attempt recorded: its outcome (ATTEMPT_OUTCOMES), the message's new status
    (MESSAGE_OUTCOMES) and, when it succeeded, the seconds from the event's commit
    (events.created_at) to the endpoint's answer."""
    metrics.OUTBOUND_ATTEMPTS.labels(outcome).inc()
    metrics.OUTBOUND_MESSAGES.labels(status).inc()
    if latency_seconds is not None:
        metrics.OUTBOUND_LATENCY.observe(max(latency_seconds, 0.0))


def set_backlog(waiting: Mapping[str, int]) -> None:
    """Messages waiting, by endpoint state (tables.outbound_log.backlog)."""
    for state in ENDPOINT_STATES:
        metrics.OUTBOUND_BACKLOG.labels(state).set(waiting.get(state, 0))


def outcome(status: int | None, error: str | None) -> str:
    """An attempt's outcome (ATTEMPT_OUTCOMES) from its answer's status or its error."""
    if status is not None:
        return "success" if 200 <= status < 300 else "failure"
    text = (error or "").lower()
    if text.startswith("timeout"):
        return "timeout"
    return "refused" if "refused" in text or "connection failed" in text else "failure"


def observe(answer: delivery.Answer, status: str, body: bytes, at: datetime) -> None:
    """The engine's hook, once an attempt is recorded: `answer` as sent at `at`, the message's
    new `status`; a success's latency runs from the body's timestamp (the event's commit) to
    the answer."""
    latency = None
    if answer.succeeded:
        stamp = orjson.loads(body).get("timestamp")
        if isinstance(stamp, str):
            committed = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
            latency = (at - committed).total_seconds() + answer.duration_ms / 1000
    observe_attempt(outcome(answer.status, answer.error), status, latency)
