"""The outbox: events commit with their change, in a strictly increasing per-tenant sequence."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest

from domain import events
from tables import db
from tables import events as outbox
from tests.documents import CREATE_PRODUCT, META, error_fields, payload, product_input
from tests.numbered import insert_numbered


class Boom(Exception):
    pass


async def test_product_creation_appends_its_event_with_actor_and_correlation(tenant_a: Any) -> None:
    body = await tenant_a.gql(
        CREATE_PRODUCT, {"input": product_input("Grinder", ["EV-1"])},
        headers={"x-request-id": "req-events-1"},
    )
    product_id = payload(body, "createProduct")["product"]["id"]

    found = await outbox.list_events(tenant_id=tenant_a.id, aggregate_id=product_id)

    assert [(e.type, e.aggregate_type, e.correlation_id) for e in found] == [
        ("product.created", "product", "req-events-1")
    ]
    assert found[0].actor.startswith("key:")
    assert found[0].payload["variants"][0]["sku"] == "EV-1"


async def test_rolled_back_change_leaves_no_event(tenant_a: Any) -> None:
    with pytest.raises(Boom):
        async with db.transaction(tenant_id=tenant_a.id):
            await outbox.append([events.draft("test.happened", "x")], tenant_id=tenant_a.id, meta=META)
            raise Boom

    assert await outbox.list_events(tenant_id=tenant_a.id) == []


async def test_failed_mutation_leaves_no_event(tenant_a: Any) -> None:
    bad = product_input("Twice", ["DUP-1", "DUP-1"])

    body = await tenant_a.gql(CREATE_PRODUCT, {"input": bad})

    assert error_fields(body, "createProduct") == {"input.variants[1].sku": "repeated in this input"}
    assert await outbox.list_events(tenant_id=tenant_a.id) == []


async def test_sequence_is_gapless_and_unique_under_concurrent_writers(
    tenant_a: Any, tenant_b: Any
) -> None:
    async def write(tenant_id: Any, n: int) -> None:
        drafts = [events.draft("test.happened", f"{n}-{i}") for i in range(n % 3 + 1)]
        await outbox.append(drafts, tenant_id=tenant_id, meta=META)

    await asyncio.gather(*(write(t.id, n) for n in range(40) for t in (tenant_a, tenant_b)))

    for tenant in (tenant_a, tenant_b):
        seqs = [e.seq for e in await outbox.list_events(tenant_id=tenant.id, limit=1000)]
        assert seqs == list(range(1, len(seqs) + 1))
        assert len(seqs) == sum(n % 3 + 1 for n in range(40))


async def test_rolled_back_writer_does_not_leave_a_gap(tenant_a: Any) -> None:
    await outbox.append([events.draft("test.happened", "1")], tenant_id=tenant_a.id, meta=META)
    with pytest.raises(Boom):
        async with db.transaction(tenant_id=tenant_a.id):
            await outbox.append([events.draft("test.happened", "2")], tenant_id=tenant_a.id, meta=META)
            raise Boom
    await outbox.append([events.draft("test.happened", "3")], tenant_id=tenant_a.id, meta=META)

    found = await outbox.list_events(tenant_id=tenant_a.id)

    assert [(e.seq, e.aggregate_id) for e in found] == [(1, "1"), (2, "3")]


async def test_events_of_one_tenant_are_invisible_to_another(tenant_a: Any, tenant_b: Any) -> None:
    await outbox.append([events.draft("test.happened", "a")], tenant_id=tenant_a.id, meta=META)

    assert await outbox.list_events(tenant_id=tenant_b.id) == []


async def test_sequence_numbers_follow_commit_order_and_an_open_writer_blocks_no_one(
    tenant_a: Any,
) -> None:
    appended, release = asyncio.Event(), asyncio.Event()

    async def slow_writer() -> None:
        async with db.transaction(tenant_id=tenant_a.id):
            await outbox.append([events.draft("test.happened", "slow")], tenant_id=tenant_a.id, meta=META)
            appended.set()
            await release.wait()

    slow = asyncio.create_task(slow_writer())
    await appended.wait()
    # Numbers are taken at commit: a writer still inside its transaction holds no counter lock.
    await asyncio.wait_for(
        outbox.append([events.draft("test.happened", "fast")], tenant_id=tenant_a.id, meta=META), 10
    )
    release.set()
    await slow

    found = await outbox.list_events(tenant_id=tenant_a.id)

    assert [(e.seq, e.aggregate_id) for e in found] == [(1, "fast"), (2, "slow")]


async def test_events_of_one_transaction_are_numbered_in_the_order_appended(tenant_a: Any) -> None:
    async with db.transaction(tenant_id=tenant_a.id):
        await outbox.append([events.draft("test.happened", "1"), events.draft("test.happened", "2")],
                            tenant_id=tenant_a.id, meta=META)
        await outbox.append([events.draft("test.happened", "3")], tenant_id=tenant_a.id, meta=META)

    found = await outbox.list_events(tenant_id=tenant_a.id)

    assert [(e.seq, e.aggregate_id) for e in found] == [(1, "1"), (2, "2"), (3, "3")]


async def test_events_failing_at_commit_roll_back_the_whole_change(tenant_a: Any) -> None:
    with pytest.raises(asyncpg.StringDataRightTruncationError):
        async with db.transaction(tenant_id=tenant_a.id) as tx:
            await tx.connection.execute(
                "insert into tenant_counters (tenant_id, name, value) values ($1, 'probe', 1)", tenant_a.id
            )
            await outbox.append([events.draft("test.happened", "ok")], tenant_id=tenant_a.id, meta=META)
            await outbox.append([events.draft("test.happened", "x" * 65)], tenant_id=tenant_a.id, meta=META)

    async with db.transaction(tenant_id=tenant_a.id) as tx:
        probes = await tx.connection.fetchval("select count(*) from tenant_counters where name = 'probe'")
    assert probes == 0
    assert await outbox.list_events(tenant_id=tenant_a.id) == []


async def test_rows_that_come_numbered_keep_their_numbers_and_leave_no_gap(tenant_a: Any) -> None:
    # What a process from before commit-time numbering does during a rolling deploy.
    async with db.transaction(tenant_id=tenant_a.id) as tx:
        await insert_numbered(tx.connection, tenant_a.id)
    await outbox.append([events.draft("test.happened", "new")], tenant_id=tenant_a.id, meta=META)

    found = await outbox.list_events(tenant_id=tenant_a.id)

    assert [(e.seq, e.aggregate_id) for e in found] == [(1, "old"), (2, "new")]
    assert await outbox.bounds(tenant_id=tenant_a.id) == (1, 2)
