"""A worker killed with SIGKILL in the middle of a batch of deliveries, then another started:
every delivery is applied exactly once, and none is lost. The batch is held in flight by a row
lock the test takes (the shop's stock rows); the dead worker's claims go with its transaction,
which PostgreSQL rolls back when its connection drops, and the next worker claims them."""

from __future__ import annotations

import asyncio
import collections
import random
import time
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import pytest

from domain import inventory
from domain.config import Settings
from tables import db
from tables import events as outbox
from tables import inventory as inventory_tables
from tables.orders import OrderTable
from tests import shop as shops
from tests import webhooks as hooks
from tests.workers.test_deliveries import MODULES, Pipeline, pipeline_for

ADJUSTMENTS = 60
ORDERS = 40
OPENING_STOCK = 1000


@pytest.fixture
async def shop(make_tenant: Any) -> shops.Shop:
    return await shops.open_shop(make_tenant, stock=OPENING_STOCK, modules=MODULES)


async def processed(connection: asyncpg.Connection, tenant_id: UUID) -> int:
    return int(await connection.fetchval(
        "select count(*) from webhook_inbox where tenant_id = $1 and status = 'processed'", tenant_id
    ))


async def post_all(pipeline: Pipeline, shop: shops.Shop, batch: list[tuple[str, Any]]) -> None:
    secrets = {flow: await hooks.endpoint(shop.tenant, flow) for flow in ("inventory-flow", "purchase-flow")}
    for start in range(0, len(batch), 20):
        chunk = batch[start:start + 20]
        await asyncio.gather(*(pipeline.post(shop.tenant, f, secrets[f], payload) for f, payload in chunk))


async def blocked_batches(connection: asyncpg.Connection) -> int:
    """Batches waiting on the test's lock of the stock rows."""
    return int(await connection.fetchval(
        "select count(*) from pg_stat_activity where wait_event_type = 'Lock'"
        " and datname = current_database() and query like '%stock_levels%'"
    ))


async def kill_mid_batch(
    pipeline: Pipeline, connection: asyncpg.Connection, shop: shops.Shop, batch: list[tuple[str, Any]]
) -> tuple[int, int]:
    """Lock the stock, post every delivery, start a worker and SIGKILL it once a batch of it
    waits on the lock: (deliveries applied, batches in flight) when it was killed."""
    lock = await asyncpg.connect(pipeline.env["DATABASE_URL"])
    try:
        async with lock.transaction():
            await lock.execute("select 1 from stock_levels where tenant_id = $1 for update", shop.id)
            await post_all(pipeline, shop, batch)
            worker = pipeline.start_worker()
            deadline = time.monotonic() + 30
            while not await blocked_batches(connection):
                assert time.monotonic() < deadline, pipeline.log()[-4000:]
                await asyncio.sleep(0.02)
            in_flight = await blocked_batches(connection)
            worker.kill()
            await asyncio.to_thread(worker.wait, 10)
        return await processed(connection, shop.id), in_flight
    finally:
        await lock.close()


async def until_all_processed(
    pipeline: Pipeline, connection: asyncpg.Connection, tenant_id: UUID, count: int
) -> None:
    deadline = time.monotonic() + 45
    while await processed(connection, tenant_id) < count:
        assert time.monotonic() < deadline, pipeline.log()[-6000:]
        await asyncio.sleep(0.1)


async def test_a_worker_killed_mid_batch_and_restarted_applies_every_delivery_exactly_once(
    settings: Settings, server_env: dict[str, str], app_pool: None, tmp_path: Path, shop: shops.Shop
) -> None:
    rng = random.Random(4)
    deltas = [rng.randint(-3, 9) for _ in range(ADJUSTMENTS)]
    quantities = {f"crash-{n}": rng.randint(1, 3) for n in range(ORDERS)}
    batch = [("inventory-flow", hooks.stock("adjust", [("MUG", "main", d)], "correction")) for d in deltas]
    batch += [("purchase-flow", hooks.purchase(ref, [("TEE-S", q, 1500)], q * 1500))
              for ref, q in quantities.items()]
    rng.shuffle(batch)
    assert settings.database_url is not None
    connection = await asyncpg.connect(settings.database_url)
    try:
        async with pipeline_for(settings, server_env, tmp_path, start=False) as pipeline:
            applied_before_kill, in_flight = await kill_mid_batch(pipeline, connection, shop, batch)
            pipeline.start_worker()
            await until_all_processed(pipeline, connection, shop.id, len(batch))
    finally:
        await connection.close()

    assert applied_before_kill == 0 and in_flight >= 1
    assert await shop.stock("MUG") == (OPENING_STOCK + sum(deltas), 0)
    assert await shop.stock("TEE-S") == (OPENING_STOCK, sum(quantities.values()))
    async with db.transaction(tenant_id=shop.id):
        refs = [row["external_ref"] for row in await OrderTable.select(OrderTable.external_ref).where(
            OrderTable.tenant_id == shop.id
        )]
    assert sorted(refs) == sorted(f"shop:{ref}" for ref in quantities)
    adjusted = await inventory_tables.list_adjustments(
        tenant_id=shop.id, where=inventory.AdjustmentFilter(sku="MUG", reason=inventory.Reason.CORRECTION),
        descending=False, after=None, limit=500,
    )
    assert sorted(a.delta for a in adjusted if a.note == "inventory-flow") == sorted(deltas)
    written = await outbox.list_events(tenant_id=shop.id, after_seq=shop.seeded_seq, limit=1000)
    assert collections.Counter(e.type for e in written) == {
        "inventory.adjusted": ADJUSTMENTS, "inventory.reserved": ORDERS, "order.created": ORDERS
    }
