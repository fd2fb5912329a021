"""The API as real processes: `tenantgraph serve` under uvicorn, probed over TCP."""

from __future__ import annotations

import asyncio
import dataclasses
import signal
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.embedded import free_port
from tests.processes import cli, spawn, stop, wait_exit, wait_until

FASHION_FIELDS = '{ __type(name: "Product") { fields { name } } }'


@dataclasses.dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    async def get(self, path: str, timeout: float = 10) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.url, timeout=timeout) as http:
            return await http.get(path)

    async def gql(self, query: str, key: str) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=self.url, timeout=10) as http:
            response = await http.post(
                "/graphql", json={"query": query}, headers={"authorization": f"Bearer {key}"}
            )
        body: dict[str, Any] = response.json()
        return body


StartServer = Callable[..., Awaitable[Server]]


@pytest.fixture
async def start_server(server_env: dict[str, str], tmp_path: Path) -> AsyncIterator[StartServer]:
    """Start `tenantgraph serve` on a free port and wait for /healthz; stopped afterwards."""
    servers: list[Server] = []

    async def start(**env: str) -> Server:
        port = free_port()
        log = tmp_path / f"serve-{port}.log"
        process = spawn(["serve"], {**server_env, "PORT": str(port), **env}, log)
        server = Server(process, f"http://127.0.0.1:{port}", log)
        servers.append(server)

        async def healthy() -> bool:
            return (await server.get("/healthz", timeout=1)).status_code == 200

        await wait_until(healthy, process, log)
        return server

    yield start
    for server in servers:
        await stop(server.process)


def field_names(body: dict[str, Any]) -> set[str]:
    assert "errors" not in body, body
    return {field["name"] for field in body["data"]["__type"]["fields"]}


async def test_healthz_answers_200(start_server: StartServer) -> None:
    server = await start_server()

    response = await server.get("/healthz")

    assert response.status_code == 200
    assert response.json()["status"] == "ok"


async def test_readyz_reports_postgres_and_redis_ok(start_server: StartServer) -> None:
    server = await start_server()

    response = await server.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"postgres": "ok", "redis": "ok"}}


async def test_readyz_names_unreachable_redis(start_server: StartServer) -> None:
    server = await start_server(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")

    response = await server.get("/readyz", timeout=15)

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["postgres"] == "ok"
    assert body["checks"]["redis"].startswith("failed"), body


async def test_module_change_applies_on_next_request_in_every_process(
    start_server: StartServer, make_tenant: Any, server_env: dict[str, str]
) -> None:
    tenant = await make_tenant(("catalog",), ("banban",))
    servers = await asyncio.gather(start_server(), start_server())
    for server in servers:
        assert "fashion" in field_names(await server.gql(FASHION_FIELDS, tenant.key))

    changed = await cli(server_env, "tenant", "set-modules", tenant.slug, "catalog", "--extensions", "")

    assert changed.returncode == 0, changed.stderr
    for server in servers:
        fields = field_names(await server.gql(FASHION_FIELDS, tenant.key))
        assert "fashion" not in fields
        assert "title" in fields


async def test_sigterm_exits_cleanly(start_server: StartServer) -> None:
    server = await start_server()

    server.process.send_signal(signal.SIGTERM)
    code = await wait_exit(server.process, timeout=10)

    assert code == 0, f"exit code {code}:\n{server.log.read_text()}"
