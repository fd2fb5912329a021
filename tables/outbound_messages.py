"""Webhooks out: messages and attempts, as the dispatcher and the delivery job write them.

Fan-out is exactly once per (event, endpoint): a tenant's new events become messages and its
cursor moves in one transaction, under the cursor row's lock. A message is claimed with a
lease (`claimed_until`) while a worker sends it; its attempt row and its new status are written
in one transaction. A worker that dies mid-send leaves the lease to expire: the message is sent
again, with the same `webhook-id`."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson

from domain import audit, events, outbound
from domain import outbound_delivery as delivery
from domain.errors import Conflict, NotFound
from tables import audit as trail
from tables import db
from tables import events as outbox
from tables import outbound as endpoints

ACTIVE = """
    select a.tenant_id, exists (
        select 1 from events e where e.tenant_id = a.tenant_id and e.seq > coalesce(c.last_seq, 0)
    ) as behind
    from (select distinct tenant_id from outbound_endpoints where enabled) a
    left join outbound_cursors c on c.tenant_id = a.tenant_id
"""


@dataclasses.dataclass(frozen=True)
class Active:
    """The tenants with enabled endpoints, and those of them with events not fanned out yet."""

    tenants: frozenset[UUID]
    behind: tuple[UUID, ...]


async def active_tenants() -> Active:
    """One statement, an index probe per tenant with enabled endpoints; the others' cursors
    stand still (enabling an endpoint while the tenant has no other moves it: migration
    2026-12-05T12:30)."""
    async with db.platform() as tx:
        rows = await tx.connection.fetch(ACTIVE)
    return Active(frozenset(row["tenant_id"] for row in rows),
                  tuple(row["tenant_id"] for row in rows if row["behind"]))


@dataclasses.dataclass(frozen=True)
class Subscriber:
    id: UUID
    event_types: tuple[str, ...]
    created_at: datetime


Match = Callable[[Sequence[str], str], bool]


async def dispatch(*, tenant_id: UUID, limit: int, match: Match) -> tuple[int, list[UUID]]:
    """Fan the tenant's next events out to its enabled endpoints that want them (and existed
    when the event was written); returns how many events were read and the endpoints that got
    messages. Another dispatcher holding the tenant's cursor makes this a no-op."""
    async with db.transaction(tenant_id=tenant_id) as tx:
        conn = tx.connection
        await conn.execute(
            "insert into outbound_cursors (tenant_id, last_seq) values ($1, 0) on conflict do nothing",
            tenant_id,
        )
        last = await conn.fetchval(
            "select last_seq from outbound_cursors where tenant_id = $1 for update skip locked", tenant_id
        )
        if last is None:
            return 0, []
        # Read before the endpoints: an endpoint created after that read only wants later events.
        newest = await conn.fetchval(
            "select coalesce(max(seq), 0) from events where tenant_id = $1", tenant_id
        )
        subscribers = [
            Subscriber(row["id"], tuple(row["event_types"]), row["created_at"])
            for row in await conn.fetch(
                "select id, event_types, created_at from outbound_endpoints"
                " where tenant_id = $1 and enabled",
                tenant_id,
            )
        ]
        if not subscribers:  # nothing to fan out to: skip the events, not read them
            await conn.execute(
                "update outbound_cursors set last_seq = greatest(last_seq, $2) where tenant_id = $1",
                tenant_id, newest,
            )
            return 0, []
        batch = await outbox.list_events(tenant_id=tenant_id, after_seq=last, limit=limit)
        if not batch:
            return 0, []
        rows = [
            (tenant_id, s.id, e.seq, e.type, delivery.message_id(s.id, e.seq),
             orjson.dumps(delivery.body(e), default=str).decode())
            for e in batch for s in subscribers
            if e.created_at >= s.created_at and match(s.event_types, e.type)
        ]
        await _insert(conn, rows)
        await conn.execute(
            "update outbound_cursors set last_seq = $2 where tenant_id = $1", tenant_id, batch[-1].seq
        )
    return len(batch), list(dict.fromkeys(row[1] for row in rows))


