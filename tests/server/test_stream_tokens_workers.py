"""`serve --workers 2`: the two processes of one server accept each other's stream tokens (the
secret derived from JWT_SECRET is the same in both). One token opens streams until both
processes hold some, so the process that did not issue it accepted it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from server.embedded import free_port
from tests import live
from tests.conftest import TenantHandle
from tests.processes import spawn, wait_until
from tests.server.test_sse import EVENTS
from tests.server.test_stream_tokens import token_of

MOST_STREAMS = 40


@pytest.fixture(scope="module")
async def stack(server_env: dict[str, str], tmp_path_factory: Any) -> AsyncIterator[live.Stack]:
    logs = tmp_path_factory.mktemp("stream-workers")
    async with live.stack(server_env, logs, apis=0, workers=0) as made:
        port = free_port()
        log = logs / "serve-workers-2.log"
        api = live.Api(spawn(["serve", "--workers", "2"], {**made.env, "PORT": str(port)}, log), port, log)
        made.apis.append(api)

        async def ready() -> bool:
            async with httpx.AsyncClient(base_url=api.url, timeout=1) as http:
                return (await http.get("/readyz")).status_code == 200

        await wait_until(ready, api.process, log, timeout=60)
        yield made


async def held(api: live.Api, samples: int = 20) -> set[int]:
    """Open live connections as /healthz answers them, from either process (a connection each)."""
    found = set()
    for _ in range(samples):
        async with httpx.AsyncClient(base_url=api.url, timeout=5) as http:
            found.add((await http.get("/healthz")).json()["live"]["connections"])
    return found


async def test_both_processes_accept_one_token(stack: live.Stack, tenant_a: TenantHandle) -> None:
    token = await token_of(stack.api, tenant_a.key)
    statuses = []
    async with contextlib.AsyncExitStack() as streams:
        for opened in range(1, MOST_STREAMS + 1):
            http = await streams.enter_async_context(httpx.AsyncClient(base_url=stack.api.url, timeout=20))
            response = await streams.enter_async_context(http.stream(
                "GET", "/graphql/stream", params={"query": EVENTS, "token": token},
                headers={"accept": "text/event-stream"},
            ))
            statuses.append(response.status_code)
            # Neither process holds none or all of them: both accepted the one token.
            if opened >= 2 and not await held(stack.api) & {0, opened}:
                break
        seen = await held(stack.api)

    assert set(statuses) == {200}, stack.log()
    assert not seen & {0, len(statuses)}, (seen, len(statuses))
