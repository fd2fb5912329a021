"""Shipments of an order: what left the warehouse, by line and quantity, and where it is.

A shipment is PENDING when made, then SHIPPED, then DELIVERED; a shipped or delivered one may
come back (RETURNED). Every unit of an order line is shipped at most once. An order is
fulfilled (its reserved stock committed) once every unit of every line has shipped."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from uuid import UUID

from domain import orders
from domain.errors import Conflict, require_valid

MAX_CARRIER = 64
MAX_SERVICE = 64
MAX_TRACKING_NUMBER = 128
MAX_TRACKING_URL = 2048
MAX_LINES = orders.MAX_LINES
CREATED = "shipment.created"
STATUS_CHANGED = "shipment.status_changed"
SHIPPABLE = frozenset({orders.OrderStatus.PAID, orders.OrderStatus.FULFILLED})


class ShipmentStatus(enum.Enum):
    PENDING = "pending"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    RETURNED = "returned"


TRANSITIONS: Mapping[ShipmentStatus, frozenset[ShipmentStatus]] = {
    ShipmentStatus.PENDING: frozenset({ShipmentStatus.SHIPPED}),
    ShipmentStatus.SHIPPED: frozenset({ShipmentStatus.DELIVERED, ShipmentStatus.RETURNED}),
    ShipmentStatus.DELIVERED: frozenset({ShipmentStatus.RETURNED}),
    ShipmentStatus.RETURNED: frozenset(),
}
HAS_SHIPPED = frozenset({ShipmentStatus.SHIPPED, ShipmentStatus.DELIVERED, ShipmentStatus.RETURNED})


@dataclasses.dataclass(frozen=True)
class ShipmentLine:
    order_line_id: UUID
    sku: str
    quantity: int


@dataclasses.dataclass(frozen=True)
class Shipment:
    id: UUID
    order_id: UUID
    status: ShipmentStatus
    carrier: str
    service: str
    tracking_number: str
    tracking_url: str
    lines: tuple[ShipmentLine, ...]
    created_at: datetime
    updated_at: datetime


@dataclasses.dataclass(frozen=True)
class LineRequest:
    order_line_id: UUID
    quantity: int


@dataclasses.dataclass(frozen=True)
class Tracking:
    carrier: str | None = None
    service: str | None = None
    tracking_number: str | None = None
    tracking_url: str | None = None


@dataclasses.dataclass(frozen=True)
class ShipmentDraft:
    order_id: UUID
    lines: tuple[LineRequest, ...]
    tracking: Tracking = Tracking()


@dataclasses.dataclass(frozen=True)
class StatusChange:
    shipment_id: UUID
    to: ShipmentStatus
    tracking: Tracking = Tracking()


@dataclasses.dataclass(frozen=True)
class ShipmentFilter:
    order_id: UUID | None = None
    status: ShipmentStatus | None = None


def check_tracking(tracking: Tracking, path: str = "input") -> dict[str, str]:
    limits = {
        "carrier": (tracking.carrier, MAX_CARRIER),
        "service": (tracking.service, MAX_SERVICE),
        "trackingNumber": (tracking.tracking_number, MAX_TRACKING_NUMBER),
        "trackingUrl": (tracking.tracking_url, MAX_TRACKING_URL),
    }
    errors = {
        f"{path}.{name}": f"must be at most {limit} characters"
        for name, (value, limit) in limits.items() if value is not None and len(value) > limit
    }
    url = tracking.tracking_url
    if url and not url.startswith(("https://", "http://")):
        errors[f"{path}.trackingUrl"] = "must be an http(s) URL"
    return errors


def check_draft(draft: ShipmentDraft, path: str = "input") -> dict[str, str]:
    errors = check_tracking(draft.tracking, path)
    if not 1 <= len(draft.lines) <= MAX_LINES:
        errors[f"{path}.lines"] = f"must hold 1-{MAX_LINES} lines"
    seen: set[UUID] = set()
    for index, line in enumerate(draft.lines):
        if not 1 <= line.quantity <= orders.MAX_QUANTITY:
            errors[f"{path}.lines[{index}].quantity"] = f"must be between 1 and {orders.MAX_QUANTITY}"
        if line.order_line_id in seen:
            errors[f"{path}.lines[{index}].orderLineId"] = "repeated in this shipment"
        seen.add(line.order_line_id)
    return errors


def shipped_quantities(shipments: Iterable[Shipment], *, shipped_only: bool = False) -> dict[UUID, int]:
    """Units per order line in the given shipments (only those that have left, if asked)."""
    totals: dict[UUID, int] = {}
    for shipment in shipments:
        if shipped_only and shipment.status not in HAS_SHIPPED:
            continue
        for line in shipment.lines:
            totals[line.order_line_id] = totals.get(line.order_line_id, 0) + line.quantity
    return totals


def check_shippable(order: orders.Order) -> None:
    """Only a paid order ships (a fulfilled one may still record its parcels); a pending,
    cancelled or refunded one is a conflict."""
    if order.status not in SHIPPABLE:
        raise Conflict(
            f"order #{order.number} is {order.status.value} and cannot be shipped",
            details={"orderStatus": order.status.value},
        )


def check_against(
    order: orders.Order,
    lines: Sequence[orders.OrderLine],
    held: Iterable[Shipment],
    draft: ShipmentDraft,
    path: str = "input",
) -> None:
    """Each line must be one of the order's, and no line ships more than is left of it."""
    check_shippable(order)
    by_id = {line.id: line for line in lines}
    unknown = {
        f"{path}.lines[{index}].orderLineId": "not a line of this order"
        for index, line in enumerate(draft.lines) if line.order_line_id not in by_id
    }
    require_valid(unknown)
    allocated = shipped_quantities(held)
    for index, line in enumerate(draft.lines):
        ordered = by_id[line.order_line_id]
        left = ordered.quantity - allocated.get(line.order_line_id, 0)
        if line.quantity > left:
            raise Conflict(
                f"{ordered.sku}: {line.quantity} to ship, but {left} of {ordered.quantity} left",
                details={"field": f"{path}.lines[{index}].quantity", "left": left},
            )


def check_transition(shipment: Shipment, to: ShipmentStatus) -> None:
    if to not in TRANSITIONS[shipment.status]:
        raise Conflict(
            f"shipment cannot go from {shipment.status.value} to {to.value}",
            details={"from": shipment.status.value, "to": to.value},
        )


def completes(order: orders.Order, lines: Sequence[orders.OrderLine], shipments: Iterable[Shipment]) -> bool:
    """Whether the order is now to be fulfilled: paid, and every unit of every line shipped."""
    if order.status != orders.OrderStatus.PAID:
        return False
    shipped = shipped_quantities(shipments, shipped_only=True)
    return all(shipped.get(line.id, 0) >= line.quantity for line in lines)


def created_payload(shipment: Shipment) -> dict[str, object]:
    return {
        "id": str(shipment.id),
        "orderId": str(shipment.order_id),
        "status": shipment.status.value,
        "carrier": shipment.carrier,
        "service": shipment.service,
        "trackingNumber": shipment.tracking_number,
        "lines": [
            {"orderLineId": str(line.order_line_id), "sku": line.sku, "quantity": line.quantity}
            for line in shipment.lines
        ],
    }


def status_payload(shipment: Shipment, before: ShipmentStatus) -> dict[str, object]:
    return {
        "id": str(shipment.id),
        "orderId": str(shipment.order_id),
        "from": before.value,
        "to": shipment.status.value,
        "trackingNumber": shipment.tracking_number,
    }
