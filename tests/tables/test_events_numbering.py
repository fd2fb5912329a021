"""events_seq numbers a transaction's events of a tenant in one step at commit."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

import asyncpg
import pytest

from domain import events
from tables import db
from tables import events as outbox
from tests.documents import META
from tests.numbered import insert_numbered


class Boom(Exception):
    pass


INSERT = """
    insert into events (tenant_id, type, aggregate_type, aggregate_id, payload, created_at)
    select tenant_id, 'test.happened', 'test', aggregate_id, '{}', now()
    from unnest($1::uuid[], $2::text[]) with ordinality as draft (tenant_id, aggregate_id, position)
    order by position
"""


async def _numbered(tenant_id: UUID) -> list[tuple[int | None, str]]:
    found = await outbox.list_events(tenant_id=tenant_id, limit=1000)
    return [(e.seq, e.aggregate_id) for e in found]


async def _counter(tenant_id: UUID) -> int | None:
    async with db.transaction(tenant_id=tenant_id) as tx:
        value: int | None = await tx.connection.fetchval(
            "select value from tenant_counters where tenant_id = $1 and name = 'events'", tenant_id
        )
    return value


async def test_many_events_of_one_transaction_are_numbered_contiguously_in_order(tenant_a: Any) -> None:
    await outbox.append([events.draft("test.happened", "before")], tenant_id=tenant_a.id, meta=META)
    async with db.transaction(tenant_id=tenant_a.id):
        for n in range(3):
            drafts = [events.draft("test.happened", f"{n}-{i}") for i in range(50)]
            await outbox.append(drafts, tenant_id=tenant_a.id, meta=META)

    expected = ["before"] + [f"{n}-{i}" for n in range(3) for i in range(50)]
    assert await _numbered(tenant_a.id) == list(enumerate(expected, start=1))
    assert await _counter(tenant_a.id) == 151


async def test_one_transaction_numbers_each_tenants_own_events(
    tenant_a: Any, tenant_b: Any, owner_dsn: str
) -> None:
    # The app role cannot write two tenants' events at once (tenant_counters is per tenant
    # under RLS): the owner can, and the trigger must still keep their counters apart.
    await outbox.append([events.draft("test.happened", "b0")], tenant_id=tenant_b.id, meta=META)
    owner = await asyncpg.connect(owner_dsn)
    try:
        async with owner.transaction():
            tenants = [tenant_a.id, tenant_b.id, tenant_a.id, tenant_a.id, tenant_b.id]
            await owner.execute(INSERT, tenants, ["a1", "b1", "a2", "a3", "b2"])
    finally:
        await owner.close()

    assert await _numbered(tenant_a.id) == [(1, "a1"), (2, "a2"), (3, "a3")]
    assert await _numbered(tenant_b.id) == [(1, "b0"), (2, "b1"), (3, "b2")]
    assert (await _counter(tenant_a.id), await _counter(tenant_b.id)) == (3, 3)


async def test_concurrent_transactions_of_one_tenant_take_whole_gapless_blocks(tenant_a: Any) -> None:
    async def write(n: int) -> None:
        drafts = [events.draft("test.happened", f"{n}-{i}") for i in range(n % 7 + 1)]
        await outbox.append(drafts, tenant_id=tenant_a.id, meta=META)

    await asyncio.gather(*(write(n) for n in range(30)))

    found = await _numbered(tenant_a.id)
    assert [seq for seq, _ in found] == list(range(1, sum(n % 7 + 1 for n in range(30)) + 1))
    blocks: list[str] = []
    for _, aggregate_id in found:
        writer, position = aggregate_id.split("-")
        if not blocks or blocks[-1] != writer:
            assert writer not in blocks, f"writer {writer}'s events are split: {found}"
            assert position == "0", found
            blocks.append(writer)
    for writer in blocks:
        positions = [int(a.split("-")[1]) for _, a in found if a.split("-")[0] == writer]
        assert positions == list(range(int(writer) % 7 + 1))
    assert await _counter(tenant_a.id) == len(found)


async def test_blocks_follow_commit_order_not_insertion_order(tenant_a: Any) -> None:
    appended, release = asyncio.Event(), asyncio.Event()

    async def slow_writer() -> None:
        async with db.transaction(tenant_id=tenant_a.id) as tx:
            await tx.connection.execute(INSERT, [tenant_a.id] * 3, ["slow-0", "slow-1", "slow-2"])
            appended.set()
            await release.wait()

    slow = asyncio.create_task(slow_writer())
    await appended.wait()
    await outbox.append([events.draft("test.happened", f"fast-{i}") for i in range(2)],
                        tenant_id=tenant_a.id, meta=META)
    release.set()
    await slow

    assert await _numbered(tenant_a.id) == [
        (1, "fast-0"), (2, "fast-1"), (3, "slow-0"), (4, "slow-1"), (5, "slow-2")
    ]


async def test_a_numbered_row_in_the_transaction_is_kept(tenant_a: Any) -> None:
    async with db.transaction(tenant_id=tenant_a.id) as tx:
        await tx.connection.execute(INSERT, [tenant_a.id], ["new-0"])
        await insert_numbered(tx.connection, tenant_a.id)
        await tx.connection.execute(INSERT, [tenant_a.id], ["new-1"])

    assert await _numbered(tenant_a.id) == [(1, "old"), (2, "new-0"), (3, "new-1")]
    assert await _counter(tenant_a.id) == 3


async def test_events_inserted_after_an_early_firing_are_numbered_too(tenant_a: Any) -> None:
    async with db.transaction(tenant_id=tenant_a.id) as tx:
        await tx.connection.execute(INSERT, [tenant_a.id] * 2, ["early-0", "early-1"])
        await tx.connection.execute("set constraints events_seq immediate")
        await tx.connection.execute("set constraints events_seq deferred")
        await tx.connection.execute(INSERT, [tenant_a.id] * 2, ["late-0", "late-1"])

    assert await _numbered(tenant_a.id) == [(1, "early-0"), (2, "early-1"), (3, "late-0"), (4, "late-1")]


async def test_a_rolled_back_transaction_consumes_no_numbers(tenant_a: Any) -> None:
    await outbox.append([events.draft("test.happened", "1")], tenant_id=tenant_a.id, meta=META)
    with pytest.raises(Boom):
        async with db.transaction(tenant_id=tenant_a.id):
            drafts = [events.draft("test.happened", f"x{i}") for i in range(20)]
            await outbox.append(drafts, tenant_id=tenant_a.id, meta=META)
            raise Boom
    await outbox.append([events.draft("test.happened", "2")], tenant_id=tenant_a.id, meta=META)

    assert await _numbered(tenant_a.id) == [(1, "1"), (2, "2")]
    assert await _counter(tenant_a.id) == 2


async def test_the_counter_row_is_written_once_per_transaction(tenant_a: Any, owner_dsn: str) -> None:
    await outbox.append([events.draft("test.happened", "0")], tenant_id=tenant_a.id, meta=META)
    owner = await asyncpg.connect(owner_dsn)
    try:
        async with owner.transaction():
            await owner.execute(INSERT, [tenant_a.id] * 5, [str(i) for i in range(1, 6)])
            await owner.execute("set constraints events_seq immediate")
            written = await owner.fetchrow(
                "select n_tup_ins + n_tup_upd as rows from pg_stat_xact_user_tables"
                " where relname = 'tenant_counters'"
            )
    finally:
        await owner.close()

    assert written is not None and written["rows"] == 1
    assert await _numbered(tenant_a.id) == [(i + 1, str(i)) for i in range(6)]
    assert await _counter(tenant_a.id) == 6


async def test_the_numbering_reads_its_rows_by_id_not_by_scanning_the_table(
    tenant_a: Any, owner_dsn: str
) -> None:
    """Planned on a small table's statistics, the numbering scanned every event at every
    commit; it finds its rows on the primary key whatever the statistics say."""
    owner = await asyncpg.connect(owner_dsn)
    try:
        await owner.execute("analyze events")  # this database's events table is small
        async with owner.transaction():
            await owner.execute(INSERT, [tenant_a.id] * 3, ["1", "2", "3"])
            before = await owner.fetchval(SEQ_SCANS)
            await owner.execute("set constraints events_seq immediate")
            scans = await owner.fetchval(SEQ_SCANS) - before
    finally:
        await owner.close()

    assert scans == 0
    assert await _numbered(tenant_a.id) == [(1, "1"), (2, "2"), (3, "3")]


SEQ_SCANS = "select seq_scan from pg_stat_xact_user_tables where relname = 'events'"
