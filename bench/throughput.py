"""(e) worker throughput at several batch sizes and (g) webhook -> subscriber at two rates.

Each prepares its own input: (e) empties the purchase-flow inbox and the worker queue, fills
the inbox through the real ingest route with no worker running, then starts the workers;
(g) starts the workers when no earlier scenario left them running."""

from __future__ import annotations

import asyncio
import json
import math
import time
from datetime import datetime
from typing import Any, NamedTuple
from uuid import UUID

import asyncpg
import redis.asyncio as aioredis
import websockets

from bench import wrk
from bench.procs import Proc, service_cpu_seconds, start
from bench.scenarios import Context, Scenario, _init, _pct, _purchasable, _signed, no_backlog

BATCH_SIZES = (1, 10, 50, 200)
"""DELIVERY_BATCH_SIZE of the workers, one run each (a worker that does not read it ignores it)."""
FIRST_FILL, MAX_FILL, AHEAD_SECONDS = 2_000, 12_000, 15.0
"""Deliveries in the inbox for the first size; the next ones get what the best rate so far
applies in AHEAD_SECONDS (at least FIRST_FILL, at most MAX_FILL): a larger batch may apply
two or three times faster, and each size should still have ~5 s or more of work, while the
whole (e) stays within ~3 minutes."""
FILL_RATE = 1_500
"""What the ingest route takes per second here, roughly: wrk runs len(fill) / FILL_RATE
seconds (a request it repeats after the last one is an idempotent 200, not a new delivery)."""
FILL_ROUNDS = 3
STEADY_RATE, STEADY_SECONDS = 300, 5.0
"""The offered load for accept -> applied latency, capped at half the size's measured rate
so it stays below capacity."""
SETTLE_SECONDS = 60.0
"""The longest a size waits for its deliveries to be applied (counted as errors after it)."""
FLOW = "purchase-flow"
PATH = "/webhooks/purchase-flow?tenant=bench-a"
PENDING = """select count(*) from webhook_inbox where tenant_id = $1 and flow = 'purchase-flow'
             and status in ('queued', 'failed') and received_at between $2 and $3"""
DEAD = """select count(*) from webhook_inbox where tenant_id = $1 and flow = 'purchase-flow'
          and status = 'dead' and received_at between $2 and $3"""
LATENCY = """select count(*) as applied,
                    percentile_cont(array[0.5, 0.95, 0.99]) within group (
                        order by extract(epoch from processed_at - received_at) * 1000) as ms
             from webhook_inbox where tenant_id = $1 and flow = 'purchase-flow'
             and status = 'processed' and received_at between $2 and $3"""
STOCK = """update stock_levels s set on_hand = s.reserved + 1000000 from variants v
           where v.id = s.variant_id and v.tenant_id = $1 and s.tenant_id = $1
             and v.sku = any($2) and s.on_hand - s.reserved < $3"""


def start_workers(ctx: Context, env: dict[str, str] | None = None) -> list[Proc]:
    """One worker per core applies deliveries; the relay publishes events from its own process."""
    env = env or ctx.env
    ctx.workers = [*(start(["tenantgraph", "worker", "--no-relay"], env, ctx.work / f"worker-{i}.log")
                     for i in range(2)),
                   start(["tenantgraph", "relay"], env, ctx.work / "relay.log")]
    return ctx.workers


def stop_workers(ctx: Context) -> None:
    for proc in ctx.workers:
        proc.stop()
    ctx.workers = []


async def worker_throughput(ctx: Context) -> list[dict[str, Any]]:
    """For each batch size: fill, start the workers, time the drain, then a steady load."""
    stop_workers(ctx)
    skus = await _purchasable(ctx)
    connection = await asyncpg.connect(ctx.owner)
    rows, fill = [], FIRST_FILL
    try:
        for size in BATCH_SIZES:
            row, steady = await _one_size(ctx, connection, skus, size, fill)
            rows += [row, steady]
            best = max(r["rps"] or 0.0 for r in rows[::2])
            fill = int(min(MAX_FILL, max(FIRST_FILL, best * AHEAD_SECONDS)))
    finally:
        stop_workers(ctx)
        await connection.close()
    best_row = max(rows[::2], key=lambda r: r["rps"] or 0.0)
    summary = {**best_row, "scenario": "e worker throughput",
               "versus": f"best of batch sizes {', '.join(map(str, BATCH_SIZES))}: "
                         f"{best_row['batch_size']}; {best_row['versus']}"}
    return [*rows, summary]


