"""SIGTERM to `tenantgraph serve` (a deploy), with live connections and requests in flight,
on real processes: streams end at once with a reconnect hint, WebSockets close with 1001 after
what is in flight is sent, requests in flight finish, and the process exits 0 in the grace.

A request is held in flight deterministically: the test locks the product row it updates.
"At once" is shown by order, not by a clock: an idle stream or socket ends while a request is
still held in flight; exit code 0 (not the grace's own) says the grace did not have to act."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from domain.config import Settings
from server.embedded import free_port
from tests import live
from tests.documents import CREATE_PRODUCT, UPDATE_PRODUCT, payload, product_input
from tests.processes import spawn, stop, wait_exit, wait_until

GRACE = 6.0
SLACK = 2.5
"""Allowed past a deadline on 2 busy cores (polling, interpreter exit)."""
HELD = 0.8
"""How long the test holds a request in flight after SIGTERM."""
STREAM = "subscription { events { cursor } }"


@pytest.fixture
async def serve(server_env: dict[str, str], tmp_path: Path) -> AsyncIterator[Any]:
    started: list[live.Api] = []

    async def start(workers: int = 1) -> live.Api:
        port = free_port()
        log = tmp_path / f"serve-{port}.log"
        env = {**server_env, "PORT": str(port), "SHUTDOWN_GRACE_SECONDS": str(GRACE)}
        api = live.Api(spawn(["serve", "--workers", str(workers)], env, log), port, log)
        started.append(api)

        async def healthy() -> bool:
            async with httpx.AsyncClient(base_url=api.url, timeout=1) as http:
                return (await http.get("/healthz")).status_code == 200

        await wait_until(healthy, api.process, log, timeout=40)
        return api

    yield start
    for api in started:
        await stop(api.process, signal.SIGKILL)


async def exits(api: live.Api, since: float) -> tuple[int | None, float]:
    code = await wait_exit(api.process, GRACE + SLACK)
    return code, time.monotonic() - since


@contextlib.asynccontextmanager
async def locked_product(settings: Settings, tenant: Any) -> AsyncIterator[tuple[str, Any]]:
    """A product of `tenant` whose row the test holds locked: updating it waits. Yields its id
    and the lock's transaction (roll it back to let the update through)."""
    created = payload(await tenant.gql(CREATE_PRODUCT, {"input": product_input("Mug", ["MUG-1"])}),
                      "createProduct")
    product_id = created["product"]["id"]
    assert settings.database_url is not None
    lock = await asyncpg.connect(settings.database_url)
    transaction = lock.transaction()
    await transaction.start()
    await lock.execute("select 1 from products where tenant_id = $1 for update", tenant.id)
    try:
        yield product_id, transaction
    finally:
        with contextlib.suppress(Exception):
            await transaction.rollback()
        await lock.close()


async def until_waiting(settings: Settings) -> None:
    """Until an update waits on the test's lock."""
    assert settings.database_url is not None
    probe = await asyncpg.connect(settings.database_url)
    try:
        deadline = time.monotonic() + 20
        while not await probe.fetchval(
            "select count(*) from pg_stat_activity where wait_event_type = 'Lock'"
            " and datname = current_database() and query like '%products%'"
        ):
            assert time.monotonic() < deadline, "the update never waited on the lock"
            await asyncio.sleep(0.05)
    finally:
        await probe.close()


def rename(product_id: str, title: str) -> dict[str, Any]:
    return {"query": UPDATE_PRODUCT, "variables": {"id": product_id, "input": {"title": title}}}


@contextlib.asynccontextmanager
async def request_in_flight(
    api: live.Api, settings: Settings, tenant: Any
) -> AsyncIterator[tuple[asyncio.Task[httpx.Response], Any]]:
    """An update held in flight on the test's lock: yields its request and the lock's
    transaction (roll it back to let the update through)."""
    async with locked_product(settings, tenant) as (product_id, lock), httpx.AsyncClient(
        base_url=api.url, timeout=30
    ) as http:
        request = asyncio.create_task(http.post(
            "/graphql", json=rename(product_id, "Held"),
            headers={"authorization": f"Bearer {tenant.key}"},
        ))
        await until_waiting(settings)
        try:
            yield request, lock
        finally:
            with contextlib.suppress(asyncpg.InterfaceError):  # the test let it through already
                await lock.rollback()
            await asyncio.wait([request])


