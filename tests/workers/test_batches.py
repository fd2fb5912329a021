"""Batches of inbox deliveries applied in process on the real database (services.batches):
one bad delivery dead-lettered alone, delivery order kept, a batch failing as a whole retried
one by one, attempts and backoff, and one tenant per transaction under its own setting."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import uuid
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any
from uuid import UUID

import asyncpg
import pytest
from saq import Job, Queue

from domain import batches, tenancy, webhooks
from domain.config import Settings
from services import batches as batch_services
from tables import db, inbox_claims
from tables import webhooks as webhook_tables
from tests import live
from tests import shop as shops
from tests import webhooks as hooks
from tests.workers.test_deliveries import history, orders_by_ref
from workers import deliveries

PROCESSED, DEAD, FAILED = (webhooks.DeliveryStatus.PROCESSED, webhooks.DeliveryStatus.DEAD,
                           webhooks.DeliveryStatus.FAILED)


@pytest.fixture
async def shop(make_tenant: Any, app_pool: None) -> shops.Shop:
    return await shops.open_shop(make_tenant, modules=tuple(tenancy.MODULES))


async def stored(shop: shops.Shop, flow: str, *payloads: Any) -> list[UUID]:
    """Inbox rows in this order (received_at strictly increasing)."""
    made = []
    for payload in payloads:
        row = await hooks.store(tenant_id=shop.id, flow=flow, delivery_id=hooks.new_msg_id(),
                                payload=payload, correlation_id="batch")
        made.append(row.id)
    return made


async def statuses(shop: shops.Shop, ids: list[UUID]) -> list[webhooks.DeliveryStatus]:
    return [(await webhook_tables.get_delivery(i, tenant_id=shop.id)).status for i in ids]


async def apply(shop: shops.Shop, flow: str, size: int = 50) -> batch_services.Report:
    return await batch_services.apply_batch(shop.id, flow, size, batch_services.Report())


async def test_one_bad_inventory_delivery_is_dead_alone_and_the_rest_of_its_batch_commits(
    shop: shops.Shop,
) -> None:
    ids = await stored(
        shop, "inventory-flow",
        hooks.stock("adjust", [("MUG", "main", 1)]), hooks.stock("adjust", [("NOPE", "main", 5)]),
        {"not": "a stock update"}, hooks.stock("adjust", [("MUG", "main", 2)]),
    )

    report = await apply(shop, "inventory-flow")

    assert (len(report.claimed), report.applied, report.rejected) == (4, 2, 2)
    assert await statuses(shop, ids) == [PROCESSED, DEAD, DEAD, PROCESSED]
    dead = await webhook_tables.get_delivery(ids[1], tenant_id=shop.id)
    assert (dead.last_error, dead.attempts) == ("BAD_USER_INPUT: unknown sku", 1)
    assert await shop.stock("MUG") == (13, 0)
    assert await shop.event_types() == ["inventory.adjusted", "inventory.adjusted"]


async def test_one_bad_purchase_is_dead_alone_and_the_other_orders_of_its_batch_commit(
    shop: shops.Shop,
) -> None:
    ids = await stored(
        shop, "purchase-flow",
        hooks.purchase("b-1", [("TEE-S", 1, 1500)], 1500), hooks.purchase("b-2", [("NOPE", 1, 1500)], 1500),
        hooks.purchase("b-3", [("MUG", 2, 800)], 1600),
    )

    report = await apply(shop, "purchase-flow")

    assert (report.applied, report.rejected) == (2, 1)
    assert await statuses(shop, ids) == [PROCESSED, DEAD, PROCESSED]
    assert [len(await orders_by_ref(shop.id, f"shop:b-{n}")) for n in (1, 2, 3)] == [1, 0, 1]
    assert await shop.stock("TEE-S") == (10, 1) and await shop.stock("MUG") == (10, 2)
    assert collections.Counter(await shop.event_types()) == {"order.created": 2, "inventory.reserved": 2}


async def test_the_last_unit_goes_to_the_first_of_two_orders_in_one_batch(shop: shops.Shop) -> None:
    ids = await stored(
        shop, "purchase-flow",
        hooks.purchase("last-1", [("MUG", 10, 800)], 8000), hooks.purchase("last-2", [("MUG", 1, 800)], 800),
    )

    await apply(shop, "purchase-flow")

    assert await statuses(shop, ids) == [PROCESSED, DEAD]
    assert await shop.stock("MUG") == (10, 10)


async def test_inventory_deliveries_of_one_sku_apply_in_delivery_order_within_and_across_batches(
    shop: shops.Shop,
) -> None:
    steps = [("set", 5), ("adjust", 2), ("set", 1), ("adjust", 3), ("adjust", -2), ("set", 7), ("adjust", 1)]
    await stored(shop, "inventory-flow", *(hooks.stock(mode, [("MUG", "main", n)], "correction")
                                           for mode, n in steps))

    while len((await apply(shop, "inventory-flow", size=3)).claimed) == 3:
        pass

    assert await shop.stock("MUG") == (8, 0)
    assert [delta for delta, *_ in (await history(shop.id, "MUG"))[-len(steps):]] == [-5, 2, -6, 3, -2, 5, 1]


@contextlib.asynccontextmanager
async def refusing(settings: Settings, tenant_id: UUID, delta: int) -> AsyncIterator[None]:
    """The database refuses one statement: any stock adjustment of `delta` for this tenant."""
    name = f"refuse_{uuid.uuid4().hex[:12]}"
    assert settings.database_url is not None
    connection = await asyncpg.connect(settings.database_url)
    try:
        await connection.execute(f"""
            create function {name}() returns trigger language plpgsql as $$
            begin raise exception 'refused by the database'; end $$;
            create trigger {name} before insert on stock_adjustments for each row
            when (new.tenant_id = '{tenant_id}' and new.delta = {delta}) execute function {name}();
        """)
        yield
    finally:
        await connection.execute(f"drop trigger {name} on stock_adjustments; drop function {name}()")
        await connection.close()


async def test_a_batch_failing_as_a_whole_is_applied_one_by_one_and_only_the_culprit_waits(
    shop: shops.Shop, settings: Settings,
) -> None:
    adjustments = [hooks.stock("adjust", [("MUG", "main", n)]) for n in (1, 7, 2)]
    ids = await stored(shop, "inventory-flow", *adjustments)

    async with refusing(settings, shop.id, 7):
        report = await apply(shop, "inventory-flow")

    assert (report.applied, report.failed) == (2, ["failed"])
    assert await statuses(shop, ids) == [PROCESSED, FAILED, PROCESSED]
    failed = await webhook_tables.get_delivery(ids[1], tenant_id=shop.id)
    assert failed.attempts == 1
    assert failed.last_error is not None and "refused by the database" in failed.last_error
    assert await shop.stock("MUG") == (13, 0)
    assert await shop.event_types() == ["inventory.adjusted", "inventory.adjusted"]


async def test_a_failed_delivery_waits_its_backoff_and_is_dead_after_the_last_attempt(
    shop: shops.Shop,
) -> None:
    [delivery] = await stored(shop, "inventory-flow", hooks.stock("adjust", [("MUG", "main", 1)]))

    seen = []
    for _ in range(batches.MAX_ATTEMPTS):
        seen.append(await inbox_claims.fail(delivery, "boom", tenant_id=shop.id, draw=1.0))
        async with db.transaction(tenant_id=shop.id) as tx:
            waits = await tx.connection.fetchval(
                "select extract(epoch from available_at - updated_at) from webhook_inbox where id = $1",
                delivery,
            )
        seen.append(round(float(waits), 1))

    assert seen == ["failed", 0.5, "failed", 1.0, "failed", 2.0, "failed", 4.0, "dead", 8.0]
    assert (await apply(shop, "inventory-flow")).claimed == []


async def test_a_delivery_waiting_for_its_retry_is_not_claimed_until_it_is_due(shop: shops.Shop) -> None:
    [later, ready] = await stored(
        shop, "inventory-flow", *(hooks.stock("adjust", [("MUG", "main", n)]) for n in (1, 2))
    )
    await inbox_claims.fail(later, "boom", tenant_id=shop.id, draw=1.0)

    report = await apply(shop, "inventory-flow")

    assert report.claimed == [ready]
    assert await statuses(shop, [later, ready]) == [FAILED, PROCESSED]


async def test_a_batch_holds_one_tenants_rows_under_that_tenants_setting(
    make_tenant: Any, app_pool: None,
) -> None:
    one = await shops.open_shop(make_tenant, modules=tuple(tenancy.MODULES))
    other = await shops.open_shop(make_tenant, modules=tuple(tenancy.MODULES))
    mine = await stored(one, "inventory-flow", hooks.stock("adjust", [("MUG", "main", 1)]))
    theirs = await stored(other, "inventory-flow", hooks.stock("adjust", [("MUG", "main", 2)]))

    assert sorted(pair for pair in await inbox_claims.ready(limit=100_000) if pair[0] in (one.id, other.id)) \
        == sorted([(one.id, "inventory-flow"), (other.id, "inventory-flow")])
    async with db.transaction(tenant_id=one.id) as tx:
        # Under one tenant's setting, RLS hides the other's rows even when asked for them.
        assert await inbox_claims.claim(tx.connection, "inventory-flow", 50, tenant_id=other.id) == []
        assert await inbox_claims.claim_one(tx.connection, theirs[0], tenant_id=other.id) is None
    report = await apply(one, "inventory-flow")

    assert report.claimed == mine
    assert await statuses(one, mine) == [PROCESSED]
    assert await statuses(other, theirs) == [webhooks.DeliveryStatus.QUEUED]
    assert (await one.stock("MUG"), await other.stock("MUG")) == ((11, 0), (10, 0))


@contextlib.asynccontextmanager
async def stock_locked(settings: Settings, tenant_id: UUID) -> AsyncIterator[asyncpg.Connection]:
    """The tenant's stock rows locked by another transaction: a batch touching them waits."""
    assert settings.database_url is not None
    connection = await asyncpg.connect(settings.database_url)
    try:
        async with connection.transaction():
            await connection.execute("select 1 from stock_levels where tenant_id = $1 for update", tenant_id)
            yield connection
    finally:
        await connection.close()


