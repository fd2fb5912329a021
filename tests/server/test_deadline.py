"""OPERATION_TIMEOUT: an operation past its deadline is cancelled, answers OPERATION_TIMEOUT,
keeps nothing it was writing, and other tenants are served meanwhile; over HTTP, WebSocket and
SSE. A subscription waiting for events has no deadline.

The slow operations are real ones, waiting (so the loop stays free) for locks that another
transaction holds: createOrder for the shop's stock rows, a categories query for the table."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import orjson
import pytest

from domain.config import Settings
from tests import live
from tests.shop import CREATE_ORDER, Shop, open_shop

DEADLINE = 1.0
TENANT_SLUG = "{ tenant { slug } }"


@pytest.fixture
async def shop(make_tenant: Any) -> Shop:
    """A shop of the tests' own; its handle talks to an app in this process (no deadline)."""
    return await open_shop(make_tenant)


@pytest.fixture
async def hurried(shop: Shop, stack: live.Stack) -> AsyncIterator[Shop]:
    """The shop, its requests sent to the stack's API process (OPERATION_TIMEOUT=1)."""
    async with httpx.AsyncClient(base_url=stack.api.url, timeout=DEADLINE + 10) as http:
        shop.tenant = dataclasses.replace(shop.tenant, client=http)
        yield shop


@pytest.fixture(scope="module")
async def stack(server_env: dict[str, str], tmp_path_factory: Any) -> AsyncIterator[live.Stack]:
    env = {"OPERATION_TIMEOUT": str(DEADLINE)}
    async with live.stack(server_env, tmp_path_factory.mktemp("deadline"), workers=0, env=env) as made:
        yield made


@contextlib.asynccontextmanager
async def locked(settings: Settings, statement: str, *args: Any) -> AsyncIterator[None]:
    """`statement`'s locks held by another transaction until the block ends."""
    connection = await asyncpg.connect(settings.database_url)
    transaction = connection.transaction()
    await transaction.start()
    await connection.execute(statement, *args)
    try:
        yield
    finally:
        await transaction.rollback()
        await connection.close()


async def waiting_for_stock(settings: Settings) -> int:
    """Statements waiting for a lock on the stock rows, until the test's lock is released."""
    connection = await asyncpg.connect(settings.database_url)
    try:
        waiting: int = await connection.fetchval(
            "select count(*) from pg_locks where not granted and relation = 'stock_levels'::regclass"
        )
    finally:
        await connection.close()
    return waiting


async def until_nothing_waits_for_stock(settings: Settings, bound: float = 15) -> None:
    deadline = time.monotonic() + bound
    while (waiting := await waiting_for_stock(settings)) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert waiting == 0, f"{waiting} statements still wait for the stock: the operation was not cancelled"


@pytest.fixture
async def stock_locked(settings: Settings, shop: Shop) -> AsyncIterator[None]:
    """The shop's stock rows locked by another transaction until the test ends."""
    async with locked(settings, "select 1 from stock_levels where tenant_id = $1 for update", shop.id):
        yield


async def test_an_operation_past_its_deadline_answers_operation_timeout_and_writes_nothing(
    hurried: Shop, stock_locked: None, settings: Settings
) -> None:
    shop = hurried
    before = await shop.stock("TEE-S")

    response = await shop.tenant.post(CREATE_ORDER, {"input": {
        "customerId": str(shop.customer_id), "lines": [shop.line("TEE-S", 2)],
    }})

    assert response.status_code == 504, response.text
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    body = response.json()
    assert body.get("data") is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == "OPERATION_TIMEOUT"
    assert error["extensions"]["timeoutSeconds"] == DEADLINE
    assert error["extensions"]["requestId"] == response.headers["x-request-id"]
    await until_nothing_waits_for_stock(settings)  # while the test still holds the lock
    orders = await shop.gql("{ orders(first: 5) { edges { node { id } } } }")
    assert orders == {"data": {"orders": {"edges": []}}}
    assert await shop.event_types() == []
    assert await shop.stock("TEE-S") == before


async def test_other_tenants_are_answered_while_an_operation_waits_for_its_deadline(
    hurried: Shop, stock_locked: None, tenant_b: Any
) -> None:
    shop = hurried
    tenant_b = dataclasses.replace(tenant_b, client=shop.tenant.client)
    slow = asyncio.create_task(shop.tenant.post(CREATE_ORDER, {"input": {
        "customerId": str(shop.customer_id), "lines": [shop.line("MUG")],
    }}))
    await asyncio.sleep(0.2)

    other = await tenant_b.gql(TENANT_SLUG)

    assert other == {"data": {"tenant": {"slug": tenant_b.slug}}}
    assert not slow.done()
    assert (await slow).json()["errors"][0]["extensions"]["code"] == "OPERATION_TIMEOUT"


