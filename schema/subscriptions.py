"""Live events: the generic `events` stream (core) and the per-domain streams that the
orders, inventory and metrics modules add. Each payload carries its cursor, the tenant's
event sequence number: pass it as `after` to resume without a gap."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from domain import events
from resolvers import subscriptions as resolve
from schema.common import Ctx, parse_id


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


@strawberry.type(description="A stock level after a change (adjustment, reservation, sale).")
class InventoryChange:
    cursor: str
    type: str
    sku: str
    variant_id: strawberry.ID
    location_id: strawberry.ID
    on_hand: int
    reserved: int
    available: int
    delta: int | None
    reason: str | None
    created_at: datetime

    @classmethod
    def from_domain(cls, value: events.Event) -> InventoryChange:
        payload = value.payload
        return cls(
            cursor=str(value.seq),
            type=value.type,
            sku=str(payload.get("sku", "")),
            variant_id=strawberry.ID(str(payload.get("variantId", ""))),
            location_id=strawberry.ID(str(payload.get("locationId", ""))),
            on_hand=int(payload.get("onHand", 0)),
            reserved=int(payload.get("reserved", 0)),
            available=int(payload.get("available", 0)),
            delta=payload.get("delta"),
            reason=payload.get("reason"),
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
        async for event in resolve.stream(info.context, after=after, match=match):
            yield EventType.from_domain(event)


@strawberry.type
class OrderSubscription:
    @strawberry.subscription(description="Events of one order (or of every order).")
    async def order_updated(
        self, info: Ctx, order_id: strawberry.ID | None = None, after: str | None = None
    ) -> AsyncGenerator[EventType, None]:
        wanted = None if order_id is None else str(parse_id(order_id, "orderId"))
        info.context.require("orders:read")

        def match(event: events.Event) -> bool:
            return event.aggregate_type == "order" and wanted in (None, event.aggregate_id)

        async for event in resolve.stream(info.context, after=after, match=match):
            yield EventType.from_domain(event)


@strawberry.type
class InventorySubscription:
    @strawberry.subscription(description="Stock changes, optionally of one SKU or location.")
    async def inventory_changed(
        self, info: Ctx, sku: str | None = None, location_id: strawberry.ID | None = None,
        after: str | None = None,
    ) -> AsyncGenerator[InventoryChange, None]:
        location = None if location_id is None else str(parse_id(location_id, "locationId"))
        info.context.require("inventory:read")

        def match(event: events.Event) -> bool:
            payload = event.payload
            return (
                event.aggregate_type == "inventory"
                and sku in (None, payload.get("sku"))
                and location in (None, payload.get("locationId"))
            )

        async for event in resolve.stream(info.context, after=after, match=match):
            yield InventoryChange.from_domain(event)


@strawberry.type
class MetricsSubscription:
    @strawberry.subscription(description="Custom metrics as they are recorded.")
    async def metrics_updated(
        self, info: Ctx, after: str | None = None
    ) -> AsyncGenerator[EventType, None]:
        info.context.require("metrics:read")

        def match(event: events.Event) -> bool:
            return event.type == "metrics.updated"

        async for event in resolve.stream(info.context, after=after, match=match):
            yield EventType.from_domain(event)
