"""Inventory's enums and input types: what clients send to list and change stock."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TypeAlias

import strawberry

from domain import inventory
from schema import inputs
from schema.catalog import SortDirection
from schema.common import optional_id

StockReason: TypeAlias = inventory.Reason
strawberry.enum(
    StockReason, name="StockReason",
    description="Why stock changed: RECEIVED and RETURNED add, SOLD and DAMAGED remove, "
    "CORRECTION either way.",
)


@strawberry.enum(description="What a stock level list is ordered by; ties break on id.")
class StockLevelSortField(enum.Enum):
    SKU = "sku"
    AVAILABLE = "available"
    ON_HAND = "on_hand"



@strawberry.input
class StockLevelFilter:
    location_id: strawberry.ID | None = None
    variant_id: strawberry.ID | None = None
    sku: str | None = None
    available_below: int | None = strawberry.field(
        default=None, description="Low stock: fewer than this many units available"
    )

    def to_domain(self) -> inventory.StockFilter:
        return inventory.StockFilter(
            location_id=optional_id(self.location_id, "filter.locationId"),
            variant_id=optional_id(self.variant_id, "filter.variantId"),
            sku=self.sku,
            available_below=self.available_below,
        )


@strawberry.input
class StockLevelOrder:
    field: StockLevelSortField = StockLevelSortField.SKU
    direction: SortDirection = SortDirection.ASC


@strawberry.input
class StockAdjustmentFilter:
    variant_id: strawberry.ID | None = None
    sku: str | None = None
    location_id: strawberry.ID | None = None
    reason: StockReason | None = None
    order_id: strawberry.ID | None = None
    since: datetime | None = strawberry.field(default=None, description="Made at or after")
    until: datetime | None = strawberry.field(default=None, description="Made before")

    def to_domain(self) -> inventory.AdjustmentFilter:
        return inventory.AdjustmentFilter(
            variant_id=optional_id(self.variant_id, "filter.variantId"),
            sku=self.sku,
            location_id=optional_id(self.location_id, "filter.locationId"),
            reason=self.reason,
            order_id=optional_id(self.order_id, "filter.orderId"),
            since=self.since,
            until=self.until,
        )


@strawberry.input(description="History is ordered by time; newest first unless ASC.")
class StockAdjustmentOrder:
    direction: SortDirection = SortDirection.DESC


@strawberry.input
class StockLocationCreateInput:
    name: str = inputs.column(inventory.MAX_NAME)
    handle: str = inputs.column(inventory.MAX_HANDLE)
    active: bool = True

    def to_domain(self) -> inventory.LocationDraft:
        return inventory.LocationDraft(name=self.name, handle=self.handle, active=self.active)


@strawberry.input
class StockLocationUpdateInput:
    name: str | None = inputs.column(inventory.MAX_NAME, default=None)
    handle: str | None = inputs.column(inventory.MAX_HANDLE, default=None)
    active: bool | None = None

    def to_domain(self) -> inventory.LocationPatch:
        return inventory.LocationPatch(name=self.name, handle=self.handle, active=self.active)


@strawberry.input(description="Name the variant by sku or variantId (exactly one).")
class AdjustStockInput:
    location_id: strawberry.ID
    delta: int = strawberry.field(description="Units to add (positive) or remove (negative)")
    reason: StockReason
    sku: str | None = None
    variant_id: strawberry.ID | None = None
    note: str = ""


@strawberry.input(description="A counted quantity; the difference is recorded as a correction.")
class SetStockInput:
    location_id: strawberry.ID
    quantity: int
    sku: str | None = None
    variant_id: strawberry.ID | None = None
    note: str = ""
