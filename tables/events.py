"""The outbox: every change appends its domain events here, in the change's transaction."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson
from piccolo.columns import JSONB, BigInt, Serial, Text, Timestamptz, Varchar
from piccolo.columns import UUID as UUIDColumn
from piccolo.table import Table

from domain import events
from tables import counting, db
from tables.engine import DB


class EventTable(Table, tablename="events", db=DB):
    id = Serial(primary_key=True)
    tenant_id = UUIDColumn()
    seq = BigInt(null=True, default=None)
    type = Varchar(length=64)
    aggregate_type = Varchar(length=32)
    aggregate_id = Varchar(length=64)
    payload = JSONB(default={})
    correlation_id = Varchar(length=64, default="")
    actor = Varchar(length=128, default="")
    traceparent = Text(null=True, default=None)
    created_at = Timestamptz()
    published_at = Timestamptz(null=True, default=None)
    """When the relay published it; where the relay goes on from is its cursor (relay_cursors),
    moved by the statement that sets this (CLAIM)."""


class CounterTable(Table, tablename="tenant_counters", db=DB):
    """Per-tenant counters (event sequence, order numbers); the row lock orders writers."""

    id = Serial(primary_key=True)
    tenant_id = UUIDColumn()
    name = Varchar(length=32)
    value = BigInt(default=0)


def _event(row: dict[str, Any]) -> events.Event:
    return events.Event(
        seq=row["seq"],
        type=row["type"],
        aggregate_type=row["aggregate_type"],
        aggregate_id=row["aggregate_id"],
        payload=db.json_field(row["payload"]),
        correlation_id=row["correlation_id"],
        actor=row["actor"],
        created_at=row["created_at"],
        traceparent=row.get("traceparent"),
    )


APPEND = """
    insert into events (tenant_id, type, aggregate_type, aggregate_id, payload, correlation_id, actor,
                        created_at, traceparent)
    select tenant_id, type, aggregate_type, aggregate_id, payload::jsonb, correlation_id, actor, now(),
           traceparent
    from unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                $8::text[])
        with ordinality
        as draft (tenant_id, type, aggregate_type, aggregate_id, payload, correlation_id, actor,
                  traceparent, position)
    order by position
"""


async def append(drafts: Sequence[events.Draft], *, tenant_id: UUID, meta: events.WriteMeta) -> None:
    """Append events to the caller's transaction (joined: same task, same tenant), in order.
    The transaction's events are written by one statement just before it commits, and
    numbered at commit (trigger events_seq): the tenant's counter row is locked only then."""
    if not drafts:
        return
    async with db.transaction(tenant_id=tenant_id) as tx:
        db.buffer(tx, "outbox", _write).extend((tenant_id, draft, meta) for draft in drafts)


async def _write(tx: Any, pending: list[tuple[UUID, events.Draft, events.WriteMeta]]) -> None:
    await tx.connection.execute(
        APPEND,
        [tenant_id for tenant_id, _, _ in pending],
        [draft.type for _, draft, _ in pending],
        [draft.aggregate_type for _, draft, _ in pending],
        [draft.aggregate_id for _, draft, _ in pending],
        [orjson.dumps(dict(draft.payload), default=str).decode() for _, draft, _ in pending],
        [meta.correlation_id for _, _, meta in pending],
        [meta.actor for _, _, meta in pending],
        [meta.traceparent for _, _, meta in pending],
    )


async def list_events(
    *,
    tenant_id: UUID,
    after_seq: int | None = None,
    types: Sequence[str] | None = None,
    aggregate_type: str | None = None,
    aggregate_id: str | None = None,
    actor: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    descending: bool = False,
    limit: int = 100,
) -> list[events.Event]:
    """Events of one tenant in sequence order, keyset-paginated by seq."""
    query = EventTable.select().where(EventTable.tenant_id == tenant_id)
    if after_seq is not None:
        query = query.where(EventTable.seq < after_seq if descending else EventTable.seq > after_seq)
    for condition in _filters(types, aggregate_type, aggregate_id, actor, since, until):
        query = query.where(condition)
    query = query.order_by(EventTable.seq, ascending=not descending).limit(limit)
    async with db.transaction(tenant_id=tenant_id):
        rows = await query
    return [_event(row) for row in rows]


