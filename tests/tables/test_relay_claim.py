"""The relay's claim starts at each tenant's cursor (relay_cursors): what was published before is
never walked again, even while an open snapshot keeps VACUUM and index cleanup from clearing it
(found on the partial index of unpublished events, each claim walked every dead entry left by
the publishes since the last VACUUM: on a bench database of 3 million events the relay fell
seconds behind at 2,000 events/s)."""

from __future__ import annotations

from typing import Any

import asyncpg

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
