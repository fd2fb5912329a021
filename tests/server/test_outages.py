"""Dependency failures on real processes: serve, worker and relay against a PostgreSQL and a
Redis of their own (tests.outages) that the tests stop, restart and pause."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from server.embedded import free_port
from tests import processes
from tests import webhooks as signed
from tests.documents import CREATE_PRODUCT, product_input
from tests.outages import Postgres, Redis

ROOT = Path(__file__).resolve().parents[2]
QUERY = "{ tenant { slug } }"
"""Answered from the caches once the key and tenant are known: it may need no database."""
READ = "{ products(first: 1) { edges { node { id } } } }"


@dataclasses.dataclass
class Deployment:
    pg: Postgres
    redis: Redis
    env: dict[str, str]
    logs: Path
    port: int = 0
    slug: str = ""
    key: str = ""
    secret: str = ""
    webhook_path: str = ""
    procs: dict[str, subprocess.Popen[bytes]] = dataclasses.field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def owner_dsn(self) -> str:
        return self.pg.url.rsplit("/", 1)[0] + "/tenantgraph"

    def spawn(self, name: str, *args: str) -> None:
        self.procs[name] = processes.spawn(list(args), self.env, self.logs / f"{name}.log")


@pytest.fixture(scope="module")
async def deployment(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Deployment]:
    """Migrated, with a tenant, a key and a webhook endpoint; then PostgreSQL is stopped and
    serve, worker and relay are started: they must come up without it."""
    data = ROOT / ".data" / f"outages-{uuid.uuid4().hex[:8]}"
    pg, redis = Postgres(data / "postgres"), Redis(data / "redis")
    pg.start()
    redis.start()
    logs = tmp_path_factory.mktemp("outages")
    env = {**os.environ, "TG_ENV": "test", "APP_DATABASE_PASSWORD": "tenantgraph_app",
           "REDIS_URL": redis.url, "OPERATION_TIMEOUT": "20", "DB_ACQUIRE_TIMEOUT": "2",
           "DB_STATEMENT_TIMEOUT": "2",
           "SHUTDOWN_GRACE_SECONDS": "3"}
    deployment = Deployment(pg, redis, env, logs, port=free_port())
    env["DATABASE_URL"] = deployment.owner_dsn
    env["PORT"] = str(deployment.port)
    try:
        admin = await asyncpg.connect(pg.url)
        await admin.execute("create database tenantgraph")
        await admin.close()
        # In a process of its own: this one's engine is the shared test database's.
        migrated = await processes.cli(env, "migrate")
        assert migrated.returncode == 0, migrated.stderr
        await _provision(deployment)
        pg.stop()
        deployment.spawn("serve", "serve")
        deployment.spawn("worker", "worker", "--no-relay")
        deployment.spawn("relay", "relay")
        yield deployment
    finally:
        for process in deployment.procs.values():
            await processes.stop(process)
        redis.stop()
        pg.stop()
        shutil.rmtree(data, ignore_errors=True)


async def _provision(deployment: Deployment) -> None:
    deployment.slug = f"o-{uuid.uuid4().hex[:8]}"
    env = deployment.env
    created = await processes.cli(env, "tenant", "create", deployment.slug, "--name", "Outages",
                                  "--modules", "catalog,inventory")
    assert created.returncode == 0, created.stderr
    key = await processes.cli(env, "apikey", "create", "--tenant", deployment.slug)
    deployment.key = key.stdout.strip().splitlines()[-1]
    hook = await processes.cli(env, "webhook", "create", deployment.slug, "inventory-flow")
    assert hook.returncode == 0, hook.stderr
    lines = dict(line.split(": ", 1) for line in hook.stdout.splitlines() if ": " in line)
    deployment.webhook_path, deployment.secret = lines["url"], lines["secret"]


async def _post_gql(d: Deployment, query: str, variables: dict[str, Any] | None = None,
                    request_id: str | None = None) -> httpx.Response:
    headers = {"authorization": f"Bearer {d.key}", **({"x-request-id": request_id} if request_id else {})}
    async with httpx.AsyncClient(base_url=d.url, timeout=30) as http:
        return await http.post("/graphql", json={"query": query, "variables": variables or {}},
                               headers=headers)


async def _post_webhook(d: Deployment, request_id: str | None = None) -> httpx.Response:
    body = signed.encode(signed.stock("adjust", [(f"SKU-{uuid.uuid4().hex[:6]}", "main", 1)]))
    headers = {**signed.sign_standard(d.secret, body),
               **({"x-request-id": request_id} if request_id else {})}
    async with httpx.AsyncClient(base_url=d.url, timeout=30) as http:
        return await http.post(d.webhook_path, content=body, headers=headers)


async def _ready(d: Deployment) -> bool:
    async with httpx.AsyncClient(base_url=d.url, timeout=5) as http:
        return (await http.get("/readyz")).status_code == 200


async def _finished(d: Deployment, delivery_id: str, timeout: float) -> float:
    """Seconds until the delivery's job ran (its inbox row left queued/failed)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        connection = await asyncpg.connect(d.owner_dsn)
        try:
            status = await connection.fetchval(
                "select status from webhook_inbox where id = $1", uuid.UUID(delivery_id))
        finally:
            await connection.close()
        if status not in ("queued", "failed"):
            return time.monotonic() - started
        await asyncio.sleep(0.2)
    raise AssertionError(f"delivery {delivery_id} still unfinished after {timeout}s")


