"""graphql-transport-ws on /graphql, against a real `serve` process and worker: the protocol's
messages and close codes, the tenant chosen at the upgrade, operations over the socket, the
per-connection limits, keep-alive re-checks of the credential, and scopes on event streams."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tables import api_keys
from tests import live
from tests import shop as shops
from tests.conftest import TenantHandle
from tests.documents import CREATE_PRODUCT, UPDATE_PRODUCT, payload, product_input

INIT_TIMEOUT = 1.0
KEEPALIVE = 1.0
MAX_OPERATIONS = 2
MAX_MESSAGE = 4096

TENANT_SLUG = "{ tenant { slug } }"
EVENTS = "subscription { events { cursor type } }"
ORDER_UPDATED = "subscription { orderUpdated { cursor type } }"
UNKNOWN_FIELD = "{ tenant { slug noSuchField } }"
SETTLE = 0.3
"""Seconds for a new subscription to reach its live wait (past its first reads of the table)."""


@pytest.fixture(scope="module")
async def stack(server_env: dict[str, str], tmp_path_factory: Any) -> AsyncIterator[live.Stack]:
    env = {
        "WS_INIT_TIMEOUT": str(INIT_TIMEOUT),
        "WS_KEEPALIVE_SECONDS": str(KEEPALIVE),
        "WS_MAX_SUBSCRIPTIONS": str(MAX_OPERATIONS),
        "WS_MAX_MESSAGE_BYTES": str(MAX_MESSAGE),
    }
    async with live.stack(server_env, tmp_path_factory.mktemp("ws-protocol"), env=env) as made:
        yield made


async def create_product(tenant: TenantHandle, title: str = "Tee") -> dict[str, Any]:
    """A product made over HTTP: its product.created event is committed to the outbox."""
    sku = f"SKU-{uuid.uuid4().hex[:8]}"
    body = await tenant.gql(CREATE_PRODUCT, {"input": product_input(title, [sku])})
    product: dict[str, Any] = payload(body, "createProduct")["product"]
    return product


async def close_code(stack: live.Stack, tenant: str | None, *messages: Any) -> int | None:
    """The code the server closes with after `messages` (sent as given)."""
    async with live.connect(stack.api, tenant=tenant) as socket:
        for message in messages:
            await socket.send(message)
        code, _ = await socket.closed()
    return code


def init(key: str) -> dict[str, Any]:
    return {"type": "connection_init", "payload": {"Authorization": f"Bearer {key}"}}


def subscribe(op_id: str, query: str) -> dict[str, Any]:
    return {"type": "subscribe", "id": op_id, "payload": {"query": query}}


async def test_non_json_message_closes_4400(stack: live.Stack, tenant_a: TenantHandle) -> None:
    assert await close_code(stack, tenant_a.slug, "{not json") == 4400


async def test_message_without_type_closes_4400(stack: live.Stack, tenant_a: TenantHandle) -> None:
    assert await close_code(stack, tenant_a.slug, {"payload": {}}) == 4400


async def test_unknown_message_type_closes_4400(stack: live.Stack, tenant_a: TenantHandle) -> None:
    assert await close_code(stack, tenant_a.slug, {"type": "start", "id": "1"}) == 4400


async def test_binary_message_closes_4400(stack: live.Stack, tenant_a: TenantHandle) -> None:
    assert await close_code(stack, tenant_a.slug, b'{"type": "ping"}') == 4400


@pytest.mark.parametrize("message", [
    {"type": "subscribe", "payload": {"query": TENANT_SLUG}},
    {"type": "subscribe", "id": "", "payload": {"query": TENANT_SLUG}},
    {"type": "subscribe", "id": "1"},
    {"type": "subscribe", "id": "1", "payload": {"variables": {}}},
], ids=["no-id", "empty-id", "no-payload", "no-query"])
async def test_subscribe_without_id_or_payload_closes_4400(
    stack: live.Stack, tenant_a: TenantHandle, message: dict[str, Any]
) -> None:
    assert await close_code(stack, tenant_a.slug, init(tenant_a.key), message) == 4400


async def test_subscribe_before_ack_closes_4401(stack: live.Stack, tenant_a: TenantHandle) -> None:
    assert await close_code(stack, tenant_a.slug, subscribe("1", TENANT_SLUG)) == 4401


async def test_unknown_key_closes_4403(stack: live.Stack, tenant_a: TenantHandle) -> None:
    assert await close_code(stack, tenant_a.slug, init("tg_nosuchkey_0123456789abcdef")) == 4403


async def test_init_without_credential_closes_4403(stack: live.Stack, tenant_a: TenantHandle) -> None:
    assert await close_code(stack, tenant_a.slug, {"type": "connection_init"}) == 4403


async def test_key_of_another_tenant_closes_4403(
    stack: live.Stack, tenant_a: TenantHandle, tenant_b: TenantHandle
) -> None:
    assert await close_code(stack, tenant_a.slug, init(tenant_b.key)) == 4403


async def test_expired_jwt_closes_4403(stack: live.Stack, tenant_a: TenantHandle) -> None:
    token = live.jwt_token(tenant_a.slug, scopes=["catalog:read"], seconds=-60)

    assert await close_code(stack, tenant_a.slug, init(token)) == 4403


async def test_jwt_of_the_tenant_is_acknowledged(stack: live.Stack, tenant_a: TenantHandle) -> None:
    token = live.jwt_token(tenant_a.slug, scopes=["catalog:read"], seconds=600)

    async with live.connect(stack.api, tenant=tenant_a.slug, key=token) as socket:
        await socket.subscribe("1", TENANT_SLUG)
        [result] = await socket.results("1", 1)

    assert result == {"data": {"tenant": {"slug": tenant_a.slug}}}


async def test_platform_key_acts_for_the_tenant_named_at_upgrade(
    stack: live.Stack, tenant_a: TenantHandle, platform_key: str
) -> None:
    async with live.connect(stack.api, tenant=tenant_a.slug, key=platform_key) as socket:
        await socket.subscribe("1", TENANT_SLUG)
        [result] = await socket.results("1", 1)

    assert result == {"data": {"tenant": {"slug": tenant_a.slug}}}


async def test_platform_key_without_tenant_closes_4403(stack: live.Stack, platform_key: str) -> None:
    assert await close_code(stack, None, init(platform_key)) == 4403


@pytest.mark.parametrize("domain", ["api.test", "localhost"])
async def test_tenant_is_taken_from_the_subdomain(
    stack: live.Stack, tenant_a: TenantHandle, domain: str
) -> None:
    host = f"{tenant_a.slug}.{domain}"

    async with live.connect(stack.api, host=host, key=tenant_a.key) as socket:
        await socket.subscribe("1", TENANT_SLUG)
        [result] = await socket.results("1", 1)

    assert result == {"data": {"tenant": {"slug": tenant_a.slug}}}


async def test_key_of_another_tenant_than_the_subdomain_closes_4403(
    stack: live.Stack, tenant_a: TenantHandle, tenant_b: TenantHandle
) -> None:
    async with live.connect(stack.api, host=f"{tenant_a.slug}.api.test") as socket:
        await socket.init(tenant_b.key)
        code, _ = await socket.closed()

    assert code == 4403


async def test_no_connection_init_closes_4408(stack: live.Stack, tenant_a: TenantHandle) -> None:
    async with live.connect(stack.api, tenant=tenant_a.slug) as socket:
        code, _ = await socket.closed(timeout=INIT_TIMEOUT + 5)

    assert code == 4408


async def test_pings_do_not_extend_the_init_timeout(stack: live.Stack, tenant_a: TenantHandle) -> None:
    async with live.connect(stack.api, tenant=tenant_a.slug) as socket:
        await socket.send({"type": "ping"})
        await socket.take(lambda m: m["type"] == "pong")
        code, _ = await socket.closed(timeout=INIT_TIMEOUT + 5)

    assert code == 4408


async def test_duplicate_id_of_a_running_operation_closes_4409(
    stack: live.Stack, tenant_a: TenantHandle
) -> None:
    async with live.connect(stack.api, tenant=tenant_a.slug, key=tenant_a.key) as socket:
        await socket.subscribe("1", EVENTS)
        await asyncio.sleep(SETTLE)
        await socket.subscribe("1", EVENTS)
        code, _ = await socket.closed()

    assert code == 4409


async def test_second_connection_init_closes_4429(stack: live.Stack, tenant_a: TenantHandle) -> None:
    async with live.connect(stack.api, tenant=tenant_a.slug, key=tenant_a.key) as socket:
        await socket.init(tenant_a.key)
        code, _ = await socket.closed()

    assert code == 4429


@pytest.mark.parametrize("subprotocols", [["graphql-ws"], None], ids=["wrong", "missing"])
async def test_unacceptable_subprotocol_closes_4406(
    stack: live.Stack, tenant_a: TenantHandle, subprotocols: list[str] | None
) -> None:
    async with live.connect(stack.api, tenant=tenant_a.slug, subprotocols=subprotocols) as socket:
        code, reason = await socket.closed()

    assert socket.subprotocol is None
    assert (code, reason) == (4406, "Subprotocol not acceptable")


async def test_upgrade_succeeds_with_the_protocol_among_others(
    stack: live.Stack, tenant_a: TenantHandle
) -> None:
    offered = ["graphql-ws", live.PROTOCOL]

    async with live.connect(stack.api, tenant=tenant_a.slug, subprotocols=offered) as socket:
        await socket.acknowledged(tenant_a.key)

    assert socket.subprotocol == live.PROTOCOL


async def test_message_over_the_size_limit_closes_1009(
    stack: live.Stack, tenant_a: TenantHandle
) -> None:
    padding = "x" * MAX_MESSAGE
    big = {"type": "subscribe", "id": "1", "payload": {"query": f"# {padding}\n{TENANT_SLUG}"}}

    assert await close_code(stack, tenant_a.slug, init(tenant_a.key), big) == 1009


async def test_size_limit_counts_bytes_not_characters(
    stack: live.Stack, tenant_a: TenantHandle
) -> None:
    padding = "é" * (MAX_MESSAGE // 2 + 100)
    big = {"type": "subscribe", "id": "1", "payload": {"query": f"# {padding}\n{TENANT_SLUG}"}}

    assert await close_code(stack, tenant_a.slug, init(tenant_a.key), big) == 1009


async def test_ping_is_answered_with_pong_echoing_the_payload(
    stack: live.Stack, tenant_a: TenantHandle
) -> None:
    async with live.connect(stack.api, tenant=tenant_a.slug, key=tenant_a.key) as socket:
        await socket.send({"type": "ping", "payload": {"t": 42}})
        pong = await socket.take(lambda m: m["type"] == "pong")

    assert pong == {"type": "pong", "payload": {"t": 42}}


async def test_query_yields_next_then_complete(stack: live.Stack, tenant_a: TenantHandle) -> None:
    async with live.connect(stack.api, tenant=tenant_a.slug, key=tenant_a.key) as socket:
        await socket.subscribe("q", TENANT_SLUG)
        first, second = await socket.message("q"), await socket.message("q")

    assert first == {"type": "next", "id": "q", "payload": {"data": {"tenant": {"slug": tenant_a.slug}}}}
    assert second == {"type": "complete", "id": "q"}


async def test_mutation_yields_next_then_complete(stack: live.Stack, tenant_a: TenantHandle) -> None:
    variables = {"input": product_input("Lamp", ["LAMP-1"])}

    async with live.connect(stack.api, tenant=tenant_a.slug, key=tenant_a.key) as socket:
        await socket.subscribe("m", CREATE_PRODUCT, variables)
        [result] = await socket.results("m", 1)
        done = await socket.message("m")

    created = payload(result, "createProduct")["product"]
    assert (created["title"], [v["sku"] for v in created["variants"]]) == ("Lamp", ["LAMP-1"])
    assert done == {"type": "complete", "id": "m"}


async def test_validation_error_is_an_error_message(stack: live.Stack, tenant_a: TenantHandle) -> None:
    async with live.connect(stack.api, tenant=tenant_a.slug, key=tenant_a.key) as socket:
        await socket.subscribe("bad", UNKNOWN_FIELD)
        message = await socket.message("bad")
        after = await socket.quiet(0.3)

    assert message["type"] == "error"
    assert [e["extensions"]["code"] for e in message["payload"]] == ["GRAPHQL_VALIDATION_FAILED"]
    assert after == []


async def test_subscription_delivers_events_with_their_cursor(
    stack: live.Stack, tenant_a: TenantHandle
) -> None:
    async with live.connect(stack.api, tenant=tenant_a.slug, key=tenant_a.key) as socket:
        await socket.subscribe("s", EVENTS)
        await asyncio.sleep(SETTLE)
        await create_product(tenant_a)
        [result] = await socket.results("s", 1, timeout=15)

    event = result["data"]["events"]
    assert event["type"] == "product.created"
    assert event["cursor"].isdigit()


async def test_complete_from_the_client_stops_the_subscription(
    stack: live.Stack, tenant_a: TenantHandle
) -> None:
    async with live.connect(stack.api, tenant=tenant_a.slug, key=tenant_a.key) as socket:
        await socket.subscribe("s", EVENTS)
        await socket.subscribe("other", EVENTS)
        await asyncio.sleep(SETTLE)
        await create_product(tenant_a, "First")
        await socket.results("s", 1, timeout=15)
        await socket.complete("s")
        await create_product(tenant_a, "Second")
        await socket.results("other", 2, timeout=15)
        later = await socket.quiet(0.5)

    assert [m for m in later if m.get("id") == "s"] == []


async def test_id_may_be_reused_once_its_operation_completed(
    stack: live.Stack, tenant_a: TenantHandle
) -> None:
    async with live.connect(stack.api, tenant=tenant_a.slug, key=tenant_a.key) as socket:
        await socket.subscribe("s", EVENTS)
        await asyncio.sleep(SETTLE)
        await socket.complete("s")
        await socket.subscribe("s", EVENTS)
        await socket.subscribe("t", EVENTS)
        await asyncio.sleep(SETTLE)
        await create_product(tenant_a)
        got = [(await socket.results(op_id, 1, timeout=15))[0] for op_id in ("s", "t")]
        await socket.subscribe("s", EVENTS)
        code, _ = await socket.closed()

    assert [r["data"]["events"]["type"] for r in got] == ["product.created", "product.created"]
    assert code == 4409


async def test_operations_over_the_limit_get_an_error_and_earlier_ones_keep_running(
    stack: live.Stack, tenant_a: TenantHandle
) -> None:
    async with live.connect(stack.api, tenant=tenant_a.slug, key=tenant_a.key) as socket:
        for number in range(MAX_OPERATIONS):
            await socket.subscribe(str(number), EVENTS)
        await socket.subscribe("extra", EVENTS)
        refused = await socket.message("extra")
        await asyncio.sleep(SETTLE)
        await create_product(tenant_a)
        delivered = [(await socket.results(str(n), 1, timeout=15))[0] for n in range(MAX_OPERATIONS)]

    assert refused["type"] == "error"
    assert [e["extensions"]["code"] for e in refused["payload"]] == ["TOO_MANY_OPERATIONS"]
    assert {r["data"]["events"]["type"] for r in delivered} == {"product.created"}


async def test_server_pings_at_the_keepalive_interval(stack: live.Stack, tenant_a: TenantHandle) -> None:
    async with live.connect(stack.api, tenant=tenant_a.slug, key=tenant_a.key) as socket:
        await socket.quiet(KEEPALIVE * 2.5)

    assert len(socket.pings) >= 2
    assert socket.pings[0] == {"type": "ping"}


async def test_revoked_key_ends_the_connection_with_4403(
    stack: live.Stack, tenant_a: TenantHandle
) -> None:
    key, token = await api_keys.create(tenant_id=tenant_a.id, name="soon revoked", scopes={"admin"})

    async with live.connect(stack.api, tenant=tenant_a.slug, key=token) as socket:
        await socket.subscribe("s", EVENTS)
        await socket.quiet(KEEPALIVE * 1.5)
        await api_keys.revoke(key.prefix, tenant_id=tenant_a.id)
        code, _ = await socket.closed(timeout=KEEPALIVE * 4)

    assert code == 4403


async def test_expiring_jwt_ends_the_connection_with_4403(
    stack: live.Stack, tenant_a: TenantHandle
) -> None:
    token = live.jwt_token(tenant_a.slug, scopes=["catalog:read"], seconds=2)

    async with live.connect(stack.api, tenant=tenant_a.slug, key=token) as socket:
        await socket.subscribe("s", EVENTS)
        code, _ = await socket.closed(timeout=2 + KEEPALIVE * 4)

    assert code == 4403


async def test_catalog_reader_never_receives_order_events(
    stack: live.Stack, make_tenant: Any
) -> None:
    shop = await shops.open_shop(make_tenant)
    reader = await shop.tenant.key_with("catalog:read")
    product_id = (await create_product(shop.tenant, "Marker"))["id"]

    async with live.connect(stack.api, tenant=shop.tenant.slug, key=reader) as socket:
        await socket.subscribe("s", EVENTS)
        await asyncio.sleep(SETTLE)
        order = await shop.place()
        await shop.change(order["id"], "PAID")
        renamed = await shop.gql(UPDATE_PRODUCT, {"id": product_id, "input": {"title": "Last"}})
        payload(renamed, "updateProduct")
        [result] = await socket.results("s", 1, timeout=15)
        later = await socket.quiet(0.5)

    assert result["data"]["events"]["type"] == "product.updated"
    assert later == []
    assert any(t.startswith("order.") for t in await shop.event_types())


async def test_order_updated_without_orders_read_is_an_error(
    stack: live.Stack, make_tenant: Any
) -> None:
    shop = await shops.open_shop(make_tenant)
    reader = await shop.tenant.key_with("catalog:read")

    async with live.connect(stack.api, tenant=shop.tenant.slug, key=reader) as socket:
        await socket.subscribe("o", ORDER_UPDATED)
        message = await socket.message("o")

    assert message["type"] == "error"
    assert [e["extensions"]["code"] for e in message["payload"]] == ["FORBIDDEN"]