async def test_a_timed_out_attempt_counts_an_attempt_and_leaves_the_delivery_for_its_retry(
    shop: shops.Shop, settings: Settings,
) -> None:
    [delivery] = await stored(shop, "inventory-flow", hooks.stock("adjust", [("MUG", "main", 4)]))
    ctx: Any = {"job": Job(deliveries.JOB), "worker": None}

    async with stock_locked(settings, shop.id):
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(deliveries.drain(ctx, shop.id, "inventory-flow", 50, None), 1.0)

    found = await webhook_tables.get_delivery(delivery, tenant_id=shop.id)
    assert (found.status, found.attempts, found.last_error) == (FAILED, 1, deliveries.CANCELLED)
    assert await shop.stock("MUG") == (10, 0)


@pytest.fixture
async def wake_queue(settings: Settings) -> AsyncIterator[Queue]:
    made = Queue.from_url(await live.free_redis(str(settings.redis_url)), name="tenantgraph")
    yield made
    await made.redis.flushdb()  # type: ignore[attr-defined]
    await made.disconnect()


async def jobs_of(queue: Queue, tenant_id: UUID) -> list[Job]:
    return [job async for job in queue.iter_jobs() if (job.kwargs or {}).get("tenant_id") == str(tenant_id)]


async def test_wake_ups_coalesce_while_one_is_pending(shop: shops.Shop, wake_queue: Queue) -> None:
    woken = [await deliveries.wake(wake_queue, tenant_id=shop.id, flow="inventory-flow") for _ in range(3)]
    other = await deliveries.wake(wake_queue, tenant_id=shop.id, flow="purchase-flow")

    assert (woken, other) == ([True, False, False], True)
    assert sorted(job.kwargs["flow"] for job in await jobs_of(wake_queue, shop.id)) == [
        "inventory-flow", "purchase-flow"
    ]