async def count_events(
    *,
    tenant_id: UUID,
    types: Sequence[str] | None = None,
    aggregate_type: str | None = None,
    aggregate_id: str | None = None,
    actor: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> int:
    """How many events list_events' filters select, every page."""
    conditions = _filters(types, aggregate_type, aggregate_id, actor, since, until)
    return await counting.count_rows(EventTable, conditions, tenant_id=tenant_id)


def _filters(
    types: Sequence[str] | None, aggregate_type: str | None, aggregate_id: str | None,
    actor: str | None, since: datetime | None, until: datetime | None,
) -> list[Any]:
    conditions: list[Any] = []
    if types:
        conditions.append(EventTable.type.is_in(list(types)))
    if aggregate_type is not None:
        conditions.append(EventTable.aggregate_type == aggregate_type)
    if aggregate_id is not None:
        conditions.append(EventTable.aggregate_id == aggregate_id)
    if actor is not None:
        conditions.append(EventTable.actor == actor)
    if since is not None:
        conditions.append(EventTable.created_at >= since)
    if until is not None:
        conditions.append(EventTable.created_at < until)
    return conditions


RELAY_LOCK = 7_220_001  # advisory lock key: one relay batch at a time keeps per-tenant order
TRY_LOCK = f", set_config('tenantgraph.relay_batch', pg_try_advisory_xact_lock({RELAY_LOCK})::text, true)"


@contextlib.asynccontextmanager
async def unpublished(limit: int) -> AsyncIterator[list[tuple[UUID, events.Event]]]:
    """The events after each tenant's relay cursor as (tenant id, event), in per-tenant
    sequence order; they are marked published, and the cursors moved, when the block exits
    cleanly. Per tenant, sequence numbers commit in order (the counter row is locked until
    commit), so what is visible is never ahead of a gap. Yields nothing while another relay
    holds the batch."""
    # The lock is tried with BEGIN, in its round trip, and what it got kept as a setting that
    # the claim reads: a statement of its own after the lock, so that its snapshot sees every
    # batch the previous holder committed. A block that raises rolls the marks back.
    async with db.transaction(tenant_id=None, platform=True, also=TRY_LOCK) as tx:
        rows = await tx.connection.fetch(CLAIM.format(limit=int(limit)))
        rows.sort(key=lambda row: (row["tenant_id"], row["seq"]))
        yield [(row["tenant_id"], _event(dict(row))) for row in rows]


# Each tenant's batch starts after its cursor, on the unique (tenant_id, seq) index: what was
# published before is never walked again, however much of it VACUUM has yet to clear (the
# partial index of unpublished events keeps a dead entry per publish until then). Per tenant
# the batch is a prefix of what follows the cursor (seqs commit in order), so the cursor moves
# to its last seq. The limit is a number and the marks take the ids as an array: a bound limit
# or `id in (...)` let the plan follow the statistics, which lag a table filling at thousands
# of events a second (it once scanned every event). `due` is materialized: inlined, its
# coalesce() would reach the events scan as an expression row-level security treats as leaky,
# applied after the policy as a filter instead of bounding the index scan.
DUE = """
    select c.tenant_id, coalesce(r.last_seq, 0) as after, c.value as last
    from tenant_counters c left join relay_cursors r on r.tenant_id = c.tenant_id
    where c.name = 'events' and c.value > coalesce(r.last_seq, 0)
"""
"""The tenants with events after their relay cursor: `after` the cursor, `last` the counter."""
CLAIM = f"""
    with due as materialized (
        select * from ({DUE}) d where current_setting('tenantgraph.relay_batch', true) = 'true'
    ), batch as (
        select e.* from due cross join lateral (
            select * from events
            where events.tenant_id = due.tenant_id and events.seq > due.after
            order by events.seq limit {{limit}}
        ) e
        limit {{limit}}
    ), moved as (
        insert into relay_cursors (tenant_id, last_seq)
        select tenant_id, max(seq) from batch group by tenant_id
        on conflict (tenant_id) do update set last_seq = excluded.last_seq
    ), marked as (
        update events set published_at = now() where id = any(array(select id from batch))
    )
    select * from batch
"""


async def bounds(*, tenant_id: UUID) -> tuple[int, int]:
    """(first kept, last committed) sequence numbers of a tenant's events; with none kept,
    first is last + 1."""
    async with db.transaction(tenant_id=tenant_id) as tx:
        row = await tx.connection.fetchrow(
            """
            select (select value from tenant_counters where tenant_id = $1 and name = 'events')
                       as last,
                   (select min(seq) from events where tenant_id = $1) as first
            """,
            tenant_id,
        )
    last = row["last"] or 0
    return (row["first"] or last + 1), last


async def prune(*, older_than: datetime) -> int:
    """Delete published events created before `older_than`, across tenants; returns how many.
    Per tenant only a prefix of the sequence goes (up to the first event that must stay:
    newer, or not yet published), so what is kept has no holes: a cursor is either served
    without a gap or older than what is kept (CURSOR_EXPIRED). `created_at` is taken before
    the sequence number, so it does not always grow with it."""
    async with db.platform() as tx:
        deleted = await tx.connection.fetchval(
            """
            with kept as (
                select tenant_id, min(seq) as seq from events
                where published_at is null or created_at >= $1
                group by tenant_id
            ), gone as (
                delete from events
                where published_at is not null and created_at < $1
                  and seq < coalesce(
                      (select kept.seq from kept where kept.tenant_id = events.tenant_id),
                      9223372036854775807
                  )
                returning 1
            ) select count(*) from gone
            """,
            older_than,
        )
    return int(deleted)


async def backlog() -> tuple[int, float]:
    """(unpublished events, age in seconds of the oldest of them: 0 with none), across tenants:
    the events between each tenant's relay cursor and its counter, and the first of each (it
    was a count on the partial index of unpublished events, which walks every dead entry
    VACUUM has yet to clear: on a large table long enough to hold the relay's loop up)."""
    async with db.platform() as tx:
        row = await tx.connection.fetchrow(
            f"""
            with due as materialized ({DUE})
            select coalesce(sum(due.last - due.after), 0)::bigint as events,
                   coalesce(extract(epoch from now() - min(e.created_at)), 0)::float8 as age
            from due left join lateral (
                select created_at from events
                where events.tenant_id = due.tenant_id and events.seq > due.after
                order by events.seq limit 1
            ) e on true
            """
        )
    assert row is not None
    return int(row["events"]), float(row["age"])