@pytest.mark.parametrize("workers", [1, 2])
async def test_an_open_event_stream_ends_at_once_with_a_reconnect_hint(
    serve: Any, tenant_a: Any, settings: Settings, workers: int
) -> None:
    api = await serve(workers)
    opened, received = asyncio.Event(), []

    async def listen() -> None:
        async with httpx.AsyncClient(base_url=api.url, timeout=60) as http, http.stream(
            "POST", "/graphql/stream", json={"query": STREAM},
            headers={"authorization": f"Bearer {tenant_a.key}"},
        ) as response:
            assert response.status_code == 200
            opened.set()
            async for text in response.aiter_text():
                received.append(text)

    listener = asyncio.create_task(listen())
    await asyncio.wait_for(opened.wait(), 10)

    async with request_in_flight(api, settings, tenant_a) as (request, _):
        api.process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        await asyncio.wait_for(listener, GRACE)
        held = not request.done()
    code, took = await exits(api, signalled)

    log = api.log.read_text()
    body = "".join(received)
    assert held, "the stream ended only once the request in flight was done"
    assert "retry: 1000" in body and "event: complete" not in body, body
    assert request.result().status_code == 200, request.result().text
    assert code == 0, f"exit {code} after {took:.1f}s:\n{log}"


async def test_a_websocket_gets_its_mutation_result_in_flight_then_1001(
    serve: Any, tenant_a: Any, settings: Settings
) -> None:
    api = await serve()
    async with locked_product(settings, tenant_a) as (product_id, lock), live.connect(
        api, tenant=tenant_a.slug, key=tenant_a.key
    ) as socket:
        await socket.subscribe("events", STREAM)
        await socket.send({"type": "subscribe", "id": "rename", "payload": rename(product_id, "Cup")})
        await until_waiting(settings)

        api.process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        await asyncio.sleep(HELD)
        async with httpx.AsyncClient(base_url=api.url, timeout=5) as http:
            readiness = await http.get("/readyz")  # still accepting while the socket drains
        await lock.rollback()
        result = await socket.message("rename")
        done = await socket.message("rename")
        close_code, reason = await socket.closed(GRACE)  # after the result and its completion
        code, took = await exits(api, signalled)

    log = api.log.read_text()
    assert (readiness.status_code, readiness.json()["status"]) == (503, "draining")
    assert result["type"] == "next", result
    assert result["payload"]["data"]["updateProduct"]["product"]["title"] == "Cup", result
    assert done == {"type": "complete", "id": "rename"}
    assert (close_code, reason) == (1001, "Going away: the server is restarting")
    assert code == 0, f"exit {code} after {took:.1f}s:\n{log}"


async def test_an_idle_websocket_is_closed_with_1001_at_once(
    serve: Any, tenant_a: Any, settings: Settings
) -> None:
    api = await serve()
    async with live.connect(api, tenant=tenant_a.slug, key=tenant_a.key) as socket, \
            request_in_flight(api, settings, tenant_a) as (request, _):
        await socket.subscribe("events", STREAM)
        await asyncio.sleep(0.3)

        api.process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        close_code, _ = await socket.closed(GRACE)
        held = not request.done()
    code, took = await exits(api, signalled)

    assert close_code == 1001
    assert held, "the idle socket was closed only once the request in flight was done"
    assert request.result().status_code == 200, request.result().text
    assert code == 0, f"exit {code} after {took:.1f}s:\n{api.log.read_text()}"


async def test_an_http_request_in_flight_finishes_with_200(
    serve: Any, tenant_a: Any, settings: Settings
) -> None:
    api = await serve()
    async with request_in_flight(api, settings, tenant_a) as (request, lock):
        api.process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        await asyncio.sleep(HELD)
        await lock.rollback()
        response = await request
        code, took = await exits(api, signalled)

    assert response.status_code == 200, response.text
    assert response.json()["data"]["updateProduct"]["product"]["title"] == "Held"
    assert code == 0, f"exit {code} after {took:.1f}s:\n{api.log.read_text()}"