async def _insert(conn: Any, rows: Sequence[tuple[UUID, UUID, int | None, str, str, str]]) -> None:
    if not rows:
        return
    await conn.execute(
        """
        insert into outbound_messages (tenant_id, endpoint_id, event_seq, event_type, msg_id, body)
        select * from unnest($1::uuid[], $2::uuid[], $3::bigint[], $4::text[], $5::text[], $6::jsonb[])
        on conflict (endpoint_id, event_seq) do nothing
        """,
        *[list(column) for column in zip(*rows, strict=True)],
    )


async def add_test(
    *, endpoint_id: UUID, tenant_id: UUID, at: datetime, actor: audit.Actor | None = None
) -> str:
    """A `test` message for the tenant's endpoint, due now (recorded in the audit trail when an
    `actor` asked for it, in the same transaction); returns its webhook-id. NotFound for
    another tenant's endpoint, Conflict for a disabled one."""
    msg_id = "msg_" + uuid.uuid4().hex
    body = orjson.dumps(delivery.test_body(endpoint_id, at)).decode()
    async with db.transaction(tenant_id=tenant_id) as tx:
        enabled = await tx.connection.fetchval(
            "select enabled from outbound_endpoints where id = $1 and tenant_id = $2 for share",
            endpoint_id, tenant_id,
        )
        if enabled is None:
            raise NotFound(f"no outbound endpoint {endpoint_id}")
        if not enabled:
            raise Conflict("the endpoint is disabled: enable it to send it a test message")
        await _insert(tx.connection, [(tenant_id, endpoint_id, None, delivery.TEST, msg_id, body)])
        if actor is not None:
            await trail.record(
                tx.connection, actor, "outbound_endpoint.test_sent", "outbound_endpoint",
                str(endpoint_id), tenant_id=tenant_id, after={"webhookId": msg_id},
            )
    return msg_id


async def target(*, endpoint_id: UUID, tenant_id: UUID) -> outbound.Endpoint | None:
    """The endpoint as it is now (an attempt reads it afresh: disabled, rotated, moved)."""
    async with db.transaction(tenant_id=tenant_id) as tx:
        row = await tx.connection.fetchrow(
            f"select {endpoints.COLUMNS} from outbound_endpoints where id = $1 and tenant_id = $2",
            endpoint_id, tenant_id,
        )
    return None if row is None else endpoints.endpoint_of(row)


@dataclasses.dataclass(frozen=True)
class Claimed:
    id: UUID
    msg_id: str
    event_seq: int | None
    body: bytes
    attempts: int


CLAIM = """
    with held_back as (
        select min(event_seq) as seq from outbound_messages
        where endpoint_id = $1 and status = 'retrying' and attempts < $4 and event_seq is not null
    ), due as (
        select id from outbound_messages m
        where endpoint_id = $1 and status in ('pending', 'retrying') and next_attempt_at <= now()
          and (claimed_until is null or claimed_until < now())
          and (event_seq is null or event_seq <= coalesce((select seq from held_back), event_seq))
        order by event_seq nulls first
        limit $2
        for update skip locked
    )
    update outbound_messages m set claimed_until = now() + make_interval(secs => $3), updated_at = now()
    from due where m.id = due.id
    returning m.id, m.msg_id, m.event_seq, m.body::text as body, m.attempts
"""


