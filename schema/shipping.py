"""Shipment types, root fragments and the `shipmentUpdated` stream; shipments on orders."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from datetime import datetime
from typing import TypeAlias

import strawberry

from domain import events, shipping
from domain import orders as order_domain
from resolvers import orders as resolve_orders
from resolvers import shipping as resolve
from resolvers import subscriptions as live
from schema import customers, inputs, orders
from schema.catalog import SortDirection
from schema.common import Connection, Ctx, UserError, attempt, optional_id, parse_id, window
from schema.modules import Module
from schema.subscriptions import EventType

ShipmentStatus: TypeAlias = shipping.ShipmentStatus
strawberry.enum(
    ShipmentStatus, name="ShipmentStatus",
    description="PENDING → SHIPPED → DELIVERED; a shipped or delivered shipment may be RETURNED.",
)


@strawberry.type(description="Units of one order line in a shipment.")
class ShipmentLine:
    order_line_id: strawberry.ID
    sku: str
    quantity: int


@strawberry.type(description="A parcel of an order's units, with its carrier and tracking.")
class Shipment:
    id: strawberry.ID
    order_id: strawberry.ID
    status: ShipmentStatus
    carrier: str
    service: str
    tracking_number: str
    tracking_url: str
    lines: list[ShipmentLine]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_domain(cls, value: shipping.Shipment) -> Shipment:
        return cls(
            id=strawberry.ID(str(value.id)),
            order_id=strawberry.ID(str(value.order_id)),
            status=value.status,
            carrier=value.carrier,
            service=value.service,
            tracking_number=value.tracking_number,
            tracking_url=value.tracking_url,
            lines=[
                ShipmentLine(order_line_id=strawberry.ID(str(line.order_line_id)), sku=line.sku,
                             quantity=line.quantity)
                for line in value.lines
            ],
            created_at=value.created_at,
            updated_at=value.updated_at,
        )

    @strawberry.field(description="The order shipped.")
    async def order(self, info: Ctx) -> orders.Order | None:
        found = await resolve_orders.order(info.context, parse_id(self.order_id, "orderId"))
        return None if found is None else orders.Order.from_domain(found)


@strawberry.type(name="Order")
class OrderWithShipments(orders.Order):
    @strawberry.field(description="Shipments of this order, oldest first.")
    async def shipments(self, info: Ctx) -> list[Shipment]:
        return [Shipment.from_domain(s) for s in await resolve.of_order(info.context, self.domain.id)]


@strawberry.input
class ShipmentLineInput:
    order_line_id: strawberry.ID
    quantity: int


@strawberry.input
class ShipmentCreateInput:
    order_id: strawberry.ID
    lines: list[ShipmentLineInput] = strawberry.field(description="Order lines and units to ship")
    carrier: str = inputs.column(shipping.MAX_CARRIER, default="")
    service: str = inputs.column(shipping.MAX_SERVICE, default="")
    tracking_number: str = inputs.column(shipping.MAX_TRACKING_NUMBER, default="")
    tracking_url: str = inputs.column(shipping.MAX_TRACKING_URL, default="")

    def to_domain(self) -> shipping.ShipmentDraft:
        return shipping.ShipmentDraft(
            order_id=parse_id(self.order_id, "input.orderId"),
            lines=tuple(
                shipping.LineRequest(parse_id(line.order_line_id, f"input.lines[{i}].orderLineId"),
                                     line.quantity)
                for i, line in enumerate(self.lines)
            ),
            tracking=shipping.Tracking(
                self.carrier, self.service, self.tracking_number, self.tracking_url
            ),
        )


@strawberry.input
class ShipmentStatusInput:
    id: strawberry.ID
    status: ShipmentStatus
    carrier: str | None = inputs.column(shipping.MAX_CARRIER, default=None)
    service: str | None = inputs.column(shipping.MAX_SERVICE, default=None)
    tracking_number: str | None = inputs.column(
        shipping.MAX_TRACKING_NUMBER, default=None, description="Set with the change; null keeps it"
    )
    tracking_url: str | None = inputs.column(shipping.MAX_TRACKING_URL, default=None)

    def to_domain(self) -> shipping.StatusChange:
        return shipping.StatusChange(
            shipment_id=parse_id(self.id, "input.id"),
            to=self.status,
            tracking=shipping.Tracking(
                self.carrier, self.service, self.tracking_number, self.tracking_url
            ),
        )


@strawberry.input
class ShipmentFilter:
    order_id: strawberry.ID | None = None
    status: ShipmentStatus | None = None

    def to_domain(self) -> shipping.ShipmentFilter:
        return shipping.ShipmentFilter(
            order_id=optional_id(self.order_id, "filter.orderId"), status=self.status
        )


@strawberry.input
class ShipmentOrder:
    direction: SortDirection = strawberry.field(
        default=SortDirection.ASC, description="By creation time; ties break on id"
    )


@strawberry.type(description="The shipment a mutation made or changed and its order, or why not.")
class ShipmentPayload:
    shipment: Shipment | None = None
    order: orders.Order | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)

    @classmethod
    async def of(
        cls, start: Callable[[], Awaitable[tuple[shipping.Shipment, order_domain.Order]]]
    ) -> ShipmentPayload:
        found, errors = await attempt(customers.started(start))
        if found is None:
            return cls(errors=errors)
        made, order = found
        return cls(shipment=Shipment.from_domain(made), order=orders.Order.from_domain(order))


@strawberry.type
class ShipmentQuery:
    @strawberry.field(description="A shipment by id, or null when this tenant has none such.")
    async def shipment(self, info: Ctx, id: strawberry.ID) -> Shipment | None:
        found = await resolve.shipment(info.context, parse_id(id, "id"))
        return None if found is None else Shipment.from_domain(found)

    @strawberry.field(description="Shipments, keyset-paginated by creation time.")
    async def shipments(
        self,
        info: Ctx,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        filter: ShipmentFilter | None = None,
        order_by: ShipmentOrder | None = None,
    ) -> Connection[Shipment]:
        page = await resolve.shipments_page(
            info.context,
            page=window(info, first, after, last, before),
            where=(filter or ShipmentFilter()).to_domain(),
            descending=(order_by or ShipmentOrder()).direction == SortDirection.DESC,
        )
        return Connection.of(page, Shipment.from_domain)


@strawberry.type
class ShipmentMutation:
    @strawberry.mutation(
        description="Ship units of a paid order's lines (pending until marked shipped); no line "
        "ships more units than it has left."
    )
    async def create_shipment(self, info: Ctx, input: ShipmentCreateInput) -> ShipmentPayload:
        return await ShipmentPayload.of(lambda: resolve.create(info.context, input.to_domain()))

    @strawberry.mutation(
        description="Move a shipment one step (with its tracking, if given); shipping the "
        "order's last units fulfils the order and commits its stock."
    )
    async def change_shipment_status(self, info: Ctx, input: ShipmentStatusInput) -> ShipmentPayload:
        return await ShipmentPayload.of(lambda: resolve.change_status(info.context, input.to_domain()))


@strawberry.type
class ShipmentSubscription:
    @strawberry.subscription(description="Shipment events of one order (or of every order).")
    async def shipment_updated(
        self, info: Ctx, order_id: strawberry.ID | None = None, after: str | None = None
    ) -> AsyncGenerator[EventType, None]:
        wanted = None if order_id is None else str(parse_id(order_id, "orderId"))
        info.context.require(resolve.READ)

        def match(event: events.Event) -> bool:
            return event.aggregate_type == "shipment" and wanted in (None, event.payload.get("orderId"))

        async for event in live.stream(info.context, after=after, match=match, field=info.field_name):
            yield EventType.from_domain(event)


MODULE = Module(
    slug="shipping", query=ShipmentQuery, mutation=ShipmentMutation,
    subscription=ShipmentSubscription, type_overrides=(OrderWithShipments,),
)

__all__ = ["MODULE", "OrderWithShipments", "Shipment", "ShipmentPayload"]
