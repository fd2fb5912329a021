"""The event envelope: how a committed event travels from the outbox relay (workers.relay) to
every API process's fan-out (server.fanout), over one Redis pub/sub channel.

A message is one event as a JSON object, or a JSON array of consecutive events. Its id,
`<tenant>:<seq>`, is what consumers deduplicate by: a relay may publish an event twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson

from domain import events

CHANNEL = "tg:events"
"""The Redis pub/sub channel every relay publishes to and every fan-out subscribes to."""

MESSAGE_BYTES = 256 * 1024
"""A message carries consecutive events up to about this size (at least one event): each API
process then reads one message per chunk of a batch instead of one per event."""


def encode(tenant_id: UUID, event: events.Event) -> bytes:
    """One event as a message of its own; its trace context only when it has one."""
    body: dict[str, Any] = {
        "id": f"{tenant_id}:{event.seq}",
        "tenantId": str(tenant_id),
        "seq": event.seq,
        "type": event.type,
        "aggregateType": event.aggregate_type,
        "aggregateId": event.aggregate_id,
        "payload": event.payload,
        "correlationId": event.correlation_id,
        "actor": event.actor,
        "createdAt": event.created_at.isoformat(),
    }
    if event.traceparent is not None:
        body["traceparent"] = event.traceparent
    return orjson.dumps(body)


def encode_batch(batch: Sequence[tuple[UUID, events.Event]]) -> list[bytes]:
    """The batch as JSON arrays of events, in order, each about MESSAGE_BYTES at most."""
    chunks: list[bytes] = []
    bodies: list[bytes] = []
    size = 0
    for tenant_id, event in batch:
        body = encode(tenant_id, event)
        if bodies and size + len(body) > MESSAGE_BYTES:
            chunks.append(b"[" + b",".join(bodies) + b"]")
            bodies, size = [], 0
        bodies.append(body)
        size += len(body) + 1
    if bodies:
        chunks.append(b"[" + b",".join(bodies) + b"]")
    return chunks


def decode(data: bytes) -> list[Any]:
    """The raw events of one message, in order; ValueError when it is not JSON. Each is read
    with `tenant_of` and `event_of`, which raise ValueError, KeyError or TypeError when it is
    malformed."""
    raw = orjson.loads(data)
    return raw if isinstance(raw, list) else [raw]


def tenant_of(raw: Any) -> UUID:
    """The tenant of a raw event: read before the event, which only a listened tenant needs."""
    return UUID(raw["tenantId"])


def event_of(raw: Any) -> events.Event:
    return events.Event(
        seq=int(raw["seq"]),
        type=raw["type"],
        aggregate_type=raw["aggregateType"],
        aggregate_id=raw["aggregateId"],
        payload=raw.get("payload") or {},
        correlation_id=raw.get("correlationId", ""),
        actor=raw.get("actor", ""),
        created_at=datetime.fromisoformat(raw["createdAt"]),
        traceparent=raw.get("traceparent"),
    )
