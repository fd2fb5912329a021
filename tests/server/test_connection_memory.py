"""Memory after a mass disconnect, against a real `serve` process: its registries are empty at
once, and its resident memory returns to where it was before the wave (what is left of a wave
is free memory inside CPython's arenas, which the next wave reuses; see the README)."""

from __future__ import annotations

import asyncio
import contextlib
import resource
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import psutil
import pytest

from server.connections import SWEEP_QUIET
from tests import live
from tests.conftest import TenantHandle

WAVE = 300
"""Connections per wave, half of them sharing one stream, half each with a stream of its own."""
SHARED = "subscription { events { cursor type } }"
OWN = "subscription Events($after: String) { events(after: $after) { cursor type } }"
IDLE = {"connections": 0, "tenants": 0, "credentials": 0, "listeners": 0, "sharedStreams": 0}
SLACK_MB = 2.0
"""Measured: a wave of 300 leaves 0.2-0.3 MB once swept; without the sweep and with the cycles
that held closed connections, every wave kept its growth (5.7 MB here)."""


@pytest.fixture(scope="module")
async def api(server_env: dict[str, str], tmp_path_factory: Any) -> AsyncIterator[live.Api]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4 * WAVE + 1024)), hard))
    env = {"LIVE_CONNECTIONS_PER_CREDENTIAL": str(WAVE), "LIVE_CONNECTIONS_PER_TENANT": str(WAVE),
           # Waves of one key's connections, each subscribing: no rate limit in the way.
           "WS_INIT_BURST": str(10 * WAVE), "SUBSCRIBE_BURST": str(10 * WAVE)}
    async with live.stack(server_env, tmp_path_factory.mktemp("memory"), workers=0, env=env) as made:
        yield made.api


def rss_mb(api: live.Api) -> float:
    return float(psutil.Process(api.process.pid).memory_info().rss) / 2**20


async def live_counts(api: live.Api) -> dict[str, int]:
    async with httpx.AsyncClient(base_url=api.url, timeout=10) as http:
        counts: dict[str, int] = (await http.get("/healthz")).json()["live"]
    return counts


async def wave(api: live.Api, tenant: TenantHandle) -> dict[str, int]:
    """Open WAVE subscribed connections, then close them all; the counts while they were open."""
    async with contextlib.AsyncExitStack() as held:
        async def one(index: int) -> None:
            socket = await held.enter_async_context(live.connect(api, tenant=tenant.slug, key=tenant.key))
            if index % 2:
                await socket.subscribe("1", SHARED)
            else:
                await socket.subscribe("1", OWN, {"after": "0"})

        for start in range(0, WAVE, 100):
            await asyncio.gather(*(one(i) for i in range(start, min(WAVE, start + 100))))
        await asyncio.sleep(0.5)
        return await live_counts(api)


async def settled_rss(api: live.Api, timeout: float = 10) -> float:
    """Resident memory once the registries are empty and the sweep that follows has run."""
    deadline = time.monotonic() + timeout
    while await live_counts(api) != IDLE and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    await asyncio.sleep(SWEEP_QUIET + 1.0)
    return rss_mb(api)


async def test_after_a_mass_disconnect_registries_are_empty_and_memory_returns(
    api: live.Api, tenant_a: TenantHandle
) -> None:
    await wave(api, tenant_a)  # the first wave fills caches and arenas for good
    before = await settled_rss(api)

    opened = await wave(api, tenant_a)
    peak = rss_mb(api)
    after = await settled_rss(api)

    assert opened == {"connections": WAVE, "tenants": 1, "credentials": 1, "listeners": WAVE // 2 + 1,
                      "sharedStreams": 1}
    assert await live_counts(api) == IDLE
    print(f"before {before:.1f} MB, {WAVE} open {peak:.1f} MB, closed {after:.1f} MB")
    assert after - before < SLACK_MB, f"before {before:.1f} MB, peak {peak:.1f} MB, after {after:.1f} MB"
