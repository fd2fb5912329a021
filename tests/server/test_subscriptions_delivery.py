"""Live delivery over graphql-transport-ws, end to end: real `serve` processes, a `worker` whose
relay publishes the outbox to Redis, PostgreSQL, and WebSocket clients. What a tenant's change
reaches (its own subscribers only), two API processes behind one Redis, each subscription
field's filter, and one Redis subscription per process however many clients listen.

Every subscription passes `after` = the last event of the shop's seeding, so what it must see
does not depend on when the server registered it."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx
import psutil
import pytest
import redis.asyncio as aioredis

from domain import events, tenancy
from tables import events as outbox
from tests import live
from tests import shop as shops
from tests import webhooks as hooks

MODULES = tuple(tenancy.MODULES)
QUIET = 1.0
"""Seconds a subscription must stay silent to show that it was not sent something."""

EVENTS = """
subscription Events($after: String, $types: [String!]) {
  events(after: $after, types: $types) { cursor seq type aggregateType aggregateId payload }
}
"""
ORDER_UPDATED = """
subscription Orders($after: String, $orderId: ID) {
  orderUpdated(after: $after, orderId: $orderId) { cursor type aggregateId }
}
"""
INVENTORY_CHANGED = """
subscription Stock($after: String, $sku: String, $locationId: ID) {
  inventoryChanged(after: $after, sku: $sku, locationId: $locationId) {
    cursor type sku locationId onHand reserved available delta
  }
}
"""
METRICS_UPDATED = """
subscription Metrics($after: String) { metricsUpdated(after: $after) { cursor type aggregateId } }
"""
ADJUST_STOCK = """
mutation Adjust($input: AdjustStockInput!) { adjustStock(input: $input) { errors { code } } }
"""
RECORD_METRIC = """
mutation Record($input: MetricInput!) { recordMetric(input: $input) { errors { code } } }
"""
FIELDS = {
    EVENTS: "events", ORDER_UPDATED: "orderUpdated", INVENTORY_CHANGED: "inventoryChanged",
    METRICS_UPDATED: "metricsUpdated",
}


@pytest.fixture(scope="module")
async def stack(server_env: dict[str, str], tmp_path_factory: Any) -> AsyncIterator[live.Stack]:
    async with live.stack(server_env, tmp_path_factory.mktemp("delivery"), apis=2) as made:
        yield made


@pytest.fixture
async def shop(make_tenant: Any) -> shops.Shop:
    return await shops.open_shop(make_tenant, modules=MODULES)


@pytest.fixture
async def other_shop(make_tenant: Any) -> shops.Shop:
    return await shops.open_shop(make_tenant, modules=MODULES)


@contextlib.asynccontextmanager
async def listening(
    api: live.Api, shop: shops.Shop, *documents: str, **variables: Any
) -> AsyncIterator[live.Socket]:
    """A socket for the shop with one operation per document (ids "0", "1", ...), each from
    the end of the shop's seeding on, with `variables`."""
    async with live.connect(api, tenant=shop.tenant.slug, key=shop.tenant.key) as socket:
        for index, document in enumerate(documents):
            await socket.subscribe(
                str(index), document, {"after": str(shop.seeded_seq), **variables}
            )
        yield socket


async def received(socket: live.Socket, op_id: str, document: str, count: int) -> list[dict[str, Any]]:
    """The next `count` payloads of operation `op_id`, each without errors."""
    results = await socket.results(op_id, count, timeout=20)
    assert all("errors" not in result for result in results), results
    return [result["data"][FIELDS[document]] for result in results]


async def silent(socket: live.Socket) -> None:
    """Nothing more arrives on any of the socket's operations for a while."""
    assert await socket.quiet(QUIET) == []


async def adjust(api: live.Api, shop: shops.Shop, sku: str, delta: int, location: Any = None) -> None:
    body = await api.gql(ADJUST_STOCK, shop.tenant.key, {"input": {
        "sku": sku, "locationId": str(location or shop.location_id), "delta": delta,
        "reason": "RECEIVED",
    }})
    assert body == {"data": {"adjustStock": {"errors": []}}}, body


async def post_webhook(api: live.Api, shop: shops.Shop, flow: str, payload: Any) -> None:
    """A signed delivery to the shop's `flow`, accepted by the API process."""
    secret = await hooks.endpoint(shop.tenant, flow)
    body = hooks.encode(payload)
    async with httpx.AsyncClient(base_url=api.url, timeout=10) as http:
        response = await http.post(
            hooks.url(shop.tenant, flow), content=body, headers=hooks.sign_standard(secret, body)
        )
    assert response.status_code == 202, response.text


async def committed(shop: shops.Shop) -> list[events.Event]:
    """The shop's events since its seeding, as the outbox holds them."""
    return await outbox.list_events(tenant_id=shop.id, after_seq=shop.seeded_seq, limit=1000)


def cursors(items: Sequence[dict[str, Any]]) -> list[int]:
    return [int(item["cursor"]) for item in items]


