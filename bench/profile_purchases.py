"""Purchases applied one by one (flows.apply_purchase, a transaction each) against batches of
them (purchase_batches.apply_purchases, a transaction per batch), in-process on the bench
database: round trips (statements sent to PostgreSQL, BEGIN and COMMIT included), Python calls
(cProfile) and CPU of this process and of PostgreSQL per purchase, and purchases/s, each way back to back.

    python -m bench.profile_purchases 400            # sizes 1, 10, 50, 200 and one by one
    python -m bench.profile_purchases 1000 --sizes 200

Only the purchase's own work is measured: not the inbox claim and mark of a delivery, which
the batch framework adds around either. Wall time moves with whatever else runs on the
machine; round trips and calls do not."""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import itertools
import pstats
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg

from bench import procs, run, seed
from domain import events, flows
from server.embedded import embedded
from services import flows as flow_services
from services import purchase_batches
from tables import db, engine
from tables.migrate import migrate

ROOT = Path(__file__).resolve().parent.parent
META = events.WriteMeta(actor="webhook:purchase-flow", correlation_id="bench")
Apply = Callable[[Sequence[flows.Purchase]], Awaitable[None]]


class Statements:
    """Counts what asyncpg sends: each of these methods is one round trip."""

    NAMES = ("execute", "executemany", "fetch", "fetchrow", "fetchval")

    def __init__(self, database_url: str) -> None:
        self.count = 0
        self.database_url = database_url
        for name in self.NAMES:
            setattr(asyncpg.Connection, name, self._counted(getattr(asyncpg.Connection, name)))

    def _counted(self, method: Any) -> Any:
        async def counted(*args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return await method(*args, **kwargs)

        return counted


def _purchases(skus: list[tuple[str, int]], emails: Iterator[str], count: int) -> list[flows.Purchase]:
    made = []
    for n in range(count):
        sku, price = skus[n % len(skus)]
        order = {"id": uuid.uuid4().hex, "currency": "EUR", "total": price,
                 "items": [{"sku": sku, "quantity": 1, "unitPrice": price}],
                 "customer": {"email": next(emails)}}
        parsed = flows.parse("purchase-flow", {"version": 1, "order": order})
        assert isinstance(parsed, flows.Purchase)
        made.append(parsed)
    return made


def _one_by_one(tenant_id: UUID) -> Apply:
    async def apply(purchases: Sequence[flows.Purchase]) -> None:
        for purchase in purchases:
            async with db.transaction(tenant_id=tenant_id):
                await flow_services.apply_purchase(purchase, tenant_id=tenant_id, meta=META)

    return apply


def _batches(tenant_id: UUID, size: int) -> Apply:
    async def apply(purchases: Sequence[flows.Purchase]) -> None:
        for start in range(0, len(purchases), size):
            chunk = [(p, META) for p in purchases[start:start + size]]
            async with db.transaction(tenant_id=tenant_id):
                outcomes = await purchase_batches.apply_purchases(chunk, tenant_id)
            assert outcomes == [None] * len(chunk), outcomes

    return apply


async def _measure(
    label: str, apply: Apply, make: Callable[[int], list[flows.Purchase]], count: int,
    counter: Statements, top: int = 0,
) -> None:
    await apply(make(50))
    rest = make(count)
    before, cpu, wall = counter.count, time.process_time(), time.perf_counter()
    server = procs.service_cpu_seconds(counter.database_url)
    await apply(rest)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    server = procs.service_cpu_seconds(counter.database_url) - server
    statements = counter.count - before
    profile = cProfile.Profile()
    again = make(count)
    profile.enable()
    await apply(again)
    profile.disable()
    stats = pstats.Stats(profile)
    calls = stats.total_calls  # type: ignore[attr-defined]
    n = len(rest)
    print(f"{label:>12}: {statements / n:6.2f} round trips, {calls / n:7.0f} Python calls, "
          f"{cpu * 1000 / n:5.2f} ms CPU here and {server * 1000 / n:5.2f} ms in PostgreSQL per "
          f"purchase; {n / wall:6.0f} purchases/s", flush=True)
    if top:
        stats.sort_stats("ncalls").print_stats(top)


async def _profile(database_url: str, count: int, sizes: list[int], top: int) -> None:
    owner = await run._database(database_url)
    await migrate(owner, app_password=run.APP_PASSWORD)
    await engine.start(engine.app_dsn(owner, run.APP_PASSWORD), max_size=4)
    dataset = await seed.seed(owner)
    tenant_id = dataset.tenants["bench-a"]
    connection = await asyncpg.connect(owner)
    try:
        rows = await connection.fetch(
            "select sku, price_amount from variants where tenant_id = $1 order by random() limit 500",
            tenant_id)
    finally:
        await connection.close()
    skus = [(row["sku"], row["price_amount"]) for row in rows]
    # Half the buyers are customers already, half are new.
    emails = (f"c{n}@example.com" if n % 2 else f"{uuid.uuid4().hex}@example.com"
              for n in itertools.count(1))
    counter = Statements(database_url)
    ways: list[tuple[str, Apply]] = [("one by one", _one_by_one(tenant_id))]
    ways += [(f"batch {size}", _batches(tenant_id, size)) for size in sizes]
    for label, apply in ways:
        await _measure(label, apply, lambda n: _purchases(skus, emails, n), count, counter, top)
    await engine.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_purchases", description=__doc__)
    parser.add_argument("count", type=int, nargs="?", default=400)
    parser.add_argument("--sizes", default="1,10,50,200", help="batch sizes, comma-separated")
    parser.add_argument("--top", type=int, default=0, help="functions to list by calls, each way")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",") if size]
    with embedded(ROOT / ".data" / "bench") as services:
        asyncio.run(_profile(services.database_url, args.count, sizes, args.top))


if __name__ == "__main__":
    main()