async def test_a_delivery_committed_while_the_job_is_under_way_gets_a_job_of_its_own(
    shop: shops.Shop, wake_queue: Queue, settings: Settings,
) -> None:
    """The job deletes the flag before its first claim: a delivery committed after that claim
    (here: while the job waits for its turn) sets the flag again and enqueues another job,
    where a dedupe key would refuse it while the first job is active."""
    first = await stored(shop, "inventory-flow", hooks.stock("adjust", [("MUG", "main", 1)]))
    assert await deliveries.wake(wake_queue, tenant_id=shop.id, flow="inventory-flow")
    ctx: Any = {"worker": SimpleNamespace(queue=wake_queue)}
    key = deliveries.wake_key(shop.id, "inventory-flow")

    async with stock_locked(settings, shop.id):
        job = asyncio.create_task(
            deliveries.apply_deliveries(ctx, tenant_id=str(shop.id), flow="inventory-flow")
        )
        while await wake_queue.redis.exists(key):  # type: ignore[attr-defined]
            await asyncio.sleep(0.01)
        later = await stored(shop, "inventory-flow", hooks.stock("adjust", [("MUG", "main", 2)]))
        assert await deliveries.wake(wake_queue, tenant_id=shop.id, flow="inventory-flow")
    applied = await job

    assert len(await jobs_of(wake_queue, shop.id)) == 2
    second = await deliveries.apply_deliveries(ctx, tenant_id=str(shop.id), flow="inventory-flow")
    assert (applied, second) == (1, 1)
    assert await statuses(shop, first + later) == [PROCESSED, PROCESSED]
    assert await shop.stock("MUG") == (13, 0)
