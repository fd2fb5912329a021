"""Python work per applied delivery, in-process, for comparing two commits without load noise.

    python -m bench.run --only d        # leaves purchase deliveries queued in the bench database
    python -m bench.profile_apply 1000  # applies 1,000 of them here; prints CPU and calls each

Wall and CPU time move with whatever else runs on the machine; the call count does not."""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import time
from pathlib import Path

import asyncpg

from bench import run
from server.embedded import embedded
from tables import engine
from workers.deliveries import apply_delivery

ROOT = Path(__file__).resolve().parent.parent
WARM = 100
QUEUED = """
select tenant_id, id from webhook_inbox where flow = 'purchase-flow' and status = 'queued'
order by received_at limit $1
"""


async def _profile(database_url: str, count: int, top: int) -> None:
    owner = database_url.rsplit("/", 1)[0] + "/tenantgraph_bench"
    await engine.start(engine.app_dsn(owner, run.APP_PASSWORD), max_size=4)
    connection = await asyncpg.connect(owner)
    try:
        rows = await connection.fetch(QUEUED, count + WARM)
    finally:
        await connection.close()
    if len(rows) <= WARM:
        raise SystemExit("no queued purchase deliveries: run `python -m bench.run --only d` first")
    for tenant_id, delivery_id in rows[:WARM]:
        await apply_delivery({}, tenant_id=str(tenant_id), delivery_id=str(delivery_id))
    profile = cProfile.Profile()
    cpu = time.process_time()
    profile.enable()
    for tenant_id, delivery_id in rows[WARM:]:
        await apply_delivery({}, tenant_id=str(tenant_id), delivery_id=str(delivery_id))
    profile.disable()
    applied = len(rows) - WARM
    stats = pstats.Stats(profile)
    print(f"{applied} deliveries: {(time.process_time() - cpu) * 1000 / applied:.2f} ms CPU "
          f"(profiled), {stats.total_calls / applied:.0f} Python calls each")
    stats.sort_stats("tottime").print_stats(top)
    await engine.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_apply", description=__doc__)
    parser.add_argument("count", type=int, nargs="?", default=1000)
    parser.add_argument("--top", type=int, default=20, help="functions to list by own time")
    args = parser.parse_args()
    with embedded(ROOT / ".data" / "bench") as services:
        asyncio.run(_profile(services.database_url, args.count, args.top))


if __name__ == "__main__":
    main()
