"""What the metrics read from the database: the pool's lent-out connections and the outbox
backlog, on the real pool and the real events table."""

from __future__ import annotations

from typing import Any

from tables import engine
from tables import events as outbox
from telemetry import metrics
from tests.stock import open_shop


async def test_pool_in_use_counts_the_connections_lent_out(app_pool: None) -> None:
    pool = engine.DB.pool
    assert pool is not None
    metrics.sample_pool(pool)
    idle = metrics.DB_POOL_IN_USE._value.get()

    async with pool.acquire() as _first, pool.acquire() as _second:
        metrics.sample_pool(pool)
        held = metrics.DB_POOL_IN_USE._value.get()

    assert held - idle == 2
    assert metrics.DB_POOL_WAITING._value.get() == 0


async def test_backlog_counts_unpublished_events_and_the_age_of_the_oldest(make_tenant: Any) -> None:
    before, _ = await outbox.backlog()
    tenant = await make_tenant()

    await open_shop(tenant.id)  # a product and a location: events no relay publishes here
    count, age = await outbox.backlog()

    assert count - before == len(await outbox.list_events(tenant_id=tenant.id, limit=100)) >= 2
    assert age > 0
