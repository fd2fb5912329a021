"""`shipmentUpdated` end to end: real `serve` processes, a worker's relay, Redis and WebSocket
clients. A shipment's events reach its tenant's subscribers (filtered by order), never another
tenant's; a cursor resumes them; only shipping:read may see them, on any stream."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests import live
from tests.documents import payload
from tests.shipments import move, open_shipping_shop, paid_order, ship_lines, shipped
from tests.shop import Shop

QUIET = 1.0
SHIPMENT_UPDATED = """
subscription Shipments($after: String, $orderId: ID) {
  shipmentUpdated(after: $after, orderId: $orderId) { cursor type aggregateId payload }
}
"""
EVENTS = "subscription Events($after: String) { events(after: $after) { cursor type } }"


@pytest.fixture(scope="module")
async def stack(server_env: dict[str, str], tmp_path_factory: Any) -> AsyncIterator[live.Stack]:
    async with live.stack(server_env, tmp_path_factory.mktemp("shipping")) as made:
        yield made


@pytest.fixture
async def shop(make_tenant: Any) -> Shop:
    return await open_shipping_shop(make_tenant)


@contextlib.asynccontextmanager
async def listening(
    stack: live.Stack, shop: Shop, document: str, *, key: str | None = None, **variables: Any
) -> AsyncIterator[live.Socket]:
    async with live.connect(stack.api, tenant=shop.tenant.slug, key=key or shop.tenant.key) as socket:
        await socket.subscribe("0", document, {"after": str(shop.seeded_seq), **variables})
        yield socket


async def received(socket: live.Socket, field: str, count: int) -> list[dict[str, Any]]:
    results = await socket.results("0", count, timeout=20)
    assert all("errors" not in result for result in results), results
    return [result["data"][field] for result in results]


async def ship_all(shop: Shop, order: dict[str, Any]) -> str:
    """Ship every unit of a one-line order: its shipment is made, then shipped."""
    made = await shipped(shop, order["id"], ship_lines(order, order["lines"][0]["quantity"]))
    payload(await move(shop, made["shipment"]["id"], "SHIPPED"), "changeShipmentStatus")
    return str(made["shipment"]["id"])


async def test_shipment_updated_delivers_one_orders_shipments_and_none_of_another_tenant(
    stack: live.Stack, shop: Shop, make_tenant: Any
) -> None:
    other_shop = await open_shipping_shop(make_tenant)
    mine, other = await paid_order(shop, shop.line("MUG", 1)), await paid_order(shop, shop.line("TEE-S", 1))
    async with listening(stack, shop, SHIPMENT_UPDATED, orderId=mine["id"]) as socket, \
            listening(stack, other_shop, SHIPMENT_UPDATED) as theirs:
        await ship_all(shop, other)
        shipment_id = await ship_all(shop, mine)

        found = await received(socket, "shipmentUpdated", 2)
        assert await socket.quiet(QUIET) == []
        assert await theirs.quiet(QUIET) == []

    assert [(e["type"], e["aggregateId"]) for e in found] == [
        ("shipment.created", shipment_id), ("shipment.status_changed", shipment_id),
    ]
    assert found[1]["payload"]["to"] == "shipped"
    assert int(found[0]["cursor"]) < int(found[1]["cursor"])


async def test_shipment_updated_resumes_after_a_cursor_without_gap_or_duplicate(
    stack: live.Stack, shop: Shop
) -> None:
    first = await ship_all(shop, await paid_order(shop, shop.line("MUG", 1)))
    async with listening(stack, shop, SHIPMENT_UPDATED) as socket:
        replayed = await received(socket, "shipmentUpdated", 2)
        second = await ship_all(shop, await paid_order(shop, shop.line("TEE-M", 1)))
        live_ones = await received(socket, "shipmentUpdated", 2)
        assert await socket.quiet(QUIET) == []

    assert [e["aggregateId"] for e in replayed] == [first, first]
    assert [e["aggregateId"] for e in live_ones] == [second, second]
    cursors = [int(e["cursor"]) for e in replayed + live_ones]
    assert cursors == sorted(set(cursors))


async def test_shipment_events_need_shipping_read_on_every_stream(stack: live.Stack, shop: Shop) -> None:
    orders_reader = await shop.tenant.key_with("orders:read")
    async with listening(stack, shop, SHIPMENT_UPDATED, key=orders_reader) as refused:
        message = await refused.message("0")
    async with listening(stack, shop, EVENTS, key=orders_reader) as socket:
        order = await paid_order(shop, shop.line("MUG", 1))
        await ship_all(shop, order)

        seen = await received(socket, "events", 3)
        assert await socket.quiet(QUIET) == []

    assert message["type"] == "error"
    assert [e["extensions"]["code"] for e in message["payload"]] == ["FORBIDDEN"]
    assert [e["type"] for e in seen] == ["order.created", "order.status_changed", "order.status_changed"]