async def _unpublished(d: Deployment) -> int:
    connection = await asyncpg.connect(d.owner_dsn)
    try:
        return int(await connection.fetchval("select count(*) from events where published_at is null"))
    finally:
        await connection.close()


def _assert_unavailable_graphql(response: httpx.Response, request_id: str) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert int(response.headers["retry-after"]) > 0
    assert response.headers["x-request-id"] == request_id
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "SERVICE_UNAVAILABLE"
    assert error["extensions"]["requestId"] == request_id


async def test_started_before_postgres_they_answer_503_then_serve_apply_and_publish(
    deployment: Deployment,
) -> None:
    d = deployment
    api = d.procs["serve"]

    async def alive() -> bool:
        async with httpx.AsyncClient(base_url=d.url, timeout=5) as http:
            return (await http.get("/healthz")).status_code == 200

    await processes.wait_until(alive, api, d.logs / "serve.log", timeout=30)
    async with httpx.AsyncClient(base_url=d.url, timeout=10) as http:
        ready = await http.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["postgres"].startswith("failed")

    _assert_unavailable_graphql(await _post_gql(d, READ, request_id="pg-down-1"), "pg-down-1")
    hook = await _post_webhook(d, request_id="pg-down-2")
    assert hook.status_code == 503
    assert hook.headers["content-type"] == "application/problem+json"
    assert hook.json()["requestId"] == "pg-down-2" and hook.headers["retry-after"]
    async with httpx.AsyncClient(base_url=d.url, timeout=10) as http:
        stream = await http.post("/graphql/stream", json={"query": QUERY},
                                 headers={"authorization": f"Bearer {d.key}", "x-request-id": "pg-down-3"})
    _assert_unavailable_graphql(stream, "pg-down-3")
    async with ws_connect(f"ws://127.0.0.1:{d.port}/graphql?tenant={d.slug}",
                          subprotocols=["graphql-transport-ws"], proxy=None) as socket:  # type: ignore[list-item]
        await socket.send(orjson.dumps({"type": "connection_init",
                                        "payload": {"Authorization": f"Bearer {d.key}"}}).decode())
        with pytest.raises(ConnectionClosed) as closed:
            await socket.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013

    d.pg.start()
    await processes.wait_until(lambda: _ready(d), api, d.logs / "serve.log", timeout=30)
    assert (await _post_gql(d, QUERY)).json()["data"] == {"tenant": {"slug": d.slug}}
    accepted = await _post_webhook(d)
    assert accepted.status_code == 202, accepted.text
    await _finished(d, accepted.json()["id"], timeout=30)
    created = await _post_gql(d, CREATE_PRODUCT, {"input": product_input("Kept", ["KEPT-1"])})
    assert created.json()["data"]["createProduct"]["product"]["title"] == "Kept"
    await _eventually(lambda: _zero(_unpublished(d)), 30)
    for name, process in d.procs.items():
        assert process.poll() is None, f"{name} exited"


async def test_with_redis_stalled_a_webhook_is_accepted_without_it_and_applied_after(
    deployment: Deployment,
) -> None:
    """The answer does not wait for Redis: it comes while Redis is still stalled, once the
    wake-up gave up (REDIS_TIMEOUT) and said so."""
    d = deployment
    d.redis.pause()
    try:
        accepted = await _post_webhook(d)
        assert accepted.status_code == 202, accepted.text
        gave_up = f"wake-up failed for delivery {accepted.json()['id']}"
        await _eventually(lambda: _logged(d, "serve", gave_up), 10)
        # Reads need no Redis.
        assert (await _post_gql(d, QUERY)).status_code == 200
    finally:
        d.redis.resume()
    waited = await _finished(d, accepted.json()["id"], timeout=30)
    print(f"applied {waited:.1f}s after Redis resumed")


async def test_with_redis_down_reads_work_and_deliveries_accepted_meanwhile_run_while_it_is_down(
    deployment: Deployment,
) -> None:
    """Redis stopped for 30 s: every delivery accepted meanwhile is applied by the worker's poll
    of PostgreSQL before Redis returns."""
    d = deployment
    d.redis.stop()
    stopped = time.monotonic()
    waits = []
    try:
        assert (await _post_gql(d, READ)).status_code == 200
        created = await _post_gql(d, CREATE_PRODUCT, {"input": product_input("NoRedis", ["NR-1"])})
        assert created.json()["data"]["createProduct"]["product"]["title"] == "NoRedis"
        while time.monotonic() - stopped < 30:
            accepted = await _post_webhook(d, request_id=f"redis-down-{len(waits)}")
            assert accepted.status_code == 202, accepted.text
            waits.append(await _finished(d, accepted.json()["id"], timeout=30))
            await asyncio.sleep(3)
            assert d.redis.process is None and not await _listening(d.redis.port), "Redis is down"
    finally:
        d.redis.start()
    assert len(waits) >= 2
    print(f"{len(waits)} deliveries accepted with Redis down ran {max(waits):.1f}s at most after acceptance")


