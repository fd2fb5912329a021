"""A long history for the bench database: published events of the past for (f)'s tenants, so
that a scenario runs against an events table the size a deployment reaches, not a fresh one.

    python -m bench.run --only f --subscribers ""   # makes the bench database and (f)'s tenants
    python -m bench.history 25000                  # 25,000 old events each: 2.5 million rows
    python -m bench.run --only f --subscribers ""   # (f) on the grown table

The events are numbered below the tenants' sequences (negative seqs, published a day ago): no
counter, cursor or subscriber sees them. What they change is what size changes: the table and
its indexes, and VACUUM's threshold (a fifth of the table by default), so dead rows and index
entries left by the live traffic stay longer between vacuums."""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path

import asyncpg

from server.embedded import postgres

ROOT = Path(__file__).resolve().parent.parent
GROW = """
insert into events (tenant_id, seq, type, aggregate_type, aggregate_id, payload, created_at,
                    published_at)
select t.id, -g, 'bench.old', 'bench', 'old-' || (g % 1000),
       jsonb_build_object('n', g, 'pad', repeat('x', 200)),
       now() - interval '1 day', now() - interval '1 day'
from tenants t, generate_series(coalesce((select -min(seq) from events e where e.tenant_id = t.id
                                          and seq < 0), 0) + 1,
                                coalesce((select -min(seq) from events e where e.tenant_id = t.id
                                          and seq < 0), 0) + $1) g
where t.slug like 'bench-t%'
"""


async def _grow(url: str, per_tenant: int) -> None:
    connection = await asyncpg.connect(url.rsplit("/", 1)[0] + "/tenantgraph_bench")
    try:
        started = time.monotonic()
        # As the owner, without the events' triggers: the rows come numbered and published.
        await connection.execute("set session_replication_role = replica")
        status = await connection.execute(GROW, per_tenant)
        await connection.execute("vacuum analyze events")
        total = await connection.fetchval("select count(*) from events")
    finally:
        await connection.close()
    print(f"{status.split()[-1]} old events added in {time.monotonic() - started:.0f} s;"
          f" {total} events in all")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.history", description=__doc__)
    parser.add_argument("per_tenant", type=int, help="old events to add to each of (f)'s tenants")
    args = parser.parse_args()
    with postgres(ROOT / ".data" / "bench" / "postgres", durable=False) as url:
        asyncio.run(_grow(url, args.per_tenant))


if __name__ == "__main__":
    main()
