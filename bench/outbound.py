"""(i) Webhooks out: the events of TENANTS tenants, committed at RATE events/s in all, fanned
out by one worker (`tenantgraph worker --no-relay`) to one endpoint per tenant on a local
receiver process that verifies every signature with `standardwebhooks`.

Reported per phase: events/s delivered (2xx receipts / time from the first commit to the last
receipt), p50/p95/p99 from commit (events.created_at) to receipt, the worker's CPU per request
(utime + stime from /proc/<pid>/stat), and as errors every signature that did not verify and
every event a healthy endpoint never received. Phase 2 is the same load with one endpoint
answering 503 throughout: the other endpoints should keep their latency."""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
import uuid
from typing import Any
from uuid import UUID

import asyncpg
import httpx

from bench.procs import Proc, free_port, start
from bench.scenarios import Context, Scenario
from bench.throughput import stop_workers
from domain import egress, events, outbound, tenancy
from domain.errors import NotFound
from services import outbound as outbound_services
from tables import db, tenants
from tables import events as outbox

TENANTS = 10
RATE = 100.0
"""Events per second, in all, spread evenly over the tenants."""
DRAIN_SECONDS = 30.0
"""How long a phase waits, after its last commit, for the healthy endpoints' last receipts."""
ENV = {"OUTBOUND_ALLOW_NETWORKS": "127.0.0.0/8", "OUTBOUND_RATE_LIMIT": "10000"}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


async def webhooks_out(ctx: Context) -> list[dict[str, Any]]:
    port = free_port()
    receiver = start([sys.executable, "-m", "bench.outbound_receiver", str(port)], ctx.env)
    ctx.procs["outbound receiver"] = receiver
    url = f"http://127.0.0.1:{port}"
    await receiver.ready(f"{url}/_stats")
    targets = await _endpoints(ctx, url)
    # One worker delivers, with this scenario's settings: workers left by (e)/(g) would take
    # some of its jobs with the deployment's defaults (OUTBOUND_RATE_LIMIT 20/s per endpoint).
    stop_workers(ctx)
    worker = start(["tenantgraph", "worker", "--no-relay"], {**ctx.env, **ENV}, ctx.work / "worker-i.log")
    ctx.workers = [worker]  # the dispatcher reads committed events: no relay is needed
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        await client.post("/_secrets", json={path: secret for _, path, secret in targets})
        await _phase(ctx, client, worker, targets, seconds=min(ctx.warmup, 3.0) or 1.0)  # warm up
        healthy = await _phase(ctx, client, worker, targets, seconds=ctx.seconds)
        down = targets[0][1]
        await client.post("/_down", json={"path": down, "down": True})
        degraded = await _phase(ctx, client, worker, targets, seconds=ctx.seconds, down=down)
    rows = [_row("i webhooks out, all endpoints up", healthy),
            _row("i webhooks out, one endpoint down (others)", degraded)]
    rows[1]["versus"] += (f"; p99 {degraded['p99_ms'] / max(healthy['p99_ms'], 0.001):.1f}× all up; "
                          f"the down endpoint got {degraded['down_requests']} requests (503)")
    return rows


async def _endpoints(ctx: Context, url: str) -> list[tuple[UUID, str, str]]:
    """(tenant id, receiver path, secret) of one fresh endpoint per bench tenant; the tenants'
    earlier endpoints go, and their dispatch cursors start at their latest event."""
    made = []
    policy = outbound_services.Policy(allow=egress.networks("127.0.0.0/8"))
    for n in range(TENANTS):
        tenant = await _tenant(f"bench-out-{n}")
        connection = await asyncpg.connect(ctx.owner)
        try:
            await connection.execute("delete from outbound_endpoints where tenant_id = $1", tenant)
            await connection.execute(
                "insert into outbound_cursors (tenant_id, last_seq)"
                " select $1, coalesce(max(seq), 0) from events where tenant_id = $1"
                " on conflict (tenant_id) do update set last_seq = excluded.last_seq", tenant,
            )
        finally:
            await connection.close()
        path = f"/hook/{n}-{uuid.uuid4().hex[:6]}"
        created = await outbound_services.create(
            outbound.Draft(url=f"{url}{path}", event_types=("*",)), tenant_id=tenant, policy=policy
        )
        made.append((tenant, path, created.secret))
    return made


async def _tenant(slug: str) -> UUID:
    try:
        return (await tenants.get_by_slug(slug)).id
    except NotFound:
        return (await tenants.create(slug=slug, name=slug, modules=tenancy.MODULES)).id


async def _phase(
    ctx: Context, client: httpx.AsyncClient, worker: Proc, targets: list[tuple[UUID, str, str]],
    *, seconds: float, down: str | None = None,
) -> dict[str, Any]:
    before = len((await client.get("/_stats")).json())
    cpu_before = _cpu_seconds(worker)
    started = time.time()
    written = await _write(targets, seconds)
    expected = {tenant for tenant, path, _ in targets if path != down}
    wanted = sum(count for tenant, count in written.items() if tenant in expected)
    deadline = time.monotonic() + DRAIN_SECONDS
    while True:
        seen = (await client.get("/_stats")).json()[before:]
        delivered = [s for s in seen if s[4] == 200]
        if len({s[1] for s in delivered}) >= wanted or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    cpu = _cpu_seconds(worker) - cpu_before
    latencies = await _latencies(ctx, delivered)
    ended = max((s[2] for s in delivered), default=time.time())
    return {
        "delivered": len({s[1] for s in delivered}), "wanted": wanted, "requests": len(seen),
        "unverified": sum(1 for s in seen if not s[3]), "seconds": ended - started,
        "cpu_per_request_ms": 1000 * cpu / max(len(seen), 1), "latencies_ms": latencies,
        "p99_ms": _quantile(latencies, 0.99), "down_requests": sum(1 for s in seen if s[0] == down),
    }


