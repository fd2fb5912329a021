"""Live events: the generic `events` stream (core) and the event type that the per-domain
streams (in their modules' schema files) yield. Each payload carries its cursor, the tenant's
event sequence number: pass it as `after` to resume without a gap."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from domain import events
from resolvers import subscriptions as resolve
from schema.common import Ctx


@strawberry.type(name="Event", description="Something that changed, as the outbox recorded it.")
class EventType:
    cursor: str
    seq: int
    type: str
    aggregate_type: str
    aggregate_id: str
    payload: JSON
    correlation_id: str
    actor: str
    created_at: datetime

    @classmethod
    def from_domain(cls, value: events.Event) -> EventType:
        return cls(
            cursor=str(value.seq),
            seq=value.seq,
            type=value.type,
            aggregate_type=value.aggregate_type,
            aggregate_id=value.aggregate_id,
            payload=JSON(dict(value.payload)),
            correlation_id=value.correlation_id,
            actor=value.actor,
            created_at=value.created_at,
        )


@strawberry.type
class EventSubscription:
    @strawberry.subscription(
        description="Every event of this tenant that the credential may read, in order. With "
        "`after`, first the events after that cursor, then live ones."
    )
    async def events(
        self, info: Ctx, types: list[str] | None = None, after: str | None = None
    ) -> AsyncGenerator[EventType, None]:
        wanted = frozenset(types or ())
        match = (lambda e: e.type in wanted) if wanted else (lambda e: True)
        async for event in resolve.stream(info.context, after=after, match=match, field=info.field_name):
            yield EventType.from_domain(event)
