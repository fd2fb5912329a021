"""OPERATION_TIMEOUT: an operation past its deadline is cancelled, answers OPERATION_TIMEOUT,
keeps nothing it was writing, and other tenants are served meanwhile.

The slow operation is a real one: createOrder waiting for the stock rows that another
transaction holds locked (awaiting, so the loop stays free)."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from domain.config import Settings
from tests.shop import CREATE_ORDER, Shop, open_shop

DEADLINE = 1.0
TENANT_SLUG = "{ tenant { slug } }"


@pytest.fixture
async def shop(make_tenant: Any, client_for: Any, settings: Settings) -> Shop:
    """A shop whose requests go to an app with a short OPERATION_TIMEOUT."""
    shop = await open_shop(make_tenant)
    hurried = client_for(dataclasses.replace(settings, operation_timeout=DEADLINE))
    shop.tenant = dataclasses.replace(shop.tenant, client=hurried)
    return shop


@pytest.fixture
async def stock_locked(settings: Settings, shop: Shop) -> AsyncIterator[None]:
    """The shop's stock rows locked by another transaction until the test ends."""
    connection = await asyncpg.connect(settings.database_url)
    transaction = connection.transaction()
    await transaction.start()
    await connection.execute(
        "select 1 from stock_levels where tenant_id = $1 for update", shop.id
    )
    try:
        yield
    finally:
        await transaction.rollback()
        await connection.close()


async def test_an_operation_past_its_deadline_answers_operation_timeout_and_writes_nothing(
    shop: Shop, stock_locked: None
) -> None:
    before = await shop.stock("TEE-S")

    started = time.monotonic()
    response = await shop.tenant.post(CREATE_ORDER, {"input": {
        "customerId": str(shop.customer_id), "lines": [shop.line("TEE-S", 2)],
    }})
    took = time.monotonic() - started

    assert response.status_code == 504, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == "OPERATION_TIMEOUT"
    assert error["extensions"]["timeoutSeconds"] == DEADLINE
    assert error["extensions"]["requestId"] == response.headers["x-request-id"]
    assert DEADLINE <= took < DEADLINE + 2
    orders = await shop.gql("{ orders(first: 5) { edges { node { id } } } }")
    assert orders == {"data": {"orders": {"edges": []}}}
    assert await shop.event_types() == []
    assert await shop.stock("TEE-S") == before


async def test_other_tenants_are_answered_while_an_operation_waits_for_its_deadline(
    shop: Shop, stock_locked: None, tenant_b: Any
) -> None:
    slow = asyncio.create_task(shop.tenant.post(CREATE_ORDER, {"input": {
        "customerId": str(shop.customer_id), "lines": [shop.line("MUG")],
    }}))
    await asyncio.sleep(0.2)

    started = time.monotonic()
    other = await tenant_b.gql(TENANT_SLUG)
    answered_in = time.monotonic() - started

    assert other == {"data": {"tenant": {"slug": tenant_b.slug}}}
    assert not slow.done() and answered_in < DEADLINE / 2
    assert (await slow).json()["errors"][0]["extensions"]["code"] == "OPERATION_TIMEOUT"


async def test_an_operation_within_its_deadline_is_answered_as_usual(shop: Shop) -> None:
    order = await shop.place(shop.line("TEE-S"))

    assert order["status"] == "PENDING"
    assert await shop.stock("TEE-S") == (10, 1)
