"""make bench: dataset, tenantgraph and its baseline side by side, scenarios, report.

    python -m bench.run [--seconds 10] [--subscribers 1000,10000] [--only a,b,...]

Without DATABASE_URL/REDIS_URL it starts embedded PostgreSQL and Redis under .data/bench.
Writes bench/results/<timestamp>.json and .md and prints the table; exits 1 after writing them
when a scenario failed or did no work (bench/verdict.py)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from bench import noisy, outbound, report, scenarios, throughput, verdict, wrk
from bench.procs import free_port, start
from server.embedded import embedded
from tables import engine
from tables.migrate import migrate

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
APP_PASSWORD = "bench-app-role-password-7f3c9a"
"""The app role's password in the bench's own database: not the published dev value, which
production (TG_ENV=production, as the bench runs) refuses."""


def main() -> None:
    parser = argparse.ArgumentParser(prog="make bench", description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0, help="load per scenario")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--subscribers", default="1000,10000")
    parser.add_argument("--only", default="", help="comma-separated scenario letters")
    args = parser.parse_args()
    wrk.ensure_installed()
    with _services() as (database_url, redis_url):
        results = asyncio.run(_bench(args, database_url, redis_url))
    finish(results)


@contextlib.contextmanager
def _services() -> Iterator[tuple[str, str]]:
    given = os.environ.get("DATABASE_URL"), os.environ.get("REDIS_URL")
    if given[0] and given[1]:
        yield given[0], given[1]
        return
    # The bench's own Redis starts empty: the jobs every (d) run queued for (e) piled up
    # across runs (466k keys, 243 MB), and their AOF rewrites took CPU from later runs. Its
    # files go before it starts: a large AOF made it answer "loading" to a flush at start.
    shutil.rmtree(ROOT / ".data" / "bench" / "redis", ignore_errors=True)
    with embedded(ROOT / ".data" / "bench", durable=False) as services:
        yield services.database_url, services.redis_url


async def _bench(args: argparse.Namespace, database_url: str, redis_url: str) -> list[dict[str, Any]]:
    owner = await _database(database_url)
    await migrate(owner, app_password=APP_PASSWORD)
    await engine.start(engine.app_dsn(owner, APP_PASSWORD), max_size=10)
    from bench import seed

    print("seeding the dataset (first run takes a minute)...", flush=True)
    dataset = await seed.seed(owner)
    env = {**os.environ, "DATABASE_URL": owner, "REDIS_URL": redis_url, "TG_ENV": "production",
           "APP_DATABASE_PASSWORD": APP_PASSWORD,
           "JWT_SECRET": "bench-secret-bench-secret-bench-secret", "LOG_LEVEL": "WARNING",
           "STREAM_TOKEN_SECRET": "bench-stream-secret-bench-stream-secret",
           "GRAPHIQL": "false", "DB_POOL_MAX": "20",
           # (f) holds 10,000 subscribers with one key on one process: above the default caps,
           "LIVE_CONNECTIONS_PER_CREDENTIAL": "20000", "LIVE_CONNECTIONS_PER_TENANT": "20000",
           # and connects them, one key, as fast as it can; (d) measures what ingest can take.
           "WS_INIT_BURST": "20000", "SUBSCRIBE_BURST": "20000", "LIVE_SUBSCRIPTIONS_PER_TENANT": "20000",
           "WEBHOOK_BURST": "100000", "WEBHOOK_RATE": "100000",
           # (i) delivers to a receiver on loopback, from whichever worker takes the job.
           "OUTBOUND_ALLOW_NETWORKS": "127.0.0.0/8",
           # The cost buckets stay on (each request pays for them) but never refuse a scenario;
           # (h) gives its noisy tenant a small plan of its own.
           "COST_BUCKET_SIZE": "1e9", "COST_RESTORE_RATE": "1e9",
           "COST_CREDENTIAL_BUCKET_SIZE": "1e9", "COST_CREDENTIAL_RESTORE_RATE": "1e9"}
    cores = os.cpu_count() or 2
    api_port, base_port = free_port(), free_port()
    api = start(["tenantgraph", "serve", "--workers", str(cores)], {**env, "PORT": str(api_port)})
    baseline = start(
        [sys.executable, "-m", "uvicorn", "bench.baseline:app", "--factory", "--workers",
         str(cores), "--port", str(base_port), "--log-level", "warning", "--loop", "uvloop",
         "--http", "httptools"], env,
    )
    procs = {"api": api, "baseline": baseline}
    context = scenarios.Context(
        owner=owner, env=env, dataset=dataset, api=f"http://127.0.0.1:{api_port}",
        baseline=f"http://127.0.0.1:{base_port}", seconds=args.seconds, warmup=args.warmup,
        procs=procs, work=ROOT / ".data" / "bench-work",
        subscribers=[int(n) for n in args.subscribers.split(",") if n],
    )
    context.work.mkdir(parents=True, exist_ok=True)
    wanted = set(args.only.split(",")) - {""}
    results: list[dict[str, Any]] = []
    try:
        await asyncio.gather(api.ready(f"http://127.0.0.1:{api_port}/healthz"),
                             baseline.ready(f"http://127.0.0.1:{base_port}/x/orders", status=None))
        for scenario in [*scenarios.ALL, *throughput.ALL, noisy.SCENARIO, outbound.SCENARIO]:
            if not wanted or scenario.letter in wanted:
                await scenarios.vacuumed(context)
                results.extend(await measured(scenario, context))
    finally:
        for proc in (*procs.values(), *context.workers):
            proc.stop()
        await engine.stop()
    return results


async def measured(scenario: scenarios.Scenario, context: scenarios.Context) -> list[dict[str, Any]]:
    """The rows of one scenario, marked failed when it raised or did no work."""
    print(f"scenario {scenario.letter}: {scenario.title} ...", flush=True)
    try:
        rows = await scenario.run(context)
    except Exception as error:  # noqa: BLE001 - a failed scenario is reported, not fatal
        print(f"scenario {scenario.letter} failed: {error!r}", flush=True)
        return [{"scenario": scenario.title, "system": "tenantgraph", "failure": repr(error)[:300],
                 "errors": 1}]
    return verdict.checked(f"{scenario.letter} {scenario.title}", rows)


def finish(results: list[dict[str, Any]], directory: Path = RESULTS) -> None:
    """Write the results, then exit 1 when any scenario failed or did no work."""
    _write(results, directory)
    failed = verdict.failures(results)
    if failed:
        sys.exit("failed:\n" + "\n".join(failed))


async def _database(url: str) -> str:
    """A database of the benchmark's own, so it never touches `make run`'s data."""
    connection = await asyncpg.connect(url)
    try:
        if not await connection.fetchval("select 1 from pg_database where datname = 'tenantgraph_bench'"):
            await connection.execute("create database tenantgraph_bench")
    finally:
        await connection.close()
    head, _, _ = url.rpartition("/")
    return f"{head}/tenantgraph_bench"


def _write(results: list[dict[str, Any]], directory: Path = RESULTS) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    machine = {"cpus": os.cpu_count(), "python": platform.python_version(),
               "platform": platform.platform(), "processor": platform.processor()}
    document = {"at": stamp, "machine": machine, "results": results}
    (directory / f"{stamp}.json").write_text(json.dumps(document, indent=2))
    table = report.markdown(document)
    (directory / f"{stamp}.md").write_text(table)
    (directory / "latest.md").write_text(table)
    print(table)
    print(f"written: {directory}/{stamp}.json, {stamp}.md and latest.md")




if __name__ == "__main__":
    main()