async def test_after_a_postgres_restart_every_process_carries_on(deployment: Deployment) -> None:
    d = deployment
    async with ws_connect(f"ws://127.0.0.1:{d.port}/graphql?tenant={d.slug}",
                          subprotocols=["graphql-transport-ws"], proxy=None) as socket:  # type: ignore[list-item]
        await socket.send(orjson.dumps({"type": "connection_init",
                                        "payload": {"Authorization": f"Bearer {d.key}"}}).decode())
        assert orjson.loads(await socket.recv())["type"] == "connection_ack"
        d.pg.stop()
        _assert_unavailable_graphql(await _post_gql(d, READ, request_id="pg-restart"), "pg-restart")
        await socket.send(orjson.dumps({"type": "subscribe", "id": "1", "payload": {"query": READ}}).decode())
        message = orjson.loads(await asyncio.wait_for(socket.recv(), 15))
        # The connection stays open: the operation gets its error, with its request id.
        errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
        assert message["id"] == "1" and errors[0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"
        assert errors[0]["extensions"]["requestId"]
        await socket.send(orjson.dumps({"type": "ping"}).decode())
        assert orjson.loads(await asyncio.wait_for(socket.recv(), 5))["type"] in ("pong", "complete")
    d.pg.start()
    await processes.wait_until(lambda: _ready(d), d.procs["serve"], d.logs / "serve.log", timeout=30)
    assert (await _post_gql(d, QUERY)).status_code == 200
    accepted = await _post_webhook(d)
    assert accepted.status_code == 202
    await _finished(d, accepted.json()["id"], timeout=30)
    created = await _post_gql(d, CREATE_PRODUCT, {"input": product_input("After", ["AFTER-1"])})
    assert created.json()["data"]["createProduct"]["product"]["title"] == "After"
    await _eventually(lambda: _zero(_unpublished(d)), 30)


async def test_with_postgres_stalled_requests_answer_503_within_the_timeouts(
    deployment: Deployment,
) -> None:
    d = deployment
    assert (await _post_gql(d, QUERY)).status_code == 200
    assert (await _post_webhook(d)).status_code == 202  # the endpoint and the key are held
    d.pg.pause()
    try:
        # Answered by DB_STATEMENT_TIMEOUT (2 s) and the client's margin (1 s), each: a 503
        # while PostgreSQL is still stalled, not the request deadline's 504 (OPERATION_TIMEOUT).
        _assert_unavailable_graphql(await _post_gql(d, READ, request_id="pg-stalled"), "pg-stalled")
        hook = await _post_webhook(d, request_id="pg-stalled-2")
        assert hook.status_code == 503 and hook.json()["requestId"] == "pg-stalled-2", hook.text
    finally:
        d.pg.resume()
    await processes.wait_until(lambda: _ready(d), d.procs["serve"], d.logs / "serve.log", timeout=30)
    assert (await _post_gql(d, QUERY)).status_code == 200


async def test_a_job_orphaned_by_a_killed_worker_runs_again_within_seconds(
    deployment: Deployment,
) -> None:
    d = deployment
    worker = d.procs["worker"]
    worker.send_signal(signal.SIGSTOP)
    holder = await asyncpg.connect(d.owner_dsn)
    try:
        accepted = await _post_webhook(d)
        assert accepted.status_code == 202
        delivery = accepted.json()["id"]
        transaction = holder.transaction()
        await transaction.start()
        # The batch, once it has claimed the delivery, waits on this lock (it reads the
        # variants): it is in flight when its worker dies.
        await holder.execute("lock table variants in access exclusive mode")
        worker.send_signal(signal.SIGCONT)
        await asyncio.sleep(2.0)
        os.killpg(worker.pid, signal.SIGKILL)
        killed = time.monotonic()
        await transaction.rollback()
    finally:
        await holder.close()
    d.spawn("worker", "worker", "--no-relay")
    await _finished(d, delivery, timeout=60)
    recovered = time.monotonic() - killed
    # Its claim went with its transaction: the next worker's poll finds the delivery ready.
    print(f"orphaned delivery ran again {recovered:.1f}s after its worker was killed")


async def _listening(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    return True


async def _zero(count: Any) -> bool:
    return int(await count) == 0


async def _logged(d: Deployment, process: str, text: str) -> bool:
    return text in (d.logs / f"{process}.log").read_text()


async def _eventually(check: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"not true after {timeout}s")