async def test_an_operation_within_its_deadline_is_answered_as_usual(hurried: Shop) -> None:
    shop = hurried
    order = await shop.place(shop.line("TEE-S"))

    assert order["status"] == "PENDING"
    assert await shop.stock("TEE-S") == (10, 1)


async def test_a_mutation_over_websocket_past_its_deadline_answers_an_error_and_writes_nothing(
    stack: live.Stack, shop: Shop, stock_locked: None
) -> None:
    before = await shop.stock("TEE-S")

    async with live.connect(stack.api, tenant=shop.tenant.slug, key=shop.tenant.key) as socket:
        await socket.subscribe("1", CREATE_ORDER, {"input": {
            "customerId": str(shop.customer_id), "lines": [shop.line("TEE-S", 2)],
        }})
        await socket.subscribe("2", "subscription { events { cursor } }")
        answer = await socket.message("1", timeout=DEADLINE + 5)
        waiting = await socket.quiet(DEADLINE + 0.5)

    assert answer["type"] == "error", answer
    assert [e["extensions"]["code"] for e in answer["payload"]] == ["OPERATION_TIMEOUT"]
    assert waiting == [], "the subscription waits for events with no deadline"
    assert await shop.event_types() == []
    assert await shop.stock("TEE-S") == before


async def test_a_query_over_sse_past_its_deadline_answers_an_error_then_completes(
    stack: live.Stack, settings: Settings, tenant_a: Any
) -> None:
    async with locked(settings, "lock table categories in access exclusive mode"), \
            httpx.AsyncClient(base_url=stack.api.url, timeout=DEADLINE + 10) as http:
        response = await http.post(
            "/graphql/stream", json={"query": "{ categories { id } }"},
            headers={"authorization": f"Bearer {tenant_a.key}", "accept": "text/event-stream"},
        )

    frames = [frame for frame in response.text.split("\n\n") if frame.startswith("event:")]
    assert len(frames) == 2, response.text
    assert frames[0].startswith("event: next\n"), frames
    body = orjson.loads(frames[0].split("data: ", 1)[1])
    assert body.get("data") is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["OPERATION_TIMEOUT"]
    assert frames[1].startswith("event: complete")


async def test_completing_an_operation_that_waits_ends_it_quietly(
    stack: live.Stack, shop: Shop, stock_locked: None
) -> None:
    """The client's `complete` cancels a waiting mutation: nothing more is sent for its id, no
    error is logged, and the connection serves the next operation."""
    async with live.connect(stack.api, tenant=shop.tenant.slug, key=shop.tenant.key) as socket:
        await socket.subscribe("1", CREATE_ORDER, {"input": {
            "customerId": str(shop.customer_id), "lines": [shop.line("TEE-S")],
        }})
        await asyncio.sleep(0.3)
        await socket.complete("1")
        after_complete = await socket.quiet(DEADLINE + 0.5)
        await socket.subscribe("2", TENANT_SLUG)
        answer = await socket.message("2")

    assert after_complete == []
    assert answer["payload"] == {"data": {"tenant": {"slug": shop.tenant.slug}}}
    assert "operation 1 failed" not in stack.api.log.read_text(), stack.log()
    assert "Traceback" not in stack.api.log.read_text(), stack.log()


async def test_a_client_leaving_an_sse_query_that_waits_ends_it_quietly(
    stack: live.Stack, settings: Settings, tenant_a: Any
) -> None:
    async with locked(settings, "lock table categories in access exclusive mode"), \
            httpx.AsyncClient(base_url=stack.api.url, timeout=DEADLINE + 10) as http:
        with contextlib.suppress(httpx.ReadTimeout):
            await http.post(
                "/graphql/stream", json={"query": "{ categories { id } }"},
                headers={"authorization": f"Bearer {tenant_a.key}", "accept": "text/event-stream"},
                timeout=0.3,
            )
        await asyncio.sleep(0.5)
        health = await http.get("/healthz")

    assert health.status_code == 200
    assert "Traceback" not in stack.api.log.read_text(), stack.log()
