"""Scenario (f), many tenants: TENANTS tenants with PER_TENANT subscribers each on one API
process; EVENTS_PER_SECOND events in all appended to the outbox (one statement per tick, as
the owner), which the relay publishes to Redis; each event timed from just before its insert
to each subscriber's receipt, and split into legs: insert → committed (the load generator's
statement returns), committed → published (a Redis subscriber on the relay's channel, in a
process of its own), published → subscriber.

The subscribers run in a process of their own (bench/fanout_clients.py, uvloop and orjson):
decoding 4,000 messages/s in the loop that paces the inserts put the load generator's own lag
into the measurement. `BENCH_F_SUBSCRIBERS=inline` keeps them in the load generator's loop, to
compare.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from typing import Any, Protocol

import asyncpg
import orjson
import psutil

from bench import fanout_clients
from bench.procs import ROOT, _tree_cpu, free_port, service_cpu_seconds, start
from bench.scenarios import Context, _bench_tenants, _pct, no_backlog

TENANTS, PER_TENANT, EVENTS_PER_SECOND, TICK = 100, 2, 2000, 0.01
QUERY = 'subscription { events(types: ["bench.tick"]) { payload } }'
TICKS = """
insert into events (tenant_id, type, aggregate_type, aggregate_id, payload, created_at)
select t, 'bench.tick', 'bench', 'tick', jsonb_build_object('sentAt', $2::float8), now()
from unnest($1::uuid[]) t
"""
LEGS = ("insert → committed", "committed → published", "published → subscriber")


class Observer(Protocol):
    async def clear(self) -> None: ...

    async def stop(self) -> list[list[Any]]: ...

    def cpu_seconds(self) -> float: ...


class Child:
    """An observer in its own process (bench/fanout_clients.py)."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(cls, mode: str, spec: dict[str, Any]) -> Child:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.fanout_clients", mode, cwd=ROOT, limit=1 << 30,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        child = cls(process)
        await child._say(orjson.dumps(spec), b"ready")
        return child

    async def _say(self, line: bytes, answer: bytes) -> bytes:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(line + b"\n")
        await self.process.stdin.drain()
        heard = await asyncio.wait_for(self.process.stdout.readline(), 120)
        if not heard.startswith(answer):
            raise RuntimeError(f"fanout_clients answered {heard[:200]!r}, not {answer!r}")
        return heard

    async def clear(self) -> None:
        await self._say(b"clear", b"cleared")

    async def stop(self) -> list[list[Any]]:
        records = orjson.loads(await self._say(b"stop", b"["))
        await asyncio.wait_for(self.process.wait(), 30)
        return list(records)

    def cpu_seconds(self) -> float:
        try:
            return _tree_cpu(psutil.Process(self.process.pid))
        except psutil.NoSuchProcess:
            return 0.0

    def kill(self) -> None:
        if self.process.returncode is None:
            self.process.kill()


class Inline:
    """The subscribers in the load generator's own loop, as the bench had them."""

    def __init__(self, sockets: list[Any], records: list[list[Any]]) -> None:
        self.sockets, self.records = sockets, records

    @classmethod
    async def start(cls, spec: dict[str, Any]) -> Inline:
        records: list[list[Any]] = []
        return cls(await fanout_clients._sockets(spec, records), records)

    async def clear(self) -> None:
        self.records.clear()

    async def stop(self) -> list[list[Any]]:
        await asyncio.gather(*(s.close() for s in self.sockets), return_exceptions=True)
        return list(self.records)

    def cpu_seconds(self) -> float:
        return 0.0

    def kill(self) -> None:
        pass


