"""Units of work give their pooled connection back on every path, cancellation included."""

from __future__ import annotations

import asyncio
import random
from typing import Any

from bench import sql
from tables import db
from tables.engine import DB


async def test_cancelled_units_of_work_give_their_connections_back(tenant_a: Any) -> None:
    """Cancelling at random moments (acquire, BEGIN, the query, COMMIT) many times; with a
    leak the pool runs dry and this never finishes."""

    async def unit() -> None:
        async with db.transaction(tenant_id=tenant_a.id) as tx:
            await tx.connection.execute("select 1")

    async def cancel_at_random_moments() -> None:
        randomly = random.Random(7)
        for _ in range(150):
            tasks = [asyncio.create_task(unit()) for _ in range(20)]
            await asyncio.sleep(randomly.uniform(0, 0.002))
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(*(unit() for _ in range(20)))

    assert DB.pool is not None
    await asyncio.wait_for(cancel_at_random_moments(), timeout=30)
    await asyncio.sleep(0.2)  # released connections finish their reset
    assert DB.pool.get_idle_size() == DB.pool.get_size()


async def test_generic_plans_hold_for_their_transaction_only(tenant_a: Any) -> None:
    async def mode(**options: Any) -> str:
        async with db.transaction(tenant_id=tenant_a.id, **options) as tx:
            async with db.transaction(tenant_id=tenant_a.id, generic_plans=not options) as joined:
                assert joined is tx, "a nested call joins, whatever it asks"
                found: str = await tx.connection.fetchval("select current_setting('plan_cache_mode')")
        return found

    for _ in range(3):  # the pool's connections, each used after a transaction of each kind
        assert await mode(generic_plans=True) == "force_generic_plan"
        assert await mode() == "auto"


async def test_also_runs_with_begin_and_in_a_joined_transaction(tenant_a: Any) -> None:
    """`also` rides in BEGIN's round trip; a call that joins a transaction still runs it."""
    also = ", set_config('tenantgraph.probe', 'set', true)"

    async def probe(tx: Any) -> str:
        found: str = await tx.connection.fetchval("select current_setting('tenantgraph.probe', true)")
        return found

    with sql.counting() as sent:
        async with db.transaction(tenant_id=tenant_a.id, also=also) as tx:
            assert await probe(tx) == "set"
    assert len(sent) == 3  # BEGIN (with `also`), the probe, COMMIT
    async with db.transaction(tenant_id=tenant_a.id) as tx:
        assert await probe(tx) in ("", None)
        async with db.transaction(tenant_id=tenant_a.id, also=also) as joined:
            assert joined is tx and await probe(tx) == "set"
