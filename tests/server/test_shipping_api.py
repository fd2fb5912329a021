"""Shipments through /graphql: partial shipments by line and quantity, the status machine, the
order fulfilled (and its stock committed) once every unit has shipped, typed refusals that
write nothing, queries, scopes, and tenants without the module."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from domain.config import Settings
from schema import build
from tables import events as outbox
from tests.documents import codes, error_codes, error_fields, payload
from tests.shipments import (
    SHIPMENT,
    SHIPMENTS,
    SHIPPING_MODULES,
    line_id,
    move,
    open_shipping_shop,
    order_with_shipments,
    paid_order,
    ship,
    ship_lines,
    shipped,
)
from tests.shop import MODULES, Shop, change_document, open_shop

DHL = {"carrier": "DHL", "service": "Express", "trackingUrl": "https://dhl.example/track/1"}


@pytest.fixture
async def shop(make_tenant: Any) -> Shop:
    return await open_shipping_shop(make_tenant)


@pytest.fixture
async def order(shop: Shop) -> dict[str, Any]:
    """Paid: two tees (S) and one mug."""
    return await paid_order(shop, shop.line("TEE-S", 2), shop.line("MUG", 1))


async def shipments_of(shop: Shop, order_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = (await order_with_shipments(shop, order_id))["shipments"]
    return found


async def test_a_shipment_is_made_pending_with_its_lines_and_tracking(
    shop: Shop, order: dict[str, Any]
) -> None:
    made = await shipped(shop, order["id"], ship_lines(order, 1, 0), **DHL)

    shipment = made["shipment"]
    assert (shipment["status"], shipment["carrier"], shipment["service"]) == ("PENDING", "DHL", "Express")
    assert shipment["trackingUrl"] == "https://dhl.example/track/1"
    assert shipment["lines"] == [{"orderLineId": line_id(order, 0), "sku": "TEE-S", "quantity": 1}]
    assert made["order"] == {"id": order["id"], "status": "PAID"}
    [created] = await outbox.list_events(tenant_id=shop.id, types=["shipment.created"])
    assert created.aggregate_type == "shipment" and created.aggregate_id == shipment["id"]
    assert created.payload["orderId"] == order["id"]
    assert created.payload["lines"] == [{"orderLineId": line_id(order, 0), "sku": "TEE-S", "quantity": 1}]


async def test_the_order_is_fulfilled_when_its_last_units_ship(shop: Shop, order: dict[str, Any]) -> None:
    first = (await shipped(shop, order["id"], ship_lines(order, 2, 0)))["shipment"]
    second = (await shipped(shop, order["id"], ship_lines(order, 0, 1)))["shipment"]

    partly = payload(await move(shop, first["id"], "SHIPPED"), "changeShipmentStatus")
    stock_while_partly = await shop.stock("TEE-S")
    done = payload(await move(shop, second["id"], "SHIPPED"), "changeShipmentStatus")

    assert partly["order"]["status"] == "PAID"
    assert stock_while_partly == (10, 2)
    assert done["order"] == {"id": order["id"], "status": "FULFILLED"}
    assert await shop.status(order["id"]) == "FULFILLED"
    assert await shop.stock("TEE-S") == (8, 0)
    assert await shop.stock("MUG") == (9, 0)
    assert {status for status, _ in await shop.reservations(order["id"])} == {"committed"}
    assert (await shop.event_types())[-2:] == ["shipment.status_changed", "order.status_changed"]
    changed = await outbox.list_events(tenant_id=shop.id, types=["order.status_changed"])
    assert (changed[-1].payload["from"], changed[-1].payload["to"]) == ("paid", "fulfilled")


async def test_a_line_ships_in_parts_until_none_is_left(shop: Shop, order: dict[str, Any]) -> None:
    await shipped(shop, order["id"], ship_lines(order, 1, 0))
    await shipped(shop, order["id"], ship_lines(order, 1, 1))
    before = await shop.event_types()

    body = await ship(shop, order["id"], ship_lines(order, 1, 0))

    assert error_codes(body, "createShipment") == ["CONFLICT"]
    assert "TEE-S: 1 to ship, but 0 of 2 left" in body["data"]["createShipment"]["errors"][0]["message"]
    assert len(await shipments_of(shop, order["id"])) == 2
    assert await shop.event_types() == before


async def test_shipping_more_than_ordered_is_a_conflict_and_writes_nothing(
    shop: Shop, order: dict[str, Any]
) -> None:
    before = await shop.event_types()

    body = await ship(shop, order["id"], ship_lines(order, 1, 2))

    assert error_codes(body, "createShipment") == ["CONFLICT"]
    assert await shipments_of(shop, order["id"]) == []
    assert await shop.event_types() == before


async def test_a_line_of_another_order_is_bad_input(shop: Shop, order: dict[str, Any]) -> None:
    other = await paid_order(shop, shop.line("TEE-M", 1))

    body = await ship(shop, order["id"], [{"orderLineId": line_id(other, 0), "quantity": 1}])

    assert error_fields(body, "createShipment") == {"input.lines[0].orderLineId": "not a line of this order"}
    assert await shipments_of(shop, order["id"]) == []


@pytest.mark.parametrize(("paid", "change"), [
    (False, None), (False, "cancelOrder"), (True, "cancelOrder"), (True, "refundOrder"),
])
async def test_only_a_paid_order_ships(shop: Shop, paid: bool, change: str | None) -> None:
    made = await paid_order(shop, shop.line("TEE-S", 1), paid=paid)
    if change is not None:
        payload(await shop.gql(change_document(change), {"id": made["id"]}), change)
    before = await shop.event_types()

    body = await ship(shop, made["id"], ship_lines(made, 1))

    assert error_codes(body, "createShipment") == ["CONFLICT"]
    assert await shipments_of(shop, made["id"]) == []
    assert await shop.event_types() == before


async def test_an_order_fulfilled_by_hand_still_records_its_parcels(
    shop: Shop, order: dict[str, Any]
) -> None:
    payload(await shop.change(order["id"], "FULFILLED"), "fulfillOrder")
    stock = await shop.stock("TEE-S")
    made = (await shipped(shop, order["id"], ship_lines(order, 2, 1)))["shipment"]

    moved = payload(await move(shop, made["id"], "SHIPPED"), "changeShipmentStatus")

    assert moved["order"]["status"] == "FULFILLED"
    assert await shop.stock("TEE-S") == stock
    assert (await shop.event_types())[-2:] == ["shipment.created", "shipment.status_changed"]


async def test_a_pending_shipment_of_a_cancelled_order_does_not_ship(
    shop: Shop, order: dict[str, Any]
) -> None:
    made = (await shipped(shop, order["id"], ship_lines(order, 2, 1)))["shipment"]
    payload(await shop.change(order["id"], "CANCELLED"), "cancelOrder")
    before = await shop.event_types()

    body = await move(shop, made["id"], "SHIPPED")

    assert error_codes(body, "changeShipmentStatus") == ["CONFLICT"]
    assert [s["status"] for s in await shipments_of(shop, order["id"])] == ["PENDING"]
    assert await shop.status(order["id"]) == "CANCELLED"
    assert await shop.event_types() == before


async def test_legal_steps_record_tracking_and_their_events(shop: Shop, order: dict[str, Any]) -> None:
    made = (await shipped(shop, order["id"], ship_lines(order, 1, 0), **DHL))["shipment"]

    on_way = payload(await move(shop, made["id"], "SHIPPED", trackingNumber="JD0001"), "changeShipmentStatus")
    delivered = payload(await move(shop, made["id"], "DELIVERED"), "changeShipmentStatus")
    returned = payload(await move(shop, made["id"], "RETURNED"), "changeShipmentStatus")

    assert on_way["shipment"]["trackingNumber"] == "JD0001"
    assert on_way["shipment"]["carrier"] == "DHL"
    assert delivered["shipment"]["status"] == "DELIVERED"
    assert returned["shipment"]["status"] == "RETURNED"
    assert returned["shipment"]["trackingNumber"] == "JD0001"
    changes = await outbox.list_events(tenant_id=shop.id, types=["shipment.status_changed"])
    assert [(e.payload["from"], e.payload["to"]) for e in changes] == [
        ("pending", "shipped"), ("shipped", "delivered"), ("delivered", "returned"),
    ]
    assert await shop.status(order["id"]) == "PAID"


@pytest.mark.parametrize(("steps", "to"), [
    ((), "DELIVERED"), ((), "RETURNED"), ((), "PENDING"), (("SHIPPED",), "SHIPPED"),
    (("SHIPPED",), "PENDING"), (("SHIPPED", "DELIVERED"), "SHIPPED"),
    (("SHIPPED", "RETURNED"), "DELIVERED"), (("SHIPPED", "RETURNED"), "RETURNED"),
])
async def test_illegal_steps_are_conflicts_and_change_nothing(
    shop: Shop, order: dict[str, Any], steps: tuple[str, ...], to: str
) -> None:
    made = (await shipped(shop, order["id"], ship_lines(order, 1, 0)))["shipment"]
    for step in steps:
        payload(await move(shop, made["id"], step), "changeShipmentStatus")
    before = await shop.event_types()

    body = await move(shop, made["id"], to, trackingNumber="NEVER")

    assert error_codes(body, "changeShipmentStatus") == ["CONFLICT"]
    [found] = await shipments_of(shop, order["id"])
    assert (found["status"], found["trackingNumber"]) == ((steps or ("PENDING",))[-1], "")
    assert await shop.event_types() == before


async def test_malformed_shipments_are_refused_naming_each_field(shop: Shop, order: dict[str, Any]) -> None:
    repeated = [{"orderLineId": line_id(order, 0), "quantity": 1}] * 2
    zero = ship_lines(order, 0, 0) + [{"orderLineId": line_id(order, 1), "quantity": 0}]

    none = await ship(shop, order["id"], [])
    twice = await ship(shop, order["id"], repeated, trackingUrl="ftp://nope")
    nothing = await ship(shop, order["id"], zero)
    bad_id = await ship(shop, order["id"], [{"orderLineId": "nope", "quantity": 1}])

    assert error_fields(none, "createShipment") == {"input.lines": "must hold 1-100 lines"}
    assert error_fields(twice, "createShipment") == {
        "input.trackingUrl": "must be an http(s) URL",
        "input.lines[1].orderLineId": "repeated in this shipment",
    }
    assert error_fields(nothing, "createShipment") == {
        "input.lines[0].quantity": "must be between 1 and 10000"
    }
    assert error_fields(bad_id, "createShipment") == {"input.lines[0].orderLineId": "invalid id"}
    assert await shipments_of(shop, order["id"]) == []


async def test_an_overlong_carrier_is_refused_before_anything_runs(shop: Shop, order: dict[str, Any]) -> None:
    response = await shop.tenant.post(
        "mutation S($o: ID!, $l: ID!) { createShipment(input: {orderId: $o, carrier: \""
        + "x" * 65 + "\", lines: [{orderLineId: $l, quantity: 1}]}) { errors { code } } }",
        {"o": order["id"], "l": line_id(order, 0)},
    )

    assert response.status_code == 400
    assert codes(response.json()) == ["BAD_USER_INPUT"]
    assert await shipments_of(shop, order["id"]) == []


async def test_unknown_order_and_shipment_are_not_found(shop: Shop, order: dict[str, Any]) -> None:
    missing = "00000000-0000-4000-8000-000000000000"

    no_order = await ship(shop, missing, ship_lines(order, 1))
    no_shipment = await move(shop, missing, "SHIPPED")

    assert error_codes(no_order, "createShipment") == ["NOT_FOUND"]
    assert error_codes(no_shipment, "changeShipmentStatus") == ["NOT_FOUND"]


async def test_shipments_read_by_id_by_order_and_by_page(shop: Shop, order: dict[str, Any]) -> None:
    first = (await shipped(shop, order["id"], ship_lines(order, 1, 0)))["shipment"]
    second = (await shipped(shop, order["id"], ship_lines(order, 1, 1)))["shipment"]
    payload(await move(shop, second["id"], "SHIPPED"), "changeShipmentStatus")
    other = await paid_order(shop, shop.line("MUG", 1))
    third = (await shipped(shop, other["id"], ship_lines(other, 1)))["shipment"]

    by_id = await shop.gql(SHIPMENT, {"id": first["id"]})
    page_one = await shop.gql(SHIPMENTS, {"first": 2})
    cursor = page_one["data"]["shipments"]["pageInfo"]["endCursor"]
    page_two = await shop.gql(SHIPMENTS, {"first": 2, "after": cursor})
    of_order = await shop.gql(
        SHIPMENTS, {"filter": {"orderId": order["id"]}, "orderBy": {"direction": "DESC"}}
    )
    on_way = await shop.gql(SHIPMENTS, {"filter": {"status": "SHIPPED"}})

    assert by_id["data"]["shipment"] == first
    assert [e["node"]["id"] for e in page_one["data"]["shipments"]["edges"]] == [first["id"], second["id"]]
    assert page_one["data"]["shipments"]["pageInfo"]["hasNextPage"] is True
    assert [e["node"]["id"] for e in page_two["data"]["shipments"]["edges"]] == [third["id"]]
    assert page_two["data"]["shipments"]["pageInfo"]["hasNextPage"] is False
    assert [e["node"]["id"] for e in of_order["data"]["shipments"]["edges"]] == [second["id"], first["id"]]
    assert [e["node"]["id"] for e in on_way["data"]["shipments"]["edges"]] == [second["id"]]
    assert [s["id"] for s in await shipments_of(shop, order["id"])] == [first["id"], second["id"]]


async def test_concurrent_shipments_never_ship_a_unit_twice(shop: Shop, order: dict[str, Any]) -> None:
    bodies = await asyncio.gather(*(ship(shop, order["id"], ship_lines(order, 1, 0)) for _ in range(5)))

    made = [b for b in bodies if b["data"]["createShipment"]["shipment"] is not None]
    refused = [error_codes(b, "createShipment") for b in bodies if b not in made]
    assert len(made) == 2
    assert refused == [["CONFLICT"]] * 3
    assert len(await shipments_of(shop, order["id"])) == 2


# Scopes and module sets


async def test_scopes_guard_reads_and_writes(shop: Shop, order: dict[str, Any]) -> None:
    made = (await shipped(shop, order["id"], ship_lines(order, 1, 0)))["shipment"]
    orders_only = await shop.tenant.key_with("orders:write")
    reader = await shop.tenant.key_with("shipping:read")
    writer = await shop.tenant.key_with("shipping:write")

    hidden = await shop.gql(SHIPMENT, {"id": made["id"]}, key=orders_only)
    read = await shop.gql(SHIPMENT, {"id": made["id"]}, key=reader)
    refused = await shop.gql(
        "mutation M($i: ShipmentStatusInput!) { changeShipmentStatus(input: $i) { errors { code } } }",
        {"i": {"id": made["id"], "status": "SHIPPED"}}, key=reader,
    )
    moved = payload(await shop.gql(
        "mutation M($i: ShipmentStatusInput!) { changeShipmentStatus(input: $i) {"
        " shipment { status } errors { code } } }",
        {"i": {"id": made["id"], "status": "SHIPPED"}}, key=writer,
    ), "changeShipmentStatus")

    assert codes(hidden) == ["FORBIDDEN"]
    assert read["data"]["shipment"]["id"] == made["id"]
    assert codes(refused) == ["FORBIDDEN"]
    assert moved["shipment"] == {"status": "SHIPPED"}


@pytest.mark.parametrize("document", [
    "{ shipments { edges { node { id } } } }",
    "query { shipment(id: \"00000000-0000-4000-8000-000000000000\") { id } }",
    "query Q($id: ID!) { order(id: $id) { shipments { id } } }",
    "mutation { createShipment(input: {orderId: \"x\", lines: []}) { errors { code } } }",
])
async def test_tenants_without_the_module_have_no_shipping_fields(make_tenant: Any, document: str) -> None:
    shop = await open_shop(make_tenant, modules=MODULES)
    made = await shop.place(shop.line("MUG"))

    body = await shop.gql(document, {"id": made["id"]} if "$id" in document else None)

    assert codes(body) == ["GRAPHQL_VALIDATION_FAILED"]


def test_only_schemas_with_the_module_name_shipments_anywhere() -> None:
    without = build.build_schema(MODULES, [], Settings()).schema.as_str()
    with_it = build.build_schema(SHIPPING_MODULES, [], Settings()).schema.as_str()

    assert "shipment" not in without.lower()
    for name in ("shipmentUpdated", "createShipment", "changeShipmentStatus", "shipments: [Shipment!]!"):
        assert name in with_it
