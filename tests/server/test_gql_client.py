"""Protocol compatibility: the `gql` library's WebSocket transport, a client this project did
not write, speaks graphql-transport-ws with a real `serve` process and worker."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from gql import Client, gql
from gql.transport.exceptions import TransportConnectionFailed, TransportQueryError
from gql.transport.websockets import WebsocketsTransport
from websockets.exceptions import ConnectionClosed

from tests import live
from tests.conftest import TenantHandle
from tests.documents import CREATE_PRODUCT, payload, product_input

KEEPALIVE = 0.5
SETTLE = 0.3
"""Seconds for a new subscription to reach its live wait (past its first reads of the table)."""


@pytest.fixture(scope="module")
async def stack(server_env: dict[str, str], tmp_path_factory: Any) -> AsyncIterator[live.Stack]:
    env = {"WS_KEEPALIVE_SECONDS": str(KEEPALIVE)}
    async with live.stack(server_env, tmp_path_factory.mktemp("gql"), env=env) as made:
        yield made


def client(stack: live.Stack, tenant: TenantHandle, key: str | None = None) -> Client:
    transport = WebsocketsTransport(
        url=stack.api.ws_url(tenant.slug),
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
        init_payload={"Authorization": f"Bearer {key or tenant.key}"},
        connect_args={"proxy": None},
    )
    return Client(transport=transport, execute_timeout=15)


async def create_products(tenant: TenantHandle, count: int) -> None:
    for number in range(count):
        body = await tenant.gql(
            CREATE_PRODUCT, {"input": product_input(f"Item {number}", [f"SKU-{uuid.uuid4().hex[:8]}"])}
        )
        payload(body, "createProduct")


async def test_gql_runs_a_query(stack: live.Stack, tenant_a: TenantHandle) -> None:
    async with client(stack, tenant_a) as session:
        result = await session.execute(gql("{ tenant { slug modules } }"))

    assert result == {"tenant": {"slug": tenant_a.slug, "modules": ["catalog"]}}


async def test_gql_receives_subscription_events_across_server_pings(
    stack: live.Stack, tenant_a: TenantHandle
) -> None:
    events = gql("subscription { events(types: [\"product.created\"]) { cursor type } }")
    received: list[dict[str, Any]] = []

    async def consume() -> None:
        async for result in session.subscribe(events):
            received.append(result["events"])
            if len(received) == 2:
                return

    async with client(stack, tenant_a) as session:
        consumer = asyncio.create_task(consume())
        await asyncio.sleep(KEEPALIVE * 3)
        await create_products(tenant_a, 2)
        await asyncio.wait_for(consumer, 15)

    assert [e["type"] for e in received] == ["product.created", "product.created"]
    assert int(received[0]["cursor"]) < int(received[1]["cursor"])


async def test_gql_reports_a_validation_error(stack: live.Stack, tenant_a: TenantHandle) -> None:
    async with client(stack, tenant_a) as session:
        with pytest.raises(TransportQueryError) as raised:
            await session.execute(gql("{ tenant { slug noSuchField } }"))

    assert [e["extensions"]["code"] for e in raised.value.errors or []] == ["GRAPHQL_VALIDATION_FAILED"]


async def test_gql_sees_a_rejected_credential_as_close_4403(
    stack: live.Stack, tenant_a: TenantHandle, tenant_b: TenantHandle
) -> None:
    with pytest.raises(TransportConnectionFailed) as raised:
        async with client(stack, tenant_a, key=tenant_b.key):
            pass

    closed = raised.value.__cause__
    assert isinstance(closed, ConnectionClosed) and closed.rcvd is not None
    assert closed.rcvd.code == 4403
