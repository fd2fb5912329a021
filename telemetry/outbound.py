"""Recording outgoing webhook deliveries (the metrics are defined in telemetry.metrics)."""

from __future__ import annotations

from collections.abc import Mapping

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