async def _one_size(
    ctx: Context, connection: asyncpg.Connection, skus: list[str], size: int, count: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    await _empty(ctx, connection)
    await connection.execute(STOCK, _tenant(ctx), skus, count + 10 * STEADY_RATE)
    window = await _fill_inbox(ctx, connection, skus, count)
    start_workers(ctx, {**ctx.env, "DELIVERY_BATCH_SIZE": str(size)})
    drained = await _drain(ctx, connection, window)
    row = await _drain_row(ctx, connection, size, window, drained)
    rate = min(STEADY_RATE, max(10, int(row["rps"] or 0) // 2))
    steady = await _steady(ctx, connection, skus, size, rate)
    stop_workers(ctx)
    return row, steady


async def _empty(ctx: Context, connection: asyncpg.Connection) -> None:
    """No delivery left by another scenario ((d) leaves tens of thousands) or run is applied
    here: unapplied purchase deliveries go, and so does the (stopped) workers' queue."""
    await connection.execute("delete from webhook_inbox where flow = $1 and status in ('queued', 'failed')",
                             FLOW)
    client = aioredis.from_url(ctx.env["REDIS_URL"])
    try:
        keys = [key async for key in client.scan_iter(match="saq:*", count=1000)]
        for start_at in range(0, len(keys), 1000):
            await client.unlink(*keys[start_at:start_at + 1000])
    finally:
        await client.aclose()


async def _fill_inbox(
    ctx: Context, connection: asyncpg.Connection, skus: list[str], count: int
) -> tuple[datetime, datetime]:
    """About `count` deliveries in the inbox, no worker running: a loaded machine accepts fewer
    per second than FILL_RATE, so up to FILL_ROUNDS rounds post what is still missing."""
    began, ended = await _fill(ctx, connection, skus, count)
    for _ in range(FILL_ROUNDS - 1):
        missing = count - await connection.fetchval(PENDING, _tenant(ctx), began, ended)
        if missing < count // 10:
            break
        _, ended = await _fill(ctx, connection, skus, missing)
    return began, ended


async def _fill(
    ctx: Context, connection: asyncpg.Connection, skus: list[str], count: int, rate: int | None = None
) -> tuple[datetime, datetime]:
    """`count` signed purchases posted through the ingest route (closed loop as in (d), or
    `rate` per second); returns the window of their received_at."""
    requests = _signed(ctx.dataset.webhook_secrets["bench-a"], PATH, skus, count)
    began = await connection.fetchval("select clock_timestamp()")
    await asyncio.to_thread(wrk.run, ctx.api, requests, ctx.work / "e-fill.lua",
                            seconds=math.ceil(count / (rate or FILL_RATE)), connections=min(32, count),
                            rate=rate)
    return began, await connection.fetchval("select clock_timestamp()")


async def _drain(
    ctx: Context, connection: asyncpg.Connection, window: tuple[datetime, datetime]
) -> dict[str, Any]:
    """From the first applied delivery (start-up is not per-delivery work) to the last: how
    many, how long, and the CPU of the workers (with the relay), PostgreSQL and Redis."""
    tenant = _tenant(ctx)
    filled = await connection.fetchval(PENDING, tenant, *window)
    started, first, pending = time.perf_counter(), None, filled
    while pending and time.perf_counter() - started < SETTLE_SECONDS and _running(ctx):
        await asyncio.sleep(0.1)
        pending = await connection.fetchval(PENDING, tenant, *window)
        if first is None and pending < filled:
            first = (time.perf_counter(), pending, _cpu(ctx))
    if first is None:
        return {"filled": filled, "applied": 0, "seconds": 0.0, "cpu": (0.0, 0.0, 0.0), "pending": pending}
    at, from_pending, cpu = first
    spent = tuple(b - a for a, b in zip(cpu, _cpu(ctx), strict=True))
    return {"filled": filled, "applied": from_pending - pending, "seconds": time.perf_counter() - at,
            "cpu": spent, "pending": pending}


def _running(ctx: Context) -> bool:
    """Whether a worker (not the relay) still runs: one that rejects its settings exits at start."""
    return any("worker" in w.process.args and w.process.poll() is None for w in ctx.workers)


def _cpu(ctx: Context) -> tuple[float, float, float]:
    return (sum(w.cpu_seconds() for w in ctx.workers),
            service_cpu_seconds(ctx.env["DATABASE_URL"]), service_cpu_seconds(ctx.env["REDIS_URL"]))


async def _drain_row(
    ctx: Context, connection: asyncpg.Connection, size: int, window: tuple[datetime, datetime],
    drained: dict[str, Any],
) -> dict[str, Any]:
    tenant = _tenant(ctx)
    dead = await connection.fetchval(DEAD, tenant, *window)
    latency = await connection.fetchrow(LATENCY, tenant, *window)
    applied, seconds = drained["applied"], drained["seconds"]
    per = [round(c * 1000 / applied, 2) if applied else None for c in drained["cpu"]]
    return {
        "scenario": f"e batch {size}: pre-filled inbox", "system": "tenantgraph", "batch_size": size,
        "deliveries": drained["filled"], "applied": applied, "dead": dead, "seconds": round(seconds, 2),
        "rps": round(applied / seconds, 1) if seconds else 0.0,
        "p99_ms": _ms(latency["ms"], 2) if latency["applied"] else None,
        "errors": dead + drained["pending"],
        "cpu_cores": dict(zip(("app", "postgres", "redis"),
                              (round(c / seconds, 3) if seconds else 0.0 for c in drained["cpu"]),
                              strict=True)),
        "cpu_ms_per_delivery": dict(zip(("workers", "postgres", "redis"), per, strict=True)),
        "versus": (f"{latency['applied']}/{drained['filled']} applied, the {applied} after the first "
                   f"look timed; CPU ms/delivery workers {per[0]}, "
                   f"PostgreSQL {per[1]}, Redis {per[2]}; p99 accept → applied is queueing"),
    }


def _ms(values: list[float] | None, index: int) -> float | None:
    return None if not values else round(values[index], 2)


async def _steady(
    ctx: Context, connection: asyncpg.Connection, skus: list[str], size: int, rate: int
) -> dict[str, Any]:
    """`rate` purchases/s posted through the route while the workers run: accept -> applied
    (processed_at - received_at) without a queue built up beforehand."""
    tenant = _tenant(ctx)
    requests = _signed(ctx.dataset.webhook_secrets["bench-a"], PATH, skus, int(rate * STEADY_SECONDS * 1.2))
    began = await connection.fetchval("select clock_timestamp()")
    sent = await asyncio.to_thread(wrk.run, ctx.api, requests, ctx.work / "e-steady.lua",
                                   seconds=STEADY_SECONDS, connections=16, rate=rate)
    window = began, await connection.fetchval("select clock_timestamp()")
    pending = await _settle(ctx, connection, window)
    dead = await connection.fetchval(DEAD, tenant, *window)
    latency = await connection.fetchrow(LATENCY, tenant, *window)
    return {
        "scenario": f"e batch {size}: accept → applied at {rate}/s", "system": "tenantgraph",
        "batch_size": size, "offered_per_second": rate, "requests": sent["requests"],
        "applied": latency["applied"], "rps": round(latency["applied"] / STEADY_SECONDS, 1),
        "p50_ms": _ms(latency["ms"], 0), "p95_ms": _ms(latency["ms"], 1), "p99_ms": _ms(latency["ms"], 2),
        "errors": dead + pending + int(sent["errors"]),
        "versus": f"steady {rate}/s through the route (below capacity): accept → applied",
    }


GRAPH_RATES = (200, 500)
GRAPH_SECONDS = 10.0
"""Each rate runs this long at most (and no longer than `--seconds`)."""


async def end_to_end(ctx: Context) -> list[dict[str, Any]]:
    """Signed purchase deliveries at a steady 200/s, then 500/s; each one's order.created event
    timed from its accept to a subscriber. Fresh workers, started on an emptied queue and
    warmed up (their start-up is not latency), and no backlog between the rates."""
    stop_workers(ctx)
    skus = await _purchasable(ctx)
    await _stock(ctx, skus, int(sum(GRAPH_RATES) * GRAPH_SECONDS * 2))
    connection = await asyncpg.connect(ctx.owner)
    try:
        await _empty(ctx, connection)
        start_workers(ctx)
        rows = []
        for rate in GRAPH_RATES:
            window = await _fill(ctx, connection, skus, 20, rate=20)  # warm-up: the workers apply
            await _settle(ctx, connection, window)
            await no_backlog(ctx)
            rows.append(await _end_to_end_at(ctx, skus, rate))
    finally:
        await connection.close()
    return rows


async def _settle(ctx: Context, connection: asyncpg.Connection, window: tuple[datetime, datetime]) -> int:
    """Wait (boundedly) until the deliveries accepted in `window` are applied; how many are not."""
    settle = time.perf_counter()
    while (pending := await connection.fetchval(PENDING, _tenant(ctx), *window)) and \
            time.perf_counter() - settle < SETTLE_SECONDS:
        await asyncio.sleep(0.2)
    return int(pending)


async def _stock(ctx: Context, skus: list[str], needed: int) -> None:
    connection = await asyncpg.connect(ctx.owner)
    try:
        await connection.execute(STOCK, _tenant(ctx), skus, needed)
    finally:
        await connection.close()


async def _end_to_end_at(ctx: Context, skus: list[str], rate: int) -> dict[str, Any]:
    """wrk posts at `rate`/s (a Python client here could not keep 500/s); each delivery's
    order.created is timed at the subscriber from its accept (the inbox row's received_at,
    the same host's clock)."""
    seconds = min(ctx.seconds, GRAPH_SECONDS)
    requests = _signed(ctx.dataset.webhook_secrets["bench-a"], PATH, skus, int(rate * seconds * 1.2))
    url = ctx.api.replace("http", "ws") + "/graphql?tenant=bench-a"
    socket = await websockets.connect(url, subprotocols=["graphql-transport-ws"], compression=None)
    await _init(socket, ctx.key, 'subscription { events(types: ["order.created"]) { payload } }')
    arrived: dict[str, float] = {}
    reader = asyncio.create_task(_receive(socket, arrived))
    await asyncio.sleep(0.5)  # the subscription is registered before the first delivery
    sent = await asyncio.to_thread(wrk.run, ctx.api, requests, ctx.work / f"g-{rate}.lua",
                                   seconds=seconds, connections=32, rate=rate)
    accepted = await _accepted(ctx, [json.loads(r.body)["order"]["id"] for r in requests])
    deadline = time.time() + 10
    while len(arrived.keys() & accepted.keys()) < len(accepted) and time.time() < deadline:
        await asyncio.sleep(0.1)
    reader.cancel()
    await socket.close()
    latencies = sorted((arrived[ref] - stage.at) * 1000 for ref, stage in accepted.items() if ref in arrived)
    return {"scenario": f"g webhook to subscriber at {rate}/s", "system": "tenantgraph",
            "deliveries": len(accepted), "rps": round(len(accepted) / sent["seconds"], 1),
            "received": len(latencies), "p50_ms": _pct(latencies, 50), "p95_ms": _pct(latencies, 95),
            "p99_ms": _pct(latencies, 99), "errors": int(sent["errors"]) + len(accepted) - len(latencies),
            "versus": f"offered {rate}/s; accept → event at the subscriber ({_stages(accepted, arrived)})"}


async def _accepted(ctx: Context, refs: list[str]) -> dict[str, Stages]:
    """Order ref -> when its delivery was accepted, applied (its batch marked it) and its
    order.created published by the relay (epoch seconds), for those that were accepted."""
    connection = await asyncpg.connect(ctx.owner)
    try:
        rows = await connection.fetch(
            """select substr(i.delivery_id, 5) as ref, extract(epoch from i.received_at)::float8 as at,
                      extract(epoch from i.processed_at)::float8 as applied,
                      extract(epoch from e.published_at)::float8 as published
               from webhook_inbox i
               left join events e on e.tenant_id = i.tenant_id and e.type = 'order.created'
                    and e.payload->>'externalRef' = 'shop:' || substr(i.delivery_id, 5)
               where i.tenant_id = $1 and i.flow = 'purchase-flow' and i.delivery_id = any($2)""",
            _tenant(ctx), [f"msg_{ref}" for ref in refs])
    finally:
        await connection.close()
    return {row["ref"]: Stages(row["at"], row["applied"], row["published"]) for row in rows}


def _stages(accepted: dict[str, Stages], arrived: dict[str, float]) -> str:
    """p50/p95 of each leg from accept to the subscriber: where (g)'s time goes."""
    legs: dict[str, list[float]] = {
        "accept → applied": [], "applied → published": [], "published → subscriber": [],
    }
    for ref, stage in accepted.items():
        if ref not in arrived or stage.applied is None or stage.published is None:
            continue
        legs["accept → applied"].append((stage.applied - stage.at) * 1000)
        legs["applied → published"].append((stage.published - stage.applied) * 1000)
        legs["published → subscriber"].append((arrived[ref] - stage.published) * 1000)
    return "; ".join(f"{name} p50 {_pct(sorted(ms), 50)} p95 {_pct(sorted(ms), 95)} ms"
                     for name, ms in legs.items())


async def _receive(socket: Any, arrived: dict[str, float]) -> None:
    async for message in socket:
        data = json.loads(message)
        ref = (((data.get("payload") or {}).get("data") or {}).get("events") or {}).get("payload", {})
        ref = ref.get("externalRef", "")[5:] if isinstance(ref, dict) else ""
        arrived.setdefault(ref, time.time())


class Stages(NamedTuple):
    at: float
    applied: float | None
    published: float | None


def _tenant(ctx: Context) -> UUID:
    return ctx.dataset.tenants["bench-a"]


ALL = [
    Scenario("e", "worker throughput at batch sizes 1, 10, 50, 200 (inbox filled by the scenario)",
             worker_throughput),
    Scenario("g", "end to end: webhook accepted -> event at a subscriber, 200/s and 500/s", end_to_end),
]
