"""Deliveries claimed from the inbox in batches: what a claim holds, and how often one that
fails is tried."""

from __future__ import annotations

import dataclasses
from typing import Any
from uuid import UUID

MAX_ATTEMPTS = 5
"""A delivery failing on its own (not rejected by a rule) is dead after this many attempts."""
FIRST_DELAY = 0.5
LONGEST_DELAY = 30.0
"""Backoff after a failed attempt: drawn up to FIRST_DELAY doubled per attempt, at most this."""
ORDERED_FLOWS = frozenset({"inventory-flow"})
"""Flows whose deliveries must apply in delivery order: one batch at a time per tenant."""


@dataclasses.dataclass(frozen=True)
class Claimed:
    """An inbox row locked by a batch's transaction."""

    id: UUID
    delivery_id: str
    payload: dict[str, Any]
    correlation_id: str
    traceparent: str | None
    attempts: int


def reason(code: str, message: str) -> str:
    return f"{code}: {message}"[:2000]
