"""Inventory: stock locations, stock per (variant, location), adjustments and reservations.

Available stock is on hand minus reserved and never negative; every change of on-hand stock
is an adjustment with a reason, kept as history.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from domain import catalog
from domain.errors import Conflict, Invalid

MAX_QUANTITY = 1_000_000_000
MAX_NOTE = 1000
MAX_NAME = 200
MAX_HANDLE = 64


class Reason(enum.Enum):
    RECEIVED = "received"
    SOLD = "sold"
    RETURNED = "returned"
    DAMAGED = "damaged"
    CORRECTION = "correction"


class ReservationStatus(enum.Enum):
    ACTIVE = "active"
    COMMITTED = "committed"
    RELEASED = "released"


@dataclasses.dataclass(frozen=True)
class Location:
    id: UUID
    name: str
    handle: str
    active: bool
    created_at: datetime


@dataclasses.dataclass(frozen=True)
class LocationDraft:
    name: str
    handle: str
    active: bool = True


@dataclasses.dataclass(frozen=True)
class LocationPatch:
    """Fields of a location to change; None leaves a field as it is."""

    name: str | None = None
    handle: str | None = None
    active: bool | None = None

    def apply(self, location: Location) -> LocationDraft:
        return LocationDraft(
            name=location.name if self.name is None else self.name,
            handle=location.handle if self.handle is None else self.handle,
            active=location.active if self.active is None else self.active,
        )


@dataclasses.dataclass(frozen=True)
class StockLevel:
    id: UUID
    variant_id: UUID
    sku: str
    location_id: UUID
    on_hand: int
    reserved: int
    updated_at: datetime

    @property
    def available(self) -> int:
        return max(self.on_hand - self.reserved, 0)

    def holding(self, quantity: int) -> StockLevel:
        """The level once `quantity` more of it is reserved."""
        return dataclasses.replace(self, reserved=self.reserved + quantity)


@dataclasses.dataclass(frozen=True)
class Adjustment:
    id: UUID
    variant_id: UUID
    sku: str
    location_id: UUID
    delta: int
    reason: Reason
    order_id: UUID | None
    note: str
    actor: str
    created_at: datetime


@dataclasses.dataclass(frozen=True)
class Reservation:
    """Stock held at one location for one line of an open order."""

    id: UUID
    order_id: UUID
    variant_id: UUID
    location_id: UUID
    quantity: int
    status: ReservationStatus
    created_at: datetime


@dataclasses.dataclass(frozen=True)
class Change:
    """An adjustment asked for: `delta` units of a variant at a location, for a reason."""

    variant_id: UUID
    location_id: UUID
    delta: int
    reason: Reason
    note: str = ""
    order_id: UUID | None = None


class StockSort(enum.Enum):
    SKU = "sku"
    AVAILABLE = "available"
    ON_HAND = "on_hand"


@dataclasses.dataclass(frozen=True)
class StockFilter:
    location_id: UUID | None = None
    variant_id: UUID | None = None
    sku: str | None = None
    available_below: int | None = None
    """Only levels with fewer than this many units available (low stock)."""


@dataclasses.dataclass(frozen=True)
class AdjustmentFilter:
    variant_id: UUID | None = None
    sku: str | None = None
    location_id: UUID | None = None
    reason: Reason | None = None
    order_id: UUID | None = None
    since: datetime | None = None
    until: datetime | None = None


def check_location(draft: LocationDraft, path: str = "input") -> dict[str, str]:
    errors: dict[str, str] = {}
    if not draft.name.strip() or len(draft.name) > MAX_NAME:
        errors[f"{path}.name"] = f"must be 1-{MAX_NAME} characters"
    if not catalog.HANDLE.fullmatch(draft.handle) or len(draft.handle) > MAX_HANDLE:
        errors[f"{path}.handle"] = f"must be lowercase words joined by '-' (max {MAX_HANDLE})"
    return errors


def check_change(change: Change, path: str = "input") -> dict[str, str]:
    """Shape of an adjustment: stock received or returned comes in, sold or damaged goes out."""
    errors: dict[str, str] = {}
    if change.delta == 0:
        errors[f"{path}.delta"] = "must not be zero"
    elif abs(change.delta) > MAX_QUANTITY:
        errors[f"{path}.delta"] = f"must be at most {MAX_QUANTITY} units either way"
    elif change.reason in (Reason.RECEIVED, Reason.RETURNED) and change.delta < 0:
        errors[f"{path}.delta"] = f"must be positive for reason {change.reason.value}"
    elif change.reason in (Reason.SOLD, Reason.DAMAGED) and change.delta > 0:
        errors[f"{path}.delta"] = f"must be negative for reason {change.reason.value}"
    if len(change.note) > MAX_NOTE:
        errors[f"{path}.note"] = f"must be at most {MAX_NOTE} characters"
    return errors


def check_count(quantity: int, note: str, path: str = "input") -> dict[str, str]:
    errors: dict[str, str] = {}
    if not 0 <= quantity <= MAX_QUANTITY:
        errors[f"{path}.quantity"] = f"must be between 0 and {MAX_QUANTITY}"
    if len(note) > MAX_NOTE:
        errors[f"{path}.note"] = f"must be at most {MAX_NOTE} characters"
    return errors


def check_lines(lines: Sequence[tuple[UUID, int]]) -> dict[UUID, int]:
    """Quantities per variant, lines of the same variant added up."""
    wanted: dict[UUID, int] = {}
    for index, (variant_id, quantity) in enumerate(lines):
        if not 0 < quantity <= MAX_QUANTITY:
            raise Invalid(
                f"quantity must be between 1 and {MAX_QUANTITY}",
                fields={f"lines[{index}].quantity": "out of range"},
            )
        wanted[variant_id] = wanted.get(variant_id, 0) + quantity
    return wanted


def adjusted(level: StockLevel, change: Change, location: str) -> int:
    """On hand after the change; refused when it would take reserved stock or go below zero."""
    on_hand = level.on_hand + change.delta
    if on_hand > MAX_QUANTITY:
        raise Invalid(f"on hand would exceed {MAX_QUANTITY}", fields={"input.delta": "too large"})
    if on_hand < level.reserved:
        raise Conflict(
            f"cannot remove {-change.delta} of SKU {level.sku} at {location}: "
            f"{level.on_hand} on hand, {level.reserved} reserved, {level.available} available"
        )
    return on_hand


def allocate(sku: str, wanted: int, levels: Sequence[StockLevel]) -> list[tuple[StockLevel, int]]:
    """Take `wanted` units from the levels with most available first (ties by location id),
    splitting across locations when one is not enough."""
    total = sum(level.available for level in levels)
    if total < wanted:
        raise Conflict(f"insufficient stock for SKU {sku}: wanted {wanted}, available {total}")
    taken: list[tuple[StockLevel, int]] = []
    for level in sorted(levels, key=lambda lv: (-lv.available, str(lv.location_id))):
        if wanted == 0:
            break
        quantity = min(level.available, wanted)
        if quantity > 0:
            taken.append((level, quantity))
            wanted -= quantity
    return taken


@dataclasses.dataclass(frozen=True)
class Settlement:
    """What happens to an order's reservations in one status: each moves from `source` to
    `target`, on hand and reserved change by `on_hand` and `reserved` times its quantity, and an
    adjustment with `reason` is recorded when on-hand stock changes."""

    source: ReservationStatus
    target: ReservationStatus
    on_hand: int
    reserved: int
    reason: Reason | None


COMMIT = Settlement(ReservationStatus.ACTIVE, ReservationStatus.COMMITTED, -1, -1, Reason.SOLD)
RELEASE = Settlement(ReservationStatus.ACTIVE, ReservationStatus.RELEASED, 0, -1, None)
RESTOCK = Settlement(ReservationStatus.COMMITTED, ReservationStatus.RELEASED, 1, 0, Reason.RETURNED)


def stock_payload(level: StockLevel, **extra: object) -> dict[str, object]:
    """The level after a change, as events carry it."""
    return {
        "sku": level.sku,
        "variantId": str(level.variant_id),
        "locationId": str(level.location_id),
        "onHand": level.on_hand,
        "reserved": level.reserved,
        "available": level.available,
        **extra,
    }


def adjustment_payload(level: StockLevel, adjustment: Adjustment) -> dict[str, object]:
    return stock_payload(
        level,
        delta=adjustment.delta,
        reason=adjustment.reason.value,
        adjustmentId=str(adjustment.id),
        orderId=None if adjustment.order_id is None else str(adjustment.order_id),
    )


def location_payload(location: Location) -> dict[str, object]:
    return {"id": str(location.id), "name": location.name, "handle": location.handle,
            "active": location.active}
