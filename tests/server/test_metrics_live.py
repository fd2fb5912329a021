"""Metrics of real processes: `serve --workers 2` (multiprocess mode) and a worker on its own
METRICS_BIND, scraped before and after real traffic (queries, a mutation, webhooks, a
subscription, an SSE stream), each metric checked to exist and to move by the right amount."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from server.embedded import free_port
from tests import live, webhooks
from tests.conftest import GRAPHQL_CLIENT_ACCEPT, TenantHandle
from tests.processes import spawn, wait_until
from tests.scrape import Scrape, bearer, delta
from tests.stock import CREATE_LOCATION, open_api_shop

TOKEN = "metrics-token-0123456789"
PRODUCTS = "query Products { products(first: 2) { edges { node { title } } } }"
EVENTS = "subscription Events { events { cursor type } }"
MODULES = ("catalog", "inventory")


@pytest.fixture(scope="module")
async def stack(server_env: dict[str, str], tmp_path_factory: Any) -> AsyncIterator[live.Stack]:
    logs = tmp_path_factory.mktemp("metrics")
    async with live.stack(server_env, logs, apis=0, workers=0, env={"METRICS_TOKEN": TOKEN}) as made:
        worker_port = free_port()
        await made.start_worker(METRICS_BIND=f"127.0.0.1:{worker_port}")
        made.env["WORKER_METRICS"] = f"http://127.0.0.1:{worker_port}/metrics"
        port = free_port()
        log = logs / "serve-workers-2.log"
        process = spawn(["serve", "--workers", "2"], {**made.env, "PORT": str(port)}, log)
        api = live.Api(process, port, log)
        made.apis.append(api)

        async def ready() -> bool:
            async with httpx.AsyncClient(base_url=api.url, timeout=1) as http:
                return (await http.get("/readyz")).status_code == 200

        await wait_until(ready, process, log, timeout=60)
        yield made


async def scrape_api(stack: live.Stack) -> Scrape:
    async with httpx.AsyncClient(base_url=stack.api.url, timeout=10) as http:
        response = await http.get("/metrics", headers=bearer(TOKEN))
    assert response.status_code == 200, response.text
    return Scrape(response.text)


async def scrape_worker(stack: live.Stack) -> Scrape:
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.get(stack.env["WORKER_METRICS"], headers=bearer(TOKEN))
    assert response.status_code == 200, response.text
    return Scrape(response.text)


async def post(stack: live.Stack, tenant: TenantHandle, query: str, variables: Any = None) -> httpx.Response:
    """One request on a connection of its own, so that both API processes take some."""
    async with httpx.AsyncClient(base_url=stack.api.url, timeout=20) as http:
        return await http.post("/graphql", json={"query": query, "variables": variables or {}},
                               headers={**bearer(tenant.key), "accept": GRAPHQL_CLIENT_ACCEPT})


async def until(check: Any, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "metric did not move in time"
        await asyncio.sleep(0.2)


@contextlib.asynccontextmanager
async def sse_stream(stack: live.Stack, tenant: TenantHandle) -> AsyncIterator[None]:
    async with httpx.AsyncClient(base_url=stack.api.url, timeout=20) as http, http.stream(
        "POST", "/graphql/stream", json={"query": EVENTS}, headers=bearer(tenant.key),
    ) as response:
        assert response.status_code == 200
        yield


async def test_metrics_of_serve_workers_2_and_a_worker_move_with_real_traffic(
    stack: live.Stack, make_tenant: Any,
) -> None:
    mine, theirs = await make_tenant(MODULES), await make_tenant(MODULES)
    shop = await open_api_shop(mine, ("MUG",), ("main",))
    secret = await webhooks.endpoint(mine, "inventory-flow")
    api0, worker0 = await scrape_api(stack), await scrape_worker(stack)

    for _ in range(5):
        assert (await post(stack, mine, PRODUCTS)).status_code == 200
    assert (await post(stack, theirs, PRODUCTS)).status_code == 200
    made = await post(stack, mine, CREATE_LOCATION, {"input": {"name": "Back", "handle": "back"}})
    assert made.json()["data"]["createLocation"]["errors"] == []
    assert (await post(stack, mine, "{ noSuchField }")).status_code == 400
    async with live.connect(stack.api, tenant=mine.slug, key=mine.key) as socket, sse_stream(stack, mine):
        await socket.subscribe("1", EVENTS)
        await until(lambda: _live(stack, mine.slug))
        during = await scrape_api(stack)
        async with httpx.AsyncClient(base_url=stack.api.url, timeout=20) as http:
            good = await webhooks.deliver(http, mine, "inventory-flow", secret,
                                          webhooks.stock("set", [("MUG", "main", 7)]))
            dead = await webhooks.deliver(http, mine, "inventory-flow", secret,
                                          webhooks.stock("set", [("NO-SUCH-SKU", "main", 1)]))
            forged = await webhooks.deliver(http, mine, "inventory-flow", "whsec_" + "A" * 32,
                                            webhooks.stock("set", [("MUG", "main", 1)]))
        assert (good.status_code, dead.status_code, forged.status_code) == (202, 202, 401)
        [pushed] = await socket.results("1", 1, timeout=20)
        assert pushed["data"]["events"]["type"]
    await until(lambda: _worker_done(stack, worker0))
    await until(lambda: _closed(stack))
    api1, worker1 = await scrape_api(stack), await scrape_worker(stack)

    started = stack.api.log.read_text().count("Started server process")
    assert started == 2, "both API processes answer, their metrics summed from the shared dir"
    _check_http(api0, api1, mine, theirs)
    _check_graphql(api0, api1, mine, theirs)
    _check_webhooks(api0, api1, mine)
    _check_live(during, api1, mine)
    _check_worker(worker0, worker1)
    assert shop.variants


async def _live(stack: live.Stack, slug: str) -> bool:
    found = await scrape_api(stack)
    return found.value("graphql_live_subscriptions", tenant=slug, field="events") >= 2


async def _closed(stack: live.Stack) -> bool:
    found = await scrape_api(stack)
    return found.value("websocket_connections") == 0 and found.value("sse_streams") == 0


async def _worker_done(stack: live.Stack, before: Scrape) -> bool:
    after = await scrape_worker(stack)
    return delta(before, after, "jobs_total", function="apply_deliveries") >= 1 and delta(
        before, after, "webhook_delivery_batch_size_sum") >= 2 and delta(
        before, after, "outbox_relay_batch_size_events_count") >= 1


def _check_http(before: Scrape, after: Scrape, mine: TenantHandle, theirs: TenantHandle) -> None:
    count = "http_request_duration_seconds_count"
    # 5 queries and the mutation answered 200; the invalid document 400.
    graphql = {"route": "/graphql", "method": "POST", "tenant": mine.slug}
    assert delta(before, after, count, status_code="200", **graphql) == 6
    assert delta(before, after, count, status_code="400", **graphql) == 1
    assert delta(before, after, count, route="/graphql", status_code="200", tenant=theirs.slug) == 1
    assert delta(before, after, count, route="/webhooks/{flow}", status_code="202", tenant=mine.slug) == 2
    assert delta(before, after, count, route="/graphql/stream", status_code="200", tenant=mine.slug) == 1
    assert not any("?" in route or "inventory-flow" in route for route in after.label_values("route"))


def _check_graphql(before: Scrape, after: Scrape, mine: TenantHandle, theirs: TenantHandle) -> None:
    ops = "graphql_operations_total"
    assert delta(before, after, ops, type="query", operation="Products", tenant=mine.slug) == 5
    # Each API process plans a read it has answered once: 5 on 2 processes, some planned.
    assert delta(before, after, ops, operation="Products", tenant=mine.slug, planned="true") >= 1
    assert delta(before, after, ops, operation="Products", tenant=theirs.slug) == 1
    assert delta(before, after, ops, type="mutation", operation="CreateLocation", tenant=mine.slug,
                 planned="false") == 1
    assert delta(before, after, "graphql_operation_duration_seconds_count", operation="Products",
                 tenant=mine.slug) == 5
    assert delta(before, after, "graphql_errors_total", code="GRAPHQL_VALIDATION_FAILED") == 1
    builds = "module_load_duration_seconds_count"
    assert after.value(builds, modules=",".join(MODULES)) >= 1


def _check_webhooks(before: Scrape, after: Scrape, mine: TenantHandle) -> None:
    received = "webhook_deliveries_received_total"
    assert delta(before, after, received, flow="inventory-flow", tenant=mine.slug, outcome="queued") == 2
    # A signature that fails names no tenant: an unverified caller chooses no label value.
    assert delta(before, after, received, flow="inventory-flow", tenant="none",
                 outcome="bad_signature") >= 1
    assert delta(before, after, received, flow="inventory-flow", tenant=mine.slug,
                 outcome="bad_signature") == 0


def _check_live(during: Scrape, after: Scrape, mine: TenantHandle) -> None:
    # One WebSocket subscription and one SSE stream were open, both `events` of `mine`.
    assert during.value("graphql_live_subscriptions", tenant=mine.slug, field="events") == 2
    assert during.value("websocket_connections") == 1
    assert during.value("sse_streams") == 1
    assert after.value("graphql_live_subscriptions", tenant=mine.slug) == 0
    assert during.value("db_pool_connections_in_use") >= 0 and ("db_pool_waiting" in during.names())
    for name in ("graphql_resync_required_total", "redis_errors_total"):
        assert name in after.names()


def _check_worker(before: Scrape, after: Scrape) -> None:
    jobs = "jobs_total"
    # Two deliveries, woken through SAQ (a job per wake-up, one or two) or found by the poll.
    assert delta(before, after, jobs, function="apply_deliveries", outcome="complete") >= 1
    assert delta(before, after, "job_duration_seconds_count", function="apply_deliveries") >= 1
    assert delta(before, after, "webhook_delivery_batch_size_sum") == 2
    assert delta(before, after, "webhook_deliveries_dead_lettered_total", reason="rejected") == 1
    assert delta(before, after, "outbox_relay_batch_size_events_count") >= 1
    assert delta(before, after, "outbox_relay_publish_duration_seconds_count") >= 1
    assert "outbox_backlog_events" in after.names() and "outbox_lag_seconds" in after.names()
    assert after.value("outbox_backlog_events") >= 0
    assert "db_pool_connections_in_use" in after.names()
    assert after.value("redis_errors_total", operation="publish") == 0
    assert {"outbound_attempts_total", "outbound_backlog_messages"} <= set(after.names())
