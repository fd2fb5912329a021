"""(h) Tenants protected from each other, and what query cost and its buckets cost a read.

Tenant Q (bench-a) reads products at a steady rate alone, then again while tenant N
(bench-b), given a small plan, sends ten times what that plan restores: only N may be
throttled, Q's p99 stays within twice its solo p99 and Q gets no error. Then the planned
read of (a), closed loop, alternately against this API and a second one with COST_LIMITS=off:
the ratio is what costing and the Redis buckets cost."""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import asyncpg

from bench import wrk
from bench.procs import free_port, start
from bench.scenarios import PRODUCT, Context, Scenario, _load
from tables import tenant_limits

Q_RATE = 300
"""Q's steady reads per second."""
N_PLAN = {"bucket_size": 60.0, "restore_rate": 30.0}
"""N's plan, in points: a product read asks for 3, so it restores 10 reads a second (and N's
ten times that stays within what 2 cores serve beside Q, so N is throttled by its plan and
not merely slowed down by the machine)."""
N_RATE = 10 * N_PLAN["restore_rate"] / 3
ROUNDS = 2


async def noisy_neighbour(ctx: Context) -> list[dict[str, Any]]:
    quiet, noisy = await _reads(ctx, "bench-a"), await _reads(ctx, "bench-b")
    await tenant_limits.set_limits(tenant_id=ctx.dataset.tenants["bench-b"], changes=N_PLAN)
    try:
        await asyncio.sleep(1)  # every API process hears of the new plan
        alone = await _load(ctx, "h tenant Q alone", "tenantgraph", ctx.api, quiet,
                            connections=16, rate=Q_RATE)
        beside, flood = await asyncio.gather(
            _load(ctx, "h tenant Q beside N", "tenantgraph", ctx.api, quiet,
                  connections=16, rate=Q_RATE),
            _load(ctx, "h tenant N at 10x its plan", "tenantgraph", ctx.api, noisy,
                  connections=32, rate=N_RATE),
        )
    finally:
        await tenant_limits.set_limits(
            tenant_id=ctx.dataset.tenants["bench-b"], changes=dict.fromkeys(N_PLAN)
        )
    beside["versus"] = f"p99 {beside['p99_ms'] / alone['p99_ms']:.1f}× alone"
    flood["versus"] = f"{flood['throttled'] / max(1, flood['requests']):.0%} throttled"
    return [alone, beside, flood, *await _overhead(ctx, quiet)]


async def _overhead(ctx: Context, reads: list[wrk.Request]) -> list[dict[str, Any]]:
    port = free_port()
    ctx.procs["api without limits"] = unlimited = start(
        ["tenantgraph", "serve", "--workers", str(os.cpu_count() or 2)],
        {**ctx.env, "PORT": str(port), "COST_LIMITS": "off"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        await unlimited.ready(f"{url}/healthz")
        rows: list[dict[str, Any]] = []
        for _ in range(ROUNDS):
            rows.append(await _load(ctx, "h cost overhead on (a)", "tenantgraph", ctx.api, reads))
            rows.append(await _load(ctx, "h cost overhead on (a)", "COST_LIMITS=off", url, reads,
                                    proc="api without limits"))
    finally:
        unlimited.stop()
        del ctx.procs["api without limits"]
    on = sum(r["rps"] for r in rows if r["system"] == "tenantgraph")
    off = sum(r["rps"] for r in rows if r["system"] != "tenantgraph")
    rows[-2]["versus"] = f"{on / off:.2f}× COST_LIMITS=off ({ROUNDS} rounds each)"
    return rows


async def _reads(ctx: Context, slug: str) -> list[wrk.Request]:
    connection = await asyncpg.connect(ctx.owner)
    try:
        ids = await connection.fetch(
            "select id from products where tenant_id = $1 order by random() limit 200",
            ctx.dataset.tenants[slug],
        )
    finally:
        await connection.close()
    headers = {"content-type": "application/json",
               "authorization": f"Bearer {ctx.dataset.keys[slug]}"}
    return [wrk.Request("POST", "/graphql", headers,
                        json.dumps({"query": PRODUCT, "variables": {"id": str(row["id"])}}))
            for row in ids]


SCENARIO = Scenario("h", "noisy neighbour, and the cost of query cost on (a)", noisy_neighbour)
