"""Inventory types and root fragments: stock locations, stock levels, adjustments, and stock
on every variant."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime
from uuid import UUID

import strawberry

from domain import events, inventory
from resolvers import inventory as resolve
from resolvers import subscriptions as live
from schema import catalog
from schema.catalog import SortDirection
from schema.common import Connection, Ctx, UserError, attempt, optional_id, parse_id, window
from schema.inventory.arguments import (
    AdjustStockInput,
    SetStockInput,
    StockAdjustmentFilter,
    StockAdjustmentOrder,
    StockLevelFilter,
    StockLevelOrder,
    StockLocationCreateInput,
    StockLocationUpdateInput,
    StockReason,
)
from schema.modules import Module


@strawberry.type(description="A place stock is kept: a warehouse, a store, a supplier.")
class StockLocation:
    id: strawberry.ID
    name: str
    handle: str
    active: bool = strawberry.field(description="Only active locations' stock can be reserved")
    created_at: datetime

    @classmethod
    def from_domain(cls, value: inventory.Location) -> StockLocation:
        return cls(
            id=strawberry.ID(str(value.id)), name=value.name, handle=value.handle,
            active=value.active, created_at=value.created_at,
        )


@strawberry.type(description="Stock of one variant at one location.")
class StockLevel:
    id: strawberry.ID
    sku: str
    on_hand: int = strawberry.field(description="Units physically at the location")
    reserved: int = strawberry.field(description="Units held for open orders")
    available: int = strawberry.field(description="On hand minus reserved; never negative")
    updated_at: datetime
    domain: strawberry.Private[inventory.StockLevel]

    @classmethod
    def from_domain(cls, value: inventory.StockLevel) -> StockLevel:
        return cls(
            id=strawberry.ID(str(value.id)), sku=value.sku, on_hand=value.on_hand,
            reserved=value.reserved, available=value.available, updated_at=value.updated_at,
            domain=value,
        )

    @strawberry.field
    async def location(self, info: Ctx) -> StockLocation:
        return StockLocation.from_domain(await resolve.location_of(info.context, self.domain.location_id))

    @strawberry.field(description="The variant (needs catalog:read as well).")
    async def variant(self, info: Ctx) -> catalog.Variant:
        return catalog.Variant.from_domain(await resolve.variant_of(info.context, self.domain.sku))


@strawberry.type(description="One change of on-hand stock, kept as history.")
class StockAdjustment:
    id: strawberry.ID
    sku: str
    delta: int = strawberry.field(description="Units added (positive) or removed (negative)")
    reason: StockReason
    note: str
    actor: str = strawberry.field(description="The key or token subject that made the change")
    order_id: strawberry.ID | None = strawberry.field(description="The order that sold or returned it")
    created_at: datetime
    domain: strawberry.Private[inventory.Adjustment]

    @classmethod
    def from_domain(cls, value: inventory.Adjustment) -> StockAdjustment:
        order = None if value.order_id is None else strawberry.ID(str(value.order_id))
        return cls(
            id=strawberry.ID(str(value.id)), sku=value.sku, delta=value.delta, reason=value.reason,
            note=value.note, actor=value.actor, order_id=order, created_at=value.created_at,
            domain=value,
        )

    @strawberry.field
    async def location(self, info: Ctx) -> StockLocation:
        return StockLocation.from_domain(await resolve.location_of(info.context, self.domain.location_id))

    @strawberry.field(description="The variant (needs catalog:read as well).")
    async def variant(self, info: Ctx) -> catalog.Variant:
        return catalog.Variant.from_domain(await resolve.variant_of(info.context, self.domain.sku))


@strawberry.type(name="Variant", description="A sellable unit (SKU) of a product, with its stock.")
class VariantStock(catalog.Variant):
    @strawberry.field(description="Stock at each location, by location name.")
    async def stock(self, info: Ctx) -> list[StockLevel]:
        found = await resolve.stock_of(info.context, UUID(self.id))
        return [StockLevel.from_domain(level) for level in found]

    @strawberry.field(description="Units available for sale, summed over active locations.")
    async def available(self, info: Ctx) -> int:
        return await resolve.available_of(info.context, UUID(self.id))



@strawberry.type(description="The location a mutation wrote, or why it did not.")
class StockLocationPayload:
    location: StockLocation | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type(description="The stock level after a change and the adjustment recorded, if any.")
class StockPayload:
    stock_level: StockLevel | None = None
    adjustment: StockAdjustment | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class InventoryQuery:
    @strawberry.field(description="A stock location, or null when this tenant has none such.")
    async def location(self, info: Ctx, id: strawberry.ID) -> StockLocation | None:
        found = await resolve.location(info.context, parse_id(id, "id"))
        return None if found is None else StockLocation.from_domain(found)

    @strawberry.field(description="Stock locations by name; `active` keeps only (in)active ones.")
    async def locations(self, info: Ctx, active: bool | None = None) -> list[StockLocation]:
        return [StockLocation.from_domain(x) for x in await resolve.locations(info.context, active)]

    @strawberry.field(description="Stock levels per (variant, location), keyset-paginated.")
    async def stock_levels(
        self,
        info: Ctx,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        filter: StockLevelFilter | None = None,
        order_by: StockLevelOrder | None = None,
    ) -> Connection[StockLevel]:
        order = order_by or StockLevelOrder()
        page = await resolve.stock_levels(
            info.context, page=window(info, first, after, last, before),
            where=(filter or StockLevelFilter()).to_domain(),
            sort=inventory.StockSort(order.field.value),
            descending=order.direction == SortDirection.DESC,
        )
        return Connection.of(page, StockLevel.from_domain)

    @strawberry.field(description="Stock history: every adjustment, newest first by default.")
    async def stock_adjustments(
        self,
        info: Ctx,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        filter: StockAdjustmentFilter | None = None,
        order_by: StockAdjustmentOrder | None = None,
    ) -> Connection[StockAdjustment]:
        order = order_by or StockAdjustmentOrder()
        page = await resolve.stock_adjustments(
            info.context, page=window(info, first, after, last, before),
            where=(filter or StockAdjustmentFilter()).to_domain(),
            descending=order.direction == SortDirection.DESC,
        )
        return Connection.of(page, StockAdjustment.from_domain)


@strawberry.type
class InventoryMutation:
    @strawberry.mutation
    async def create_location(self, info: Ctx, input: StockLocationCreateInput) -> StockLocationPayload:
        found, errors = await attempt(resolve.create_location(info.context, input.to_domain()))
        return StockLocationPayload(location=_location_or_none(found), errors=errors)

    @strawberry.mutation
    async def update_location(
        self, info: Ctx, id: strawberry.ID, input: StockLocationUpdateInput
    ) -> StockLocationPayload:
        found, errors = await attempt(_update_location(info, id, input))
        return StockLocationPayload(location=_location_or_none(found), errors=errors)

    @strawberry.mutation(description="Add or remove stock for a reason; refused if it would take "
                         "reserved stock or go below zero.")
    async def adjust_stock(self, info: Ctx, input: AdjustStockInput) -> StockPayload:
        found, errors = await attempt(_adjust(info, input))
        return _stock_payload(found, errors)

    @strawberry.mutation(description="Record a stock count; the difference becomes a correction.")
    async def set_stock(self, info: Ctx, input: SetStockInput) -> StockPayload:
        found, errors = await attempt(_set(info, input))
        return _stock_payload(found, errors)


async def _update_location(
    info: Ctx, id: strawberry.ID, input: StockLocationUpdateInput
) -> inventory.Location:
    return await resolve.update_location(info.context, parse_id(id, "id"), input.to_domain())


async def _adjust(
    info: Ctx, input: AdjustStockInput
) -> tuple[inventory.StockLevel, inventory.Adjustment | None]:
    return await resolve.adjust_stock(
        info.context, _ref(input.sku, input.variant_id), parse_id(input.location_id, "input.locationId"),
        input.delta, input.reason, input.note,
    )


async def _set(
    info: Ctx, input: SetStockInput
) -> tuple[inventory.StockLevel, inventory.Adjustment | None]:
    return await resolve.set_stock(
        info.context, _ref(input.sku, input.variant_id), parse_id(input.location_id, "input.locationId"),
        input.quantity, input.note,
    )


def _ref(sku: str | None, variant_id: strawberry.ID | None) -> resolve.VariantRef:
    return resolve.VariantRef(sku=sku, variant_id=optional_id(variant_id, "input.variantId"))


def _stock_payload(
    found: tuple[inventory.StockLevel, inventory.Adjustment | None] | None, errors: list[UserError]
) -> StockPayload:
    if found is None:
        return StockPayload(errors=errors)
    level, made = found
    return StockPayload(
        stock_level=StockLevel.from_domain(level),
        adjustment=None if made is None else StockAdjustment.from_domain(made),
    )


def _location_or_none(found: inventory.Location | None) -> StockLocation | None:
    return None if found is None else StockLocation.from_domain(found)



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
            cursor=str(value.seq), type=value.type, sku=str(payload.get("sku", "")),
            variant_id=strawberry.ID(str(payload.get("variantId", ""))),
            location_id=strawberry.ID(str(payload.get("locationId", ""))),
            on_hand=int(payload.get("onHand", 0)), reserved=int(payload.get("reserved", 0)),
            available=int(payload.get("available", 0)),
            delta=payload.get("delta"), reason=payload.get("reason"), created_at=value.created_at,
        )


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

        async for event in live.stream(info.context, after=after, match=match, field=info.field_name):
            yield InventoryChange.from_domain(event)


MODULE = Module(
    slug="inventory", query=InventoryQuery, mutation=InventoryMutation,
    subscription=InventorySubscription, type_overrides=(VariantStock,),
)


__all__ = [
    "InventoryChange", "InventoryMutation", "InventoryQuery", "InventorySubscription", "MODULE",
    "StockAdjustment", "StockLevel", "StockLocation", "StockLocationPayload", "StockPayload",
    "VariantStock",
]