def made_seq(made: Sequence[events.Event], kind: str) -> int:
    [seq] = [event.seq for event in made if event.type == kind]
    return seq


async def test_a_purchase_webhook_reaches_its_tenants_subscribers_and_never_another_tenants(
    stack: live.Stack, shop: shops.Shop, other_shop: shops.Shop
) -> None:
    every = (EVENTS, ORDER_UPDATED, INVENTORY_CHANGED, METRICS_UPDATED)
    async with listening(stack.api, shop, EVENTS, ORDER_UPDATED, INVENTORY_CHANGED) as mine, \
            listening(stack.api, other_shop, *every) as theirs:
        await post_webhook(stack.api, shop, "purchase-flow",
                           hooks.purchase("ext-1", [("TEE-S", 2, 1500), ("MUG", 1, 800)], 3800))

        [order] = await received(mine, "1", ORDER_UPDATED, 1)
        made = await committed(shop)
        seen = await received(mine, "0", EVENTS, len(made))
        stock = await received(mine, "2", INVENTORY_CHANGED, 2)

        assert (order["type"], order["cursor"]) == ("order.created", str(made_seq(made, "order.created")))
        assert [(e["seq"], e["type"]) for e in seen] == [(e.seq, e.type) for e in made]
        assert {(s["sku"], s["type"]) for s in stock} == {("TEE-S", "inventory.reserved"),
                                                         ("MUG", "inventory.reserved")}
        await silent(mine)
        await silent(theirs)


async def test_an_inventory_webhook_reaches_only_its_tenant_while_another_tenant_listens(
    stack: live.Stack, shop: shops.Shop, other_shop: shops.Shop
) -> None:
    async with listening(stack.api, shop, EVENTS, INVENTORY_CHANGED) as mine, \
            listening(stack.api, other_shop, EVENTS, INVENTORY_CHANGED) as theirs:
        await post_webhook(stack.api, other_shop, "inventory-flow",
                           hooks.stock("adjust", [("MUG", "main", 4)]))
        [their_change] = await received(theirs, "1", INVENTORY_CHANGED, 1)
        await post_webhook(stack.api, shop, "inventory-flow",
                           hooks.stock("adjust", [("TEE-M", "main", 7)]))

        [my_event] = await received(mine, "0", EVENTS, 1)
        [my_change] = await received(mine, "1", INVENTORY_CHANGED, 1)
        [their_event] = await received(theirs, "0", EVENTS, 1)

        assert (my_change["sku"], my_change["delta"], my_change["onHand"]) == ("TEE-M", 7, 17)
        assert my_event["cursor"] == my_change["cursor"] == str(shop.seeded_seq + 1)
        assert (their_change["sku"], their_change["delta"]) == ("MUG", 4)
        assert their_event["cursor"] == their_change["cursor"] == str(other_shop.seeded_seq + 1)
        await silent(mine)
        await silent(theirs)


async def test_two_api_processes_behind_one_redis_deliver_the_same_events_in_the_same_order(
    stack: live.Stack, shop: shops.Shop
) -> None:
    first, second = stack.apis
    async with listening(first, shop, EVENTS) as one, listening(second, shop, EVENTS) as two:
        await adjust(first, shop, "MUG", 1)
        await received(one, "0", EVENTS, 1)
        await received(two, "0", EVENTS, 1)
        for number in range(20):
            await adjust(stack.apis[number % 2], shop, "TEE-S", 1)

        from_first = await received(one, "0", EVENTS, 20)
        from_second = await received(two, "0", EVENTS, 20)

    expected = list(range(shop.seeded_seq + 2, shop.seeded_seq + 22))
    assert cursors(from_first) == cursors(from_second) == expected
    assert [e["payload"]["onHand"] for e in from_first] == list(range(11, 31))


async def test_order_updated_with_an_order_id_delivers_only_that_orders_events(
    stack: live.Stack, shop: shops.Shop
) -> None:
    mine, other = await shop.place(), await shop.place()
    async with listening(stack.api, shop, ORDER_UPDATED, orderId=mine["id"]) as socket:
        await shop.change(other["id"], "PAID")
        await shop.change(mine["id"], "PAID")
        await shop.change(other["id"], "CANCELLED")
        await shop.change(mine["id"], "FULFILLED")

        found = await received(socket, "0", ORDER_UPDATED, 3)
        await silent(socket)

    assert [(e["type"], e["aggregateId"]) for e in found] == [
        ("order.created", mine["id"]), ("order.status_changed", mine["id"]),
        ("order.status_changed", mine["id"]),
    ]


