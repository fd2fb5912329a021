"""Work per applied delivery at a batch size, in-process, for comparing two commits without
load noise: Python calls and database round trips per delivery, and the statements one batch
sends.

    python -m bench.profile_apply 1000 --size 50   # seeds the bench database, stores 1,000
                                                   # purchase deliveries, applies them here

Wall and CPU time move with whatever else runs on the machine; calls and round trips do not.
A round trip is one message the connection sends: a statement, or several in one simple query
(the savepoint opened for the next delivery releases the last in the same message)."""

from __future__ import annotations

import argparse
import asyncio
import collections
import cProfile
import json
import pstats
import random
import time
import uuid
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg

from bench import run, scenarios, seed
from server.embedded import embedded
from services import batches
from tables import engine
from tables.migrate import migrate

ROOT = Path(__file__).resolve().parent.parent
WARM = 100
FLOW = "purchase-flow"


class RoundTrips:
    """Counts what the engine's pool connections send, by the statement's first words."""

    def __init__(self) -> None:
        self.sent: collections.Counter[str] = collections.Counter()
        self.on = False

    def __call__(self, query: Any) -> None:
        if self.on:
            self.sent[" ".join(query.query.split()[:3])[:60]] += 1

    def attach(self, pool: Any) -> None:
        for holder in pool._holders:  # noqa: SLF001 - a bench's look inside asyncpg's pool
            if holder._con is not None:  # noqa: SLF001
                holder._con.add_query_logger(self)  # noqa: SLF001


async def _store(owner: str, tenant_id: UUID, count: int) -> None:
    connection = await asyncpg.connect(owner)
    try:
        skus = [r["sku"] for r in await connection.fetch(
            f"select sku from variants where tenant_id = $1 and price_amount = {scenarios.PURCHASE_PRICE}"
            " limit 200", tenant_id)]
        payloads = [json.dumps({"version": 1, "order": {
            "id": uuid.uuid4().hex, "currency": "EUR",
            "customer": {"email": f"c{random.randint(1, 9999)}@example.com"},  # noqa: S311
            "items": [{"sku": random.choice(skus), "quantity": 1,  # noqa: S311
                       "unitPrice": scenarios.PURCHASE_PRICE}],
            "total": scenarios.PURCHASE_PRICE}}) for _ in range(count)]
        await connection.execute(
            """
            insert into webhook_inbox (id, tenant_id, flow, delivery_id, payload, status, attempts,
                                       correlation_id, received_at, updated_at)
            select gen_random_uuid(), $1, $2, 'profile-' || gen_random_uuid(), p::jsonb, 'queued',
                   0, 'profile', clock_timestamp(), now()
            from unnest($3::text[]) p
            """,
            tenant_id, FLOW, payloads,
        )
    finally:
        await connection.close()


async def _apply(tenant_id: UUID, size: int, count: int) -> int:
    applied = 0
    while applied < count:
        report = await batches.apply_batch(tenant_id, FLOW, min(size, count - applied), batches.Report())
        if not report.claimed:
            break
        applied += len(report.claimed)
    return applied


async def _profile(database_url: str, count: int, size: int, top: int) -> None:
    owner = await run._database(database_url)  # noqa: SLF001 - the bench's own database
    await migrate(owner, app_password=run.APP_PASSWORD)
    await engine.start(engine.app_dsn(owner, run.APP_PASSWORD), max_size=2)
    dataset = await seed.seed(owner)
    tenant_id = dataset.tenants["bench-a"]
    await _store(owner, tenant_id, count + WARM)
    await _apply(tenant_id, size, WARM)
    trips = RoundTrips()
    assert engine.DB.pool is not None
    trips.attach(engine.DB.pool)
    profile = cProfile.Profile()
    cpu = time.process_time()
    trips.on = True
    profile.enable()
    applied = await _apply(tenant_id, size, count)
    profile.disable()
    trips.on = False
    stats = pstats.Stats(profile)
    print(f"{applied} {FLOW} deliveries in batches of {size}: "
          f"{(time.process_time() - cpu) * 1000 / applied:.2f} ms CPU (profiled), "
          f"{stats.total_calls / applied:.0f} Python calls and "
          f"{sum(trips.sent.values()) / applied:.2f} round trips each")
    batches_run = -(-applied // size)
    print(f"round trips per batch ({batches_run} batches), by statement:")
    for statement, sent in trips.sent.most_common():
        print(f"  {sent / batches_run:8.1f}  {statement}")
    stats.sort_stats("tottime").print_stats(top)
    await engine.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_apply", description=__doc__)
    parser.add_argument("count", type=int, nargs="?", default=1000)
    parser.add_argument("--size", type=int, default=50, help="deliveries per batch")
    parser.add_argument("--top", type=int, default=20, help="functions to list by own time")
    args = parser.parse_args()
    with embedded(ROOT / ".data" / "bench", durable=False) as services:
        asyncio.run(_profile(services.database_url, args.count, args.size, args.top))


if __name__ == "__main__":
    main()
