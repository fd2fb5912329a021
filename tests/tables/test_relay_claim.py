"""The relay's claim starts at each tenant's cursor (relay_cursors): what was published before is
never walked again, even while an open snapshot keeps VACUUM and index cleanup from clearing it
(found on the partial index of unpublished events, each claim walked every dead entry left by
the publishes since the last VACUUM: on a bench database of 3 million events the relay fell
seconds behind at 2,000 events/s)."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from domain import events
from domain.config import Settings
from tables import db
from tables import events as outbox

META = events.WriteMeta(actor="claim-test", correlation_id="claim-test")
READ = """
select (select seq_tup_read from pg_stat_xact_user_tables where relname = 'events')
     + (select sum(pg_stat_get_xact_tuples_returned(indexrelid)) from pg_index
        where indrelid = 'events'::regclass) as read
"""
"""Rows of events read by this transaction so far: sequential scans plus every index entry its
index scans returned, dead or alive."""


async def _drain() -> None:
    while True:
        async with outbox.unpublished(outbox_batch := 500) as batch:
            pass
        if len(batch) < outbox_batch:
            return


async def _analyze(settings: Settings) -> None:
    """Statistics that know the tenant's 300 events (a test database's say it has none), and
    with them every cached plan of the claim made anew."""
    assert settings.database_url
    connection = await asyncpg.connect(settings.database_url)
    try:
        await connection.execute("analyze events")
    finally:
        await connection.close()


async def _append(tenant_id: Any, label: str, count: int) -> None:
    drafts = [events.draft("claim.tested", f"{label}.{n}") for n in range(count)]
    async with db.transaction(tenant_id=tenant_id):
        await outbox.append(drafts, tenant_id=tenant_id, meta=META)


async def test_a_claim_reads_the_events_after_the_cursor_not_those_published_before(
    make_tenant: Any, owner: asyncpg.Connection, settings: Settings, app_pool: None
) -> None:
    tenant_id = (await make_tenant()).id
    await _drain()
    await owner.execute("begin isolation level repeatable read")
    await owner.fetchval("select count(*) from events")  # a snapshot older than what follows
    try:
        for n in range(6):
            await _append(tenant_id, f"old{n}", 50)
            await _drain()
        await _append(tenant_id, "new", 2)
        await _analyze(settings)

        async with db.platform() as tx:
            # This database's events table is small enough for a sequential scan to win where
            # a large one's would not: the count is of what the claim's plan walks.
            await tx.connection.execute("set local enable_seqscan = off")
            before = await tx.connection.fetchval(READ)
            async with outbox.unpublished(500) as batch:
                pass
            read = await tx.connection.fetchval(READ) - before
    finally:
        await owner.execute("rollback")

    assert [(t, e.aggregate_id) for t, e in batch] == [(tenant_id, f"new.{n}") for n in range(2)]
    assert read <= 10, f"{read} event rows read to claim 2 after 300 published"


async def test_a_tenant_sees_and_changes_only_its_own_cursor_and_counters(
    make_tenant: Any, app_pool: None
) -> None:
    """The relay reads every tenant's counter and cursor under the platform scope; a tenant's
    scope still shows and changes only its own."""
    a, b = (await make_tenant()).id, (await make_tenant()).id
    for tenant_id in (a, b):
        await _append(tenant_id, "one", 1)
    await _drain()

    async with db.transaction(tenant_id=a) as tx:
        cursors = await tx.connection.fetch("select tenant_id from relay_cursors")
        counters = await tx.connection.fetch("select distinct tenant_id from tenant_counters")
        moved = await tx.connection.execute(
            "update relay_cursors set last_seq = 0 where tenant_id = $1", b)
    async with db.platform() as tx:
        seen = {row["tenant_id"] for row in await tx.connection.fetch(
            "select tenant_id from relay_cursors where tenant_id = any($1::uuid[])", [a, b])}

    assert [row["tenant_id"] for row in cursors] == [a]
    assert [row["tenant_id"] for row in counters] == [a]
    assert moved == "UPDATE 0"
    assert seen == {a, b}
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
        async with db.transaction(tenant_id=a) as tx:
            await tx.connection.execute(
                "insert into relay_cursors (tenant_id, last_seq) values ($1, 0)"
                " on conflict do nothing", b)
