"""No single request holds an API process: the loop watchdog and SIGTERM, on real processes.

The server is `tenantgraph serve` started through tests/holding.py, which adds one test-only
schema extension: a document with `# hold-loop <seconds>` keeps the loop busy in Python code
while it is validated, as a pathological document does.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.embedded import free_port
from server.watchdog import BACKSTOP, EXIT_LOOP_BLOCKED, EXIT_SHUTDOWN_OVERRAN
from tests import live
from tests.processes import spawn, stop, wait_exit, wait_until

HOLDING_CLI = [sys.executable, "-m", "tests.holding"]
GRACE = 3.0
SLACK = 2.5
"""Allowed past a deadline on 2 busy cores (polling, interpreter exit)."""


def holding(seconds: float) -> str:
    return f"# hold-loop {seconds}\n{{ tenant {{ slug }} }}"


class Served:
    def __init__(self, process: Any, url: str, log: Path) -> None:
        self.process = process
        self.url = url
        self.log = log

    def post(self, query: str, key: str, request_id: str) -> asyncio.Task[Any]:
        """Send in the background: while the loop is held, no answer comes."""
        async def send() -> httpx.Response:
            async with httpx.AsyncClient(base_url=self.url, timeout=120) as http:
                return await http.post("/graphql", json={"query": query}, headers={
                    "authorization": f"Bearer {key}", "x-request-id": request_id,
                })
        return asyncio.create_task(send())

    async def exit_within(self, seconds: float) -> tuple[int | None, float]:
        started = time.monotonic()
        code = await wait_exit(self.process, seconds)
        return code, time.monotonic() - started


@pytest.fixture
async def serve(server_env: dict[str, str], tmp_path: Path) -> AsyncIterator[Any]:
    started: list[Served] = []

    async def start(**env: str) -> Served:
        port = free_port()
        log = tmp_path / f"serve-{port}.log"
        settings = {"SHUTDOWN_GRACE_SECONDS": str(GRACE), **env}
        process = spawn(["serve"], {**server_env, "PORT": str(port), **settings}, log,
                        cli=HOLDING_CLI)
        served = Served(process, f"http://127.0.0.1:{port}", log)
        started.append(served)

        async def healthy() -> bool:
            async with httpx.AsyncClient(base_url=served.url, timeout=1) as http:
                return (await http.get("/healthz")).status_code == 200

        await wait_until(healthy, process, log)
        return served

    yield start
    for served in started:
        await stop(served.process, signal.SIGKILL)


async def healthz_answers(served: Served, timeout: float) -> bool:
    with contextlib.suppress(httpx.TransportError):
        async with httpx.AsyncClient(base_url=served.url, timeout=timeout) as http:
            return (await http.get("/healthz")).status_code == 200
    return False


async def test_a_blocked_loop_is_reported_with_its_request_and_the_process_exits(
    serve: Any, tenant_a: Any
) -> None:
    served = await serve(LOOP_BLOCKED_WARN_SECONDS="0.5", LOOP_BLOCKED_EXIT_SECONDS="2")
    document = holding(60)
    request = served.post(document, tenant_a.key, "holds-the-loop-1")

    code, took = await served.exit_within(2 + SLACK + 2)
    request.cancel()

    log = served.log.read_text()
    assert code == EXIT_LOOP_BLOCKED, f"exit {code} after {took:.1f}s:\n{log}"
    blocked = [line for line in log.splitlines() if "event loop blocked" in line]
    assert blocked, log
    digest = hashlib.sha256(document.encode()).hexdigest()
    for line in (blocked[0], blocked[-1]):  # the first warning, and the exit
        assert "holds-the-loop-1" in line and digest in line and tenant_a.slug in line, line
    assert "exiting" in blocked[-1]


async def test_a_websocket_operation_holding_the_loop_is_named(serve: Any, tenant_a: Any) -> None:
    served = await serve(LOOP_BLOCKED_WARN_SECONDS="0.5", LOOP_BLOCKED_EXIT_SECONDS="2")
    api = live.Api(served.process, int(served.url.rsplit(":", 1)[1]), served.log)
    document = holding(60)
    code, took = None, 0.0

    with contextlib.suppress(Exception):  # the connection dies with the process
        async with live.connect(api, tenant=tenant_a.slug, key=tenant_a.key) as socket:
            await socket.subscribe("1", document)
            code, took = await served.exit_within(2 + SLACK + 2)

    log = served.log.read_text()
    assert code == EXIT_LOOP_BLOCKED, f"exit {code} after {took:.1f}s:\n{log}"
    blocked = [line for line in log.splitlines() if "event loop blocked" in line]
    digest = hashlib.sha256(document.encode()).hexdigest()
    assert blocked and digest in blocked[0] and tenant_a.slug in blocked[0], log
    assert "in_flight" not in blocked[0], "the operation's own task holds the loop"


async def test_sigterm_ends_a_process_whose_loop_is_held(serve: Any, tenant_a: Any) -> None:
    served = await serve(LOOP_BLOCKED_WARN_SECONDS="0.5", LOOP_BLOCKED_EXIT_SECONDS="0")
    request = served.post(holding(60), tenant_a.key, "holds-the-loop-2")
    await asyncio.sleep(1)
    assert not await healthz_answers(served, timeout=0.5), "the loop should be held"

    served.process.send_signal(signal.SIGTERM)
    code, took = await served.exit_within(GRACE + SLACK)
    request.cancel()

    log = served.log.read_text()
    # Its own exit code, while the request still holds the loop (for 60 s): the grace acted.
    assert code == EXIT_SHUTDOWN_OVERRAN, f"exit {code} after {took:.1f}s:\n{log}"
    assert "after SIGTERM" in log


async def test_sigterm_ends_a_process_with_an_open_event_stream(
    serve: Any, tenant_a: Any
) -> None:
    served = await serve()
    opened = asyncio.Event()

    async def listen() -> None:
        async with httpx.AsyncClient(base_url=served.url, timeout=60) as http, http.stream(
            "POST", "/graphql/stream", json={"query": "subscription { events { cursor } }"},
            headers={"authorization": f"Bearer {tenant_a.key}"},
        ) as response:
            assert response.status_code == 200
            opened.set()
            async for _ in response.aiter_bytes():
                pass

    listener = asyncio.create_task(listen())
    await asyncio.wait_for(opened.wait(), 10)

    served.process.send_signal(signal.SIGTERM)
    code, took = await served.exit_within(GRACE + SLACK)
    listener.cancel()
    with contextlib.suppress(BaseException):
        await listener

    log = served.log.read_text()
    assert code is not None, f"still running {took:.1f}s after SIGTERM:\n{log}"
    assert code == 0, f"exit {code}:\n{log}"


async def test_a_healthy_loop_stays_up_and_answers_between_short_holds(
    serve: Any, tenant_a: Any
) -> None:
    served = await serve(LOOP_BLOCKED_WARN_SECONDS="0.3", LOOP_BLOCKED_EXIT_SECONDS="3")

    for number in range(3):
        answer = await served.post(holding(0.6), tenant_a.key, f"short-hold-{number}")
        assert answer.status_code == 200, answer.text

    assert served.process.poll() is None
    assert await healthz_answers(served, timeout=2)
    log = served.log.read_text()
    blocked = [line for line in log.splitlines() if "event loop blocked" in line]
    assert [line for line in blocked if "short-hold-0" in line], log
    assert "exiting" not in log and "runs again" in log, log


async def test_a_stopped_and_continued_process_is_not_mistaken_for_a_blocked_loop(
    serve: Any
) -> None:
    served = await serve(LOOP_BLOCKED_WARN_SECONDS="0.5", LOOP_BLOCKED_EXIT_SECONDS="2")

    served.process.send_signal(signal.SIGSTOP)
    await asyncio.sleep(3)
    served.process.send_signal(signal.SIGCONT)
    await asyncio.sleep(1)

    assert served.process.poll() is None, served.log.read_text()
    assert await healthz_answers(served, timeout=2)


async def test_a_loop_held_in_c_with_the_gil_is_ended_by_the_backstop(
    serve: Any, tenant_a: Any
) -> None:
    served = await serve(LOOP_BLOCKED_WARN_SECONDS="0.5", LOOP_BLOCKED_EXIT_SECONDS="1")
    request = served.post("# hold-gil\n{ tenant { slug } }", tenant_a.key, "holds-the-gil")

    code, took = await served.exit_within(1 + BACKSTOP + SLACK + 2)
    request.cancel()

    log = served.log.read_text()
    assert code == 1, f"exit {code} after {took:.1f}s:\n{log}"
    assert "Timeout" in log and "tests/holding.py" in log, log