async def many_tenants(ctx: Context) -> dict[str, Any]:
    """The row of (f) for many tenants: insert → subscriber p50/p95/p99 and each leg's."""
    keys = await _bench_tenants(TENANTS)
    ids = await _tenant_ids(ctx)
    port = free_port()
    api = start(["tenantgraph", "serve", "--workers", "1"], {**ctx.env, "PORT": str(port)})
    observers: list[Child | Inline] = []
    try:
        await api.ready(f"http://127.0.0.1:{port}/healthz")
        tap = await Child.start("tap", {"redis": ctx.env["REDIS_URL"]})
        observers.append(tap)
        spec = {"query": QUERY, "sockets": [
            [str(ids[slug]), f"ws://127.0.0.1:{port}/graphql?tenant={slug}", key]
            for slug, key in keys.items() for _ in range(PER_TENANT)]}
        inline = os.environ.get("BENCH_F_SUBSCRIBERS") == "inline"
        clients = await (Inline.start(spec) if inline else Child.start("sockets", spec))
        observers.append(clients)
        await no_backlog(ctx)
        await asyncio.sleep(1)
        await _publish(ctx, list(ids.values()), max(ctx.warmup, 3.0))  # the relay may still be starting
        await asyncio.sleep(1)
        await asyncio.gather(tap.clear(), clients.clear())
        services = ctx.env["DATABASE_URL"], ctx.env["REDIS_URL"]
        before = (api.cpu_seconds(), *map(service_cpu_seconds, services), clients.cpu_seconds())
        commits = await _publish(ctx, list(ids.values()), ctx.seconds)
        await asyncio.sleep(2)
        after = (api.cpu_seconds(), *map(service_cpu_seconds, services), clients.cpu_seconds())
        cpu = [round((b - a) / (ctx.seconds + 2), 3) for a, b in zip(before, after, strict=True)]
        published, received = await tap.stop(), await clients.stop()
    finally:
        for observer in observers:
            observer.kill()
        api.stop()
    return _row(commits, published, received, cpu, inline=inline, seconds=ctx.seconds)


def _row(commits: dict[float, float], published: list[list[Any]], received: list[list[Any]],
         cpu: list[float], *, inline: bool, seconds: float) -> dict[str, Any]:
    sent = len(commits) * int(EVENTS_PER_SECOND * TICK)
    total = sorted((at - sent_at) * 1000 for _, sent_at, at in received)
    legs = _legs(commits, published, received)
    where = "in the load generator's loop" if inline else "in a process of their own"
    return {
        "scenario": f"f {TENANTS} tenants, {EVENTS_PER_SECOND} events/s", "system": "tenantgraph",
        "connected": TENANTS * PER_TENANT, "events": sent, "rps": round(sent / seconds, 1),
        "received": len(total), "p50_ms": _pct(total, 50), "p95_ms": _pct(total, 95),
        "p99_ms": _pct(total, 99), "errors": sent * PER_TENANT - len(total),
        "cpu_cores": {"app": cpu[0], "postgres": cpu[1], "redis": cpu[2], "subscribers": cpu[3]},
        "legs": legs, "subscribers": "inline" if inline else "process",
        "versus": f"insert → subscriber, subscribers {where}; " + "; ".join(
            f"{name} p50 {leg['p50_ms']} p95 {leg['p95_ms']} p99 {leg['p99_ms']} ms"
            for name, leg in legs.items()),
    }


def _legs(commits: dict[float, float], published: list[list[Any]],
          received: list[list[Any]]) -> dict[str, dict[str, float | None]]:
    """p50/p95/p99 of each leg, over every (event, subscriber) receipt the tap also saw."""
    first: dict[tuple[str, float], float] = {}
    for tenant, sent_at, at in published:
        first.setdefault((tenant, sent_at), at)
    spans: dict[str, list[float]] = {name: [] for name in LEGS}
    for tenant, sent_at, at in received:
        seen = first.get((tenant, sent_at))
        committed = commits.get(sent_at)
        if seen is None or committed is None:
            continue
        for name, ms in zip(LEGS, (committed - sent_at, seen - committed, at - seen), strict=True):
            spans[name].append(ms * 1000)
    return {name: {f"p{p}_ms": _pct(sorted(ms), p) for p in (50, 95, 99)} for name, ms in spans.items()}


async def _tenant_ids(ctx: Context) -> dict[str, Any]:
    connection = await asyncpg.connect(ctx.owner)
    try:
        rows = await connection.fetch(
            "select slug, id from tenants where slug like 'bench-t%' order by slug")
    finally:
        await connection.close()
    return {row["slug"]: row["id"] for row in rows}


async def _publish(ctx: Context, ids: list[Any], seconds: float) -> dict[float, float]:
    """EVENTS_PER_SECOND events for `seconds`, spread round-robin over the tenants; returns
    each tick's sentAt -> when its statement returned (committed: it runs on its own)."""
    connection = await asyncpg.connect(ctx.owner)
    commits: dict[float, float] = {}
    try:
        per_tick = int(EVENTS_PER_SECOND * TICK)
        started, ticks = time.perf_counter(), int(seconds / TICK)
        for tick in range(ticks):
            await asyncio.sleep(max(0.0, started + tick * TICK - time.perf_counter()))
            chosen = [ids[(tick * per_tick + i) % len(ids)] for i in range(per_tick)]
            sent_at = time.perf_counter()
            await connection.execute(TICKS, chosen, sent_at)
            commits[sent_at] = time.perf_counter()
    finally:
        await connection.close()
    return commits