async def claim(
    *, endpoint_id: UUID, tenant_id: UUID, limit: int, lease_seconds: float, ordered_attempts: int
) -> list[Claimed]:
    """The endpoint's next due messages in sequence order, leased for `lease_seconds`. A message
    that failed fewer than `ordered_attempts` times holds back every later one."""
    async with db.transaction(tenant_id=tenant_id) as tx:
        rows = await tx.connection.fetch(CLAIM, endpoint_id, limit, lease_seconds, ordered_attempts)
    claimed = [
        Claimed(row["id"], row["msg_id"], row["event_seq"], row["body"].encode(), row["attempts"])
        for row in rows
    ]
    return sorted(claimed, key=lambda c: (c.event_seq is not None, c.event_seq or 0))


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What recording an attempt did to the endpoint."""

    status: str
    disabled: str | None = None


async def record(
    message: Claimed, answer: delivery.Answer, *, target: outbound.Endpoint, at: datetime,
    delay: float | None, disable_after: float,
) -> Outcome:
    """The attempt row, the message's new status and the endpoint's health, in one transaction.
    An endpoint answering 410, or failing for longer than `disable_after` seconds, is disabled
    and a `webhook_endpoint.disabled` event goes to the tenant's outbox."""
    status = "succeeded" if answer.succeeded else ("exhausted" if delay is None else "retrying")
    async with db.transaction(tenant_id=target.tenant_id) as tx:
        conn = tx.connection
        await conn.execute(
            """
            insert into outbound_attempts (tenant_id, message_id, endpoint_id, attempted_at,
                                           duration_ms, response_status, response_body, error,
                                           trigger)
            values ($1, $2, $3, $4, $5, $6, $7, $8,
                    (select next_trigger from outbound_messages where id = $2))
            """,
            target.tenant_id, message.id, target.id, at, answer.duration_ms, answer.status,
            answer.body, answer.error,
        )
        await conn.execute(
            """
            update outbound_messages set status = $2::text, attempts = attempts + 1,
                claimed_until = null, last_attempt_at = $3::timestamptz, updated_at = now(),
                next_trigger = 'scheduled',
                succeeded_at = case when $2::text = 'succeeded' then $3::timestamptz end,
                next_attempt_at = $3::timestamptz + make_interval(secs => coalesce($4::float8, 0))
            where id = $1
            """,
            message.id, status, at, delay,
        )
        failing_since = await conn.fetchval(
            """
            update outbound_endpoints set updated_at = now(),
                failing_since = case when $2::boolean then null
                                     else coalesce(failing_since, $3::timestamptz) end
            where id = $1 returning failing_since
            """,
            target.id, answer.succeeded, at,
        )
        reason = _disable_reason(answer, failing_since, at, disable_after)
        if reason is not None:
            await _disable(conn, target, reason)
    return Outcome(status, reason)


def _disable_reason(
    answer: delivery.Answer, failing_since: datetime | None, at: datetime, disable_after: float
) -> str | None:
    if answer.gone:
        return "the endpoint answered 410 Gone"
    if failing_since is not None and (at - failing_since).total_seconds() > disable_after:
        return f"failing since {failing_since.isoformat()}"
    return None


async def _disable(conn: Any, target: outbound.Endpoint, reason: str) -> None:
    disabled = await conn.fetchval(
        """
        update outbound_endpoints set enabled = false, disabled_reason = $2, updated_at = now()
        where id = $1 and enabled returning id
        """,
        target.id, reason,
    )
    if disabled is not None:
        draft = events.draft(delivery.DISABLED, target.id, delivery.disabled_payload(target.id, reason))
        meta = events.WriteMeta(actor="system:outbound", correlation_id=f"outbound:{target.id}")
        await outbox.append([draft], tenant_id=target.tenant_id, meta=meta)


DUE = """
    select distinct m.tenant_id, m.endpoint_id from outbound_messages m
    join outbound_endpoints e on e.id = m.endpoint_id and e.enabled
    where m.status in ('pending', 'retrying') and m.next_attempt_at <= now()
      and (m.claimed_until is null or m.claimed_until < now())
"""


async def due_endpoints() -> list[tuple[UUID, UUID]]:
    """(tenant, endpoint) of every enabled endpoint with a message due and not leased."""
    async with db.platform() as tx:
        rows = await tx.connection.fetch(DUE)
    return [(row["tenant_id"], row["endpoint_id"]) for row in rows]
