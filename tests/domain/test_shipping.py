"""Shipping rules without a database: the status machine, what is left to ship, when an order
is fulfilled, and the module's place among the others."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from domain import events, orders, shipping, tenancy
from domain.errors import Conflict, Invalid

S = orders.OrderStatus
T = shipping.ShipmentStatus
NOW = datetime(2026, 1, 1, tzinfo=UTC)
ORDER_ID = uuid.uuid4()


def order(status: orders.OrderStatus = S.PAID) -> orders.Order:
    return orders.Order(
        id=ORDER_ID, number=7, customer_id=None, status=status, currency="EUR",
        price_list_id=None, subtotal=0, discount_total=0, tax_total=0, total=0,
        idempotency_key=None, request_hash=None, created_at=NOW, updated_at=NOW,
    )


def line(sku: str, quantity: int) -> orders.OrderLine:
    return orders.OrderLine(
        id=uuid.uuid4(), order_id=ORDER_ID, variant_id=uuid.uuid4(), sku=sku, title=sku,
        quantity=quantity, unit_price=100, discount=0, line_total=100 * quantity, currency="EUR",
        position=0,
    )


def shipment(status: shipping.ShipmentStatus, *parts: tuple[orders.OrderLine, int]) -> shipping.Shipment:
    return shipping.Shipment(
        id=uuid.uuid4(), order_id=ORDER_ID, status=status, carrier="", service="", tracking_number="",
        tracking_url="", lines=tuple(shipping.ShipmentLine(o.id, o.sku, q) for o, q in parts),
        created_at=NOW, updated_at=NOW,
    )


def draft(*parts: tuple[orders.OrderLine, int]) -> shipping.ShipmentDraft:
    return shipping.ShipmentDraft(ORDER_ID, tuple(shipping.LineRequest(o.id, q) for o, q in parts))


LEGAL = {(T.PENDING, T.SHIPPED), (T.SHIPPED, T.DELIVERED), (T.SHIPPED, T.RETURNED), (T.DELIVERED, T.RETURNED)}


@pytest.mark.parametrize("before", list(T))
@pytest.mark.parametrize("to", list(T))
def test_only_the_four_steps_of_the_machine_are_legal(before: shipping.ShipmentStatus,
                                                       to: shipping.ShipmentStatus) -> None:
    if (before, to) in LEGAL:
        shipping.check_transition(shipment(before), to)
        return
    with pytest.raises(Conflict) as raised:
        shipping.check_transition(shipment(before), to)
    assert raised.value.details == {"from": before.value, "to": to.value}


def test_what_is_left_of_a_line_bounds_a_new_shipment() -> None:
    tee, mug = line("TEE", 3), line("MUG", 1)
    held = [shipment(T.PENDING, (tee, 1)), shipment(T.RETURNED, (tee, 1))]

    shipping.check_against(order(), [tee, mug], held, draft((tee, 1), (mug, 1)))
    with pytest.raises(Conflict, match="TEE: 2 to ship, but 1 of 3 left"):
        shipping.check_against(order(), [tee, mug], held, draft((mug, 1), (tee, 2)))


def test_a_line_of_another_order_is_bad_input() -> None:
    with pytest.raises(Invalid) as raised:
        shipping.check_against(order(), [line("TEE", 1)], [], draft((line("TEE", 1), 1)))
    assert raised.value.fields == {"input.lines[0].orderLineId": "not a line of this order"}


@pytest.mark.parametrize("status", [S.PENDING, S.CANCELLED, S.REFUNDED])
def test_an_unpaid_or_closed_order_does_not_ship(status: orders.OrderStatus) -> None:
    tee = line("TEE", 1)
    with pytest.raises(Conflict, match=f"order #7 is {status.value} and cannot be shipped"):
        shipping.check_against(order(status), [tee], [], draft((tee, 1)))


def test_an_order_completes_once_every_unit_has_left() -> None:
    tee, mug = line("TEE", 2), line("MUG", 1)
    partly = [shipment(T.DELIVERED, (tee, 2)), shipment(T.PENDING, (mug, 1))]
    fully = [shipment(T.DELIVERED, (tee, 1)), shipment(T.RETURNED, (tee, 1)), shipment(T.SHIPPED, (mug, 1))]

    assert not shipping.completes(order(), [tee, mug], partly)
    assert shipping.completes(order(), [tee, mug], fully)
    assert not shipping.completes(order(S.FULFILLED), [tee, mug], fully)


def test_drafts_are_checked_field_by_field() -> None:
    tee = line("TEE", 1)
    bad = shipping.ShipmentDraft(
        ORDER_ID, (shipping.LineRequest(tee.id, 0), shipping.LineRequest(tee.id, 1)),
        shipping.Tracking(carrier="x" * 65, tracking_url="javascript:alert(1)"),
    )

    assert shipping.check_draft(bad) == {
        "input.carrier": "must be at most 64 characters",
        "input.trackingUrl": "must be an http(s) URL",
        "input.lines[0].quantity": "must be between 1 and 10000",
        "input.lines[1].orderLineId": "repeated in this shipment",
    }


def test_the_module_requires_orders_and_its_events_are_read_with_shipping_read() -> None:
    assert tenancy.MODULES["shipping"].requires == ("orders",)
    with pytest.raises(Invalid, match="shipping requires orders"):
        tenancy.check_modules(["catalog", "customers", "inventory", "shipping"])
    made = events.draft(shipping.CREATED, uuid.uuid4())
    event = events.Event(1, made.type, made.aggregate_type, made.aggregate_id, {}, "", "", NOW)
    assert events.read_scope(event) == "shipping:read"
    assert tenancy.check_scopes(["shipping:read", "shipping:write"]) == {"shipping:read", "shipping:write"}