async def _write(targets: list[tuple[UUID, str, str]], seconds: float) -> dict[UUID, int]:
    """Commit one event per transaction, round-robin over the tenants, at RATE per second."""
    written = dict.fromkeys((tenant for tenant, _, _ in targets), 0)
    meta = events.WriteMeta(actor="bench", correlation_id="bench-i")
    start_at, n = time.monotonic(), 0
    while (elapsed := time.monotonic() - start_at) < seconds:
        if n > elapsed * RATE:
            await asyncio.sleep(n / RATE - elapsed)
        tenant = targets[n % len(targets)][0]
        draft = events.Draft("product.updated", "product", str(uuid.uuid4()), {"n": n})
        async with db.transaction(tenant_id=tenant):
            await outbox.append([draft], tenant_id=tenant, meta=meta)
        written[tenant] += 1
        n += 1
    return written


async def _latencies(ctx: Context, delivered: list[list[Any]]) -> list[float]:
    """Receipt minus commit (events.created_at) of each message's first 2xx, in ms."""
    first: dict[str, float] = {}
    for _, msg_id, arrived, _, _ in delivered:
        first.setdefault(msg_id, arrived)
    connection = await asyncpg.connect(ctx.owner)
    try:
        rows = await connection.fetch(
            "select m.msg_id, extract(epoch from e.created_at)::float8 as committed"
            " from outbound_messages m join events e on e.tenant_id = m.tenant_id and e.seq = m.event_seq"
            " where m.msg_id = any($1)", list(first),
        )
    finally:
        await connection.close()
    return sorted(1000 * (first[row["msg_id"]] - row["committed"]) for row in rows)


def _cpu_seconds(proc: Proc) -> float:
    """utime + stime of the process, from /proc/<pid>/stat (fields 14 and 15)."""
    try:
        with open(f"/proc/{proc.process.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _quantile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    return round(values[min(len(values) - 1, int(q * len(values)))], 1)


def _row(name: str, phase: dict[str, Any]) -> dict[str, Any]:
    latencies = phase["latencies_ms"]
    missing = phase["wanted"] - phase["delivered"]
    return {
        "scenario": name, "system": "tenantgraph",
        "rps": round(phase["delivered"] / max(phase["seconds"], 0.001), 1),
        "p50_ms": round(statistics.median(latencies), 1) if latencies else None,
        "p95_ms": _quantile(latencies, 0.95), "p99_ms": phase["p99_ms"],
        "errors": phase["unverified"] + max(missing, 0),
        "versus": (f"{phase['delivered']}/{phase['wanted']} delivered, worker "
                   f"{phase['cpu_per_request_ms']:.2f} ms CPU/request"),
        "down_requests": phase["down_requests"],
    }


SCENARIO = Scenario("i", "webhooks out: N tenants' events to a verifying receiver", webhooks_out)


def main() -> None:
    """`python -m bench.outbound [--seconds 10]`: (i) alone, without the dataset, the API and
    the baseline that `python -m bench.run --only i` seeds and starts for every scenario."""
    import argparse
    import contextlib

    from bench import run
    from bench.seed import Dataset
    from tables import engine
    from tables.migrate import migrate

    parser = argparse.ArgumentParser(prog="python -m bench.outbound", description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0, help="load per phase")
    args = parser.parse_args()

    async def bench(database_url: str, redis_url: str) -> list[dict[str, Any]]:
        owner = await run._database(database_url)
        await migrate(owner, app_password=run.APP_PASSWORD)
        await engine.start(engine.app_dsn(owner, run.APP_PASSWORD), max_size=10)
        env = {**os.environ, "DATABASE_URL": owner, "REDIS_URL": redis_url, "TG_ENV": "production",
               "APP_DATABASE_PASSWORD": run.APP_PASSWORD, "LOG_LEVEL": "WARNING",
               "JWT_SECRET": "bench-secret-bench-secret-bench-secret",
               "STREAM_TOKEN_SECRET": "bench-stream-secret-bench-stream-secret"}
        ctx = Context(owner=owner, env=env, dataset=Dataset({}, {}, {}), api="", baseline="",
                      seconds=args.seconds, warmup=2.0, procs={}, work=run.ROOT / ".data" / "bench-work",
                      subscribers=[])
        ctx.work.mkdir(parents=True, exist_ok=True)
        try:
            results = await webhooks_out(ctx)
        finally:
            for proc in (*ctx.procs.values(), *ctx.workers):
                with contextlib.suppress(Exception):
                    proc.stop()
            await engine.stop()
        return results

    with run._services() as (database_url, redis_url):
        results = asyncio.run(bench(database_url, redis_url))
    run.finish(results)


if __name__ == "__main__":
    main()
