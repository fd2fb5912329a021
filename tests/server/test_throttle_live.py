"""Cost budgets across real `serve` processes: one bucket shared by every process, plan changes
from the CLI applied on the next request in each, and the budget over WebSocket and SSE."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest

from tables import tenant_limits
from tests import live
from tests.conftest import TenantHandle
from tests.processes import cli

FOUR = "{ a: tenant { slug } b: tenant { slug } c: tenant { slug } d: tenant { slug } }"
"""Costs 4, requested and actual."""
FREE = "{ __typename }"
KEEPALIVE = 0.5


@pytest.fixture(scope="module")
async def stack(server_env: dict[str, str], tmp_path_factory: Any) -> AsyncIterator[live.Stack]:
    env = {"COST_EXTENSIONS": "true", "WS_KEEPALIVE_SECONDS": str(KEEPALIVE)}
    async with live.stack(
        server_env, tmp_path_factory.mktemp("throttle"), apis=2, workers=0, env=env
    ) as made:
        yield made


async def post(api: live.Api, key: str, query: str = FOUR) -> httpx.Response:
    async with httpx.AsyncClient(base_url=api.url, timeout=20) as http:
        return await http.post("/graphql", json={"query": query}, headers={"authorization": f"Bearer {key}"})


async def limited(make_tenant: Any, **limits: float) -> TenantHandle:
    made: TenantHandle = await make_tenant()
    made.tenant = await tenant_limits.set_limits(tenant_id=made.id, changes=limits)
    return made


async def test_a_burst_split_across_two_processes_is_throttled_at_the_same_total_as_one(
    stack: live.Stack, make_tenant: Any
) -> None:
    split = await limited(make_tenant, bucket_size=20, restore_rate=0.001)
    alone = await limited(make_tenant, bucket_size=20, restore_rate=0.001)
    across = await asyncio.gather(*(post(stack.apis[n % 2], split.key) for n in range(10)))
    single = await asyncio.gather(*(post(stack.api, alone.key) for _ in range(10)))

    assert sorted(r.status_code for r in across) == [200] * 5 + [429] * 5
    assert sorted(r.status_code for r in single) == [200] * 5 + [429] * 5


async def test_set_limits_from_the_cli_applies_on_the_next_request_in_every_process(
    stack: live.Stack, make_tenant: Any
) -> None:
    tenant: TenantHandle = await make_tenant()
    for api in stack.apis:
        status = (await post(api, tenant.key)).json()["extensions"]["cost"]["throttleStatus"]
        assert status["maximumAvailable"] == 1_000_000

    changed = await cli(
        stack.env, "tenant", "set-limits", tenant.slug, "--bucket-size", "20", "--restore-rate", "0.5"
    )

    assert changed.returncode == 0, changed.stderr
    assert "bucket_size=20 restore_rate=0.5" in changed.stdout
    for api in stack.apis:
        status = (await post(api, tenant.key)).json()["extensions"]["cost"]["throttleStatus"]
        assert (status["maximumAvailable"], status["restoreRate"]) == (20, 0.5)


async def test_set_limits_refuses_what_is_not_a_positive_number(
    stack: live.Stack, make_tenant: Any
) -> None:
    tenant: TenantHandle = await make_tenant()

    refused = await cli(stack.env, "tenant", "set-limits", tenant.slug, "--restore-rate", "-1")

    assert refused.returncode != 0
    assert "positive" in refused.stderr + refused.stdout


async def test_a_throttled_websocket_operation_gets_the_error_and_the_connection_stays(
    stack: live.Stack, make_tenant: Any
) -> None:
    tenant = await limited(make_tenant, bucket_size=8, restore_rate=0.001)

    async with live.connect(stack.api, tenant=tenant.slug, key=tenant.key) as socket:
        await socket.subscribe("1", FOUR)
        [first] = await socket.results("1", 1)
        await socket.subscribe("2", FOUR)
        await socket.results("2", 1)
        await socket.subscribe("3", FOUR)
        refused = await socket.message("3")
        await socket.subscribe("4", FREE)
        [free] = await socket.results("4", 1)

    assert first["extensions"]["cost"]["requestedQueryCost"] == 4
    assert first["extensions"]["cost"]["throttleStatus"]["maximumAvailable"] == 8
    assert refused["type"] == "error"
    [error] = refused["payload"]
    assert error["extensions"]["code"] == "THROTTLED"
    assert error["extensions"]["throttleStatus"]["maximumAvailable"] == 8
    assert error["extensions"]["retryAfter"] > 0
    assert free["data"] == {"__typename": "Query"}


async def test_an_open_websocket_takes_a_plan_change_at_its_next_keep_alive(
    stack: live.Stack, make_tenant: Any
) -> None:
    tenant: TenantHandle = await make_tenant()

    async with live.connect(stack.api, tenant=tenant.slug, key=tenant.key) as socket:
        await socket.subscribe("1", FOUR)
        [before] = await socket.results("1", 1)
        await tenant_limits.set_limits(tenant_id=tenant.id, changes={"bucket_size": 30})
        await asyncio.sleep(KEEPALIVE * 2 + 1.5)  # a ping, past the reuse of the last check
        await socket.subscribe("2", FOUR)
        [after] = await socket.results("2", 1)

    assert before["extensions"]["cost"]["throttleStatus"]["maximumAvailable"] == 1_000_000
    assert after["extensions"]["cost"]["throttleStatus"]["maximumAvailable"] == 30


async def test_sse_answers_carry_the_cost_and_a_throttled_one_the_error_frame(
    stack: live.Stack, make_tenant: Any
) -> None:
    tenant = await limited(make_tenant, bucket_size=4, restore_rate=0.001)

    answered, refused = [await _sse(stack.api, tenant.key, FOUR) for _ in range(2)]

    assert answered[0]["extensions"]["cost"]["actualQueryCost"] == 4
    assert refused[0].get("data") is None
    assert refused[0]["errors"][0]["extensions"]["code"] == "THROTTLED"


async def _sse(api: live.Api, key: str, query: str) -> list[dict[str, Any]]:
    """The data of each `next` frame of a stream that ends by itself."""
    async with httpx.AsyncClient(base_url=api.url, timeout=20) as http:
        response = await http.post(
            "/graphql/stream", json={"query": query},
            headers={"authorization": f"Bearer {key}", "accept": "text/event-stream"},
        )
    assert response.status_code == 200
    assert "event: complete" in response.text
    return [
        orjson.loads(line.removeprefix("data: "))
        for line in response.text.splitlines() if line.startswith("data: {")
    ]
