"""Python work per request of scenario a (a planned read), c (createOrder) or d (a signed webhook),
in-process, for
comparing two commits without load noise: the app's ASGI stack (middlewares, metrics, GraphQL,
planner, webhook intake) without uvicorn and wrk.

    python -m bench.run --only a          # seeds the bench database once
    python -m bench.profile_read 2000     # 2,000 product(id) reads here; prints CPU and calls each
    python -m bench.profile_read 2000 --scenario d   # 2,000 new purchase deliveries
    python -m bench.profile_read 500 --scenario c    # 500 createOrder, with SQL round trips each

Only the app is profiled, not the client. Wall and CPU time move with whatever else runs on the
machine; the call count does not."""

from __future__ import annotations

import argparse
import asyncio
import collections
import cProfile
import os
import pstats
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench import run, seed, sql
from bench.procs import service_cpu_seconds
from bench.scenarios import CREATE_ORDER, PRODUCT, PURCHASE_PRICE, _signed
from domain.config import Settings
from server.app import create_app
from server.embedded import embedded
from tables import engine

ROOT = Path(__file__).resolve().parent.parent
WARM = 300
ENV = {"TG_ENV": "production", "JWT_SECRET": "bench-secret-bench-secret-bench-secret",
       "STREAM_TOKEN_SECRET": "bench-stream-secret-bench-stream-secret",
       "LOG_LEVEL": "WARNING", "GRAPHIQL": "false", "APP_DATABASE_PASSWORD": run.APP_PASSWORD,
       # The cost buckets stay on (each request pays for them) but never refuse a read.
       "COST_BUCKET_SIZE": "1e9", "COST_RESTORE_RATE": "1e9",
       "COST_CREDENTIAL_BUCKET_SIZE": "1e9", "COST_CREDENTIAL_RESTORE_RATE": "1e9"}


async def _profile(database_url: str, redis_url: str, count: int, top: int, scenario: str) -> None:
    owner = database_url.rsplit("/", 1)[0] + "/tenantgraph_bench"
    os.environ.update({**ENV, "DATABASE_URL": owner, "REDIS_URL": redis_url})
    await engine.start(engine.app_dsn(owner, ENV["APP_DATABASE_PASSWORD"]), max_size=2)
    dataset = await seed.seed(owner)
    await engine.stop()
    connection = await asyncpg.connect(owner)
    try:
        ids = [r["id"] for r in await connection.fetch(
            "select id from products where tenant_id = $1 order by random() limit 200",
            dataset.tenants["bench-a"])]
        skus = [r["sku"] for r in await connection.fetch(
            "select sku from variants where tenant_id = $1 and price_amount = $2 limit 200",
            dataset.tenants["bench-a"], PURCHASE_PRICE)]
        buyers = [r["id"] for r in await connection.fetch(
            "select id from customers where tenant_id = $1 limit 200", dataset.tenants["bench-a"])]
    finally:
        await connection.close()
    app = create_app(Settings.from_env(os.environ))
    profile, profiling, measuring = cProfile.Profile(), False, False
    app_cpu = 0.0

    async def served(scope: Any, receive: Any, send: Any) -> None:
        """The app, profiled while it runs (requests go one at a time): not the client. The
        client awaits it inline, so the CPU time spent meanwhile is the app's alone."""
        nonlocal app_cpu
        if profiling:
            profile.enable()
        started = time.process_time()
        try:
            await app(scope, receive, send)
        finally:
            profile.disable()
            if measuring:
                app_cpu += time.process_time() - started

    headers = {"authorization": f"Bearer {dataset.keys['bench-a']}"}
    async with app.router.lifespan_context(app), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=served), base_url="http://bench", headers=headers
    ) as client:
        path = "/webhooks/purchase-flow?tenant=bench-a"
        hooks = _signed(dataset.webhook_secrets["bench-a"], path, skus, WARM + count)

        async def read(i: int) -> None:
            if scenario == "d":
                hook = hooks[i]
                response = await client.post(hook.path, content=hook.body, headers=dict(hook.headers))
                assert response.status_code == 202, response.text
                return
            response = await client.post("/graphql", json=_graphql(scenario, i, ids, skus, buyers))
            assert response.status_code == 200 and "errors" not in response.json(), response.text
            payload = response.json()["data"].get("createOrder")
            assert payload is None or not payload["errors"], response.text

        for i in range(WARM):
            await read(i)
        cpu, server = time.process_time(), service_cpu_seconds(owner)
        profiling, measuring = top >= 0, True
        with sql.counting() as statements:
            for i in range(WARM, WARM + count):
                await read(i)
        spent = time.process_time() - cpu
        measuring = False
        server = service_cpu_seconds(owner) - server
    print(f"{count} requests of ({scenario}): {len(statements) / count:.2f} SQL round trips each, "
          f"{server * 1000 / count:.3f} ms PostgreSQL CPU each")
    for text, seen in collections.Counter(statements).most_common():
        print(f"  {seen / count:5.2f}  {' '.join(text.split())[:150]}")
    _report(f"{count} requests of ({scenario})", count, spent, app_cpu, profile if top >= 0 else None, top)


def _report(
    title: str, count: int, spent: float, app_cpu: float, profile: cProfile.Profile | None, top: int
) -> None:
    if profile is None:
        print(f"{title}: {spent * 1000 / count:.3f} ms CPU each, "
              f"{app_cpu * 1000 / count:.3f} ms of it in the app")
        return
    stats = pstats.Stats(profile)
    print(f"{title}: {spent * 1000 / count:.3f} ms CPU each (profiled), "
          f"{stats.total_calls / count:.0f} Python calls each")
    stats.sort_stats("tottime").print_stats(top)
    if os.environ.get("PROFILE_DUMP"):
        stats.dump_stats(os.environ["PROFILE_DUMP"])


def _graphql(scenario: str, i: int, ids: list[Any], skus: list[str], buyers: list[Any]) -> dict[str, Any]:
    if scenario == "c":
        line = {"sku": skus[i % len(skus)], "quantity": 1}
        return {"query": CREATE_ORDER, "variables": {"input": {
            "customerId": str(buyers[i % len(buyers)]), "lines": [line]}}}
    return {"query": PRODUCT, "variables": {"id": str(ids[i % len(ids)])}}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_read", description=__doc__)
    parser.add_argument("count", type=int, nargs="?", default=2000)
    parser.add_argument("--top", type=int, default=25,
                        help="functions to list by own time; -1: no profiler, CPU time only")
    parser.add_argument("--scenario", choices=["a", "c", "d"], default="a")
    args = parser.parse_args()
    with embedded(ROOT / ".data" / "bench") as services:
        asyncio.run(_profile(
            services.database_url, services.redis_url, args.count, args.top, args.scenario
        ))


if __name__ == "__main__":
    main()