async def test_inventory_changed_with_sku_and_location_delivers_only_matching_changes(
    stack: live.Stack, shop: shops.Shop
) -> None:
    back = await shop.gql(
        "mutation { createLocation(input: {name: \"Back\", handle: \"back\"}) { location { id } } }"
    )
    back_id = back["data"]["createLocation"]["location"]["id"]
    filters = {"sku": "TEE-S", "locationId": str(shop.location_id)}
    async with listening(stack.api, shop, INVENTORY_CHANGED, **filters) as socket:
        await adjust(stack.api, shop, "MUG", 2)
        await adjust(stack.api, shop, "TEE-S", 3, location=back_id)
        await adjust(stack.api, shop, "TEE-S", 5)
        await adjust(stack.api, shop, "TEE-M", 1)

        [change] = await received(socket, "0", INVENTORY_CHANGED, 1)
        await silent(socket)

    assert (change["sku"], change["locationId"], change["delta"], change["onHand"]) == (
        "TEE-S", str(shop.location_id), 5, 15
    )


async def test_metrics_updated_delivers_only_metrics_events(
    stack: live.Stack, shop: shops.Shop
) -> None:
    async with listening(stack.api, shop, METRICS_UPDATED) as socket:
        await adjust(stack.api, shop, "MUG", 2)
        body = await stack.api.gql(
            RECORD_METRIC, shop.tenant.key, {"input": {"name": "storefront.visits", "value": "3"}}
        )
        assert body == {"data": {"recordMetric": {"errors": []}}}, body
        await adjust(stack.api, shop, "MUG", 2)

        [metric] = await received(socket, "0", METRICS_UPDATED, 1)
        await silent(socket)

    assert (metric["type"], metric["aggregateId"]) == ("metrics.updated", "storefront.visits")
    assert metric["cursor"] == str(shop.seeded_seq + 2)


async def test_events_with_types_delivers_only_those_types(
    stack: live.Stack, shop: shops.Shop
) -> None:
    wanted = ["order.created", "order.status_changed"]
    async with listening(stack.api, shop, EVENTS, types=wanted) as socket:
        order = await shop.place()
        await adjust(stack.api, shop, "MUG", 2)
        await shop.change(order["id"], "PAID")

        found = await received(socket, "0", EVENTS, 2)
        await silent(socket)

    assert [(e["type"], e["aggregateId"]) for e in found] == [
        ("order.created", order["id"]), ("order.status_changed", order["id"])
    ]


async def fanout_subscriptions(redis_url: str, pid: int) -> list[dict[str, Any]]:
    """The Redis connections of the process `pid`'s fan-out that hold a subscription."""
    client = aioredis.from_url(redis_url)
    try:
        clients = await client.client_list()
    finally:
        await client.aclose()
    return [c for c in clients if c["name"] == f"tenantgraph-fanout-{pid}" and int(c["sub"]) > 0]


async def test_one_redis_subscription_serves_twenty_websocket_clients_of_a_process(
    stack: live.Stack, shop: shops.Shop
) -> None:
    api = stack.api
    async with contextlib.AsyncExitStack() as sockets:
        clients = [
            await sockets.enter_async_context(listening(api, shop, EVENTS)) for _ in range(20)
        ]
        await adjust(api, shop, "MUG", 1)
        firsts = await asyncio.gather(*(received(c, "0", EVENTS, 1) for c in clients))

        subscriptions = await fanout_subscriptions(stack.redis_url, api.process.pid)

    assert len(subscriptions) == 1, subscriptions
    assert subscriptions[0]["sub"] == "1"
    assert {first[0]["cursor"] for first in firsts} == {str(shop.seeded_seq + 1)}


@dataclasses.dataclass
class Listened:
    process: psutil.Process
    """The API process, with twenty idle subscriptions open."""
    rss_before: int
    """Its resident memory before they connected."""
    clients: list[live.Socket]


@pytest.fixture
async def twenty_listening(stack: live.Stack, shop: shops.Shop) -> AsyncIterator[Listened]:
    """Twenty clients of the first API process subscribed to the shop's events, each past
    a first event."""
    api = psutil.Process(stack.api.process.pid)
    rss_before = api.memory_info().rss
    async with contextlib.AsyncExitStack() as sockets:
        clients = [
            await sockets.enter_async_context(listening(stack.api, shop, EVENTS)) for _ in range(20)
        ]
        await adjust(stack.api, shop, "MUG", 1)
        await asyncio.gather(*(received(c, "0", EVENTS, 1) for c in clients))
        yield Listened(api, rss_before, clients)


async def test_twenty_idle_subscriptions_are_sent_nothing_and_share_one_feed(
    twenty_listening: Listened, stack: live.Stack
) -> None:
    """Idle, a subscription does no work of its own: nothing is sent to it (no per-client ping
    or poll), and the process's one Redis subscription is all that listens. What idling costs
    in CPU is a rate: the bench's to measure, not a test's to assert."""
    sent = await asyncio.gather(*(client.quiet(QUIET) for client in twenty_listening.clients))
    feeds = await fanout_subscriptions(stack.redis_url, twenty_listening.process.pid)

    assert sent == [[]] * 20
    assert len(feeds) == 1, feeds


async def test_twenty_subscriptions_use_little_memory(twenty_listening: Listened) -> None:
    grown = twenty_listening.process.memory_info().rss - twenty_listening.rss_before

    assert grown / 20 < 512 * 1024, f"{grown / 20 / 1024:.0f} KB per subscription"
