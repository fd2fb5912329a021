"""The delivery log's storage: listing messages and attempts, making messages due again
(redelivery, recovery), pruning finished ones, and the backlog per endpoint state.

The tables (outbound_messages, outbound_attempts) are created by migration 2026-12-05T11:00;
`next_trigger` (why a message is due next) by 2026-12-05T11:20.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from domain import audit, outbound_log
from domain.errors import Conflict, NotFound
from tables import audit as trail
from tables import counting, db

MESSAGE_COLUMNS = """
    m.id, m.endpoint_id, m.msg_id, m.event_type, m.event_seq, m.status, m.attempts,
    m.next_attempt_at, m.last_attempt_at, m.succeeded_at, m.created_at, m.body
"""
ATTEMPT_COLUMNS = """
    a.id, a.message_id, a.attempted_at, a.duration_ms, a.response_status, a.response_body,
    a.error, a.trigger
"""
ENDPOINT_NOT_FOUND = "webhook endpoint not found"
MESSAGE_NOT_FOUND = "webhook message not found"


def _message(row: Any) -> outbound_log.Message:
    return outbound_log.Message(
        id=row["id"], endpoint_id=row["endpoint_id"], msg_id=row["msg_id"],
        event_type=row["event_type"], event_seq=row["event_seq"],
        status=outbound_log.MessageStatus(row["status"]), attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"], last_attempt_at=row["last_attempt_at"],
        succeeded_at=row["succeeded_at"], created_at=row["created_at"],
        body=db.json_field(row["body"]),
    )


def _attempt(row: Any) -> outbound_log.Attempt:
    return outbound_log.Attempt(
        id=row["id"], message_id=row["message_id"], attempted_at=row["attempted_at"],
        duration_ms=row["duration_ms"], response_status=row["response_status"],
        response_body=row["response_body"], error=row["error"], trigger=row["trigger"],
    )


MESSAGES = """
    select {columns} from outbound_messages m
    where m.tenant_id = $1 and ($2::uuid is null or m.endpoint_id = $2)
      and ($3::text[] is null or m.status = any($3))"""


async def list_messages(
    *,
    tenant_id: UUID,
    endpoint_id: UUID | None = None,
    statuses: Sequence[str] | None = None,
    after: tuple[datetime, UUID] | None = None,
    limit: int = 50,
    descending: bool = True,
) -> list[outbound_log.Message]:
    """Newest first (unless not `descending`), keyset-paginated by (created_at, id). An
    endpoint that is not this tenant's is NotFound."""
    op, order = ("<", "desc") if descending else (">", "asc")
    async with db.transaction(tenant_id=tenant_id) as tx:
        if endpoint_id is not None:
            await _endpoint_enabled(tx.connection, endpoint_id, tenant_id)
        rows = await tx.connection.fetch(
            MESSAGES.format(columns=MESSAGE_COLUMNS) + f"""
              and ($4::timestamptz is null or (m.created_at, m.id) {op} ($4, $5::uuid))
            order by m.created_at {order}, m.id {order} limit $6
            """,
            tenant_id, endpoint_id, None if statuses is None else list(statuses),
            None if after is None else after[0], None if after is None else after[1], limit,
        )
    return [_message(row) for row in rows]


async def count_messages(
    *, tenant_id: UUID, endpoint_id: UUID | None = None, statuses: Sequence[str] | None = None,
) -> int:
    """How many messages list_messages' filters select, every page."""
    return await counting.count_select(
        MESSAGES.format(columns="m.id"),
        [tenant_id, endpoint_id, None if statuses is None else list(statuses)], tenant_id=tenant_id,
    )


async def list_attempts(
    message_id: UUID,
    *,
    tenant_id: UUID,
    after: tuple[datetime, UUID] | None = None,
    limit: int = 50,
    descending: bool = True,
) -> list[outbound_log.Attempt]:
    """A message's attempts, newest first (unless not `descending`), keyset-paginated by
    (attempted_at, id); a message that is not this tenant's is NotFound."""
    op, order = ("<", "desc") if descending else (">", "asc")
    async with db.transaction(tenant_id=tenant_id) as tx:
        found = await tx.connection.fetchval(
            "select 1 from outbound_messages where tenant_id = $1 and id = $2", tenant_id, message_id
        )
        if found is None:
            raise NotFound(MESSAGE_NOT_FOUND)
        rows = await tx.connection.fetch(
            f"""
            select {ATTEMPT_COLUMNS} from outbound_attempts a
            where a.tenant_id = $1 and a.message_id = $2
              and ($3::timestamptz is null or (a.attempted_at, a.id) {op} ($3, $4::uuid))
            order by a.attempted_at {order}, a.id {order} limit $5
            """,
            tenant_id, message_id, None if after is None else after[0],
            None if after is None else after[1], limit,
        )
    return [_attempt(row) for row in rows]


async def count_attempts(message_id: UUID, *, tenant_id: UUID) -> int:
    """How many attempts a message has had (every page)."""
    return await counting.count_select(
        "select a.id from outbound_attempts a where a.tenant_id = $1 and a.message_id = $2",
        [tenant_id, message_id], tenant_id=tenant_id,
    )


async def _endpoint_enabled(connection: Any, endpoint_id: UUID, tenant_id: UUID) -> bool:
    enabled: bool | None = await connection.fetchval(
        "select enabled from outbound_endpoints where tenant_id = $1 and id = $2", tenant_id, endpoint_id
    )
    if enabled is None:
        raise NotFound(ENDPOINT_NOT_FOUND)
    return enabled


def _disabled(endpoint_id: UUID) -> Conflict:
    return Conflict(
        f"webhook endpoint {endpoint_id} is disabled: enable it first "
        "(updateOutboundEndpoint with enabled: true, or `tenantgraph outbound enable`), then try again",
        details={"endpointId": str(endpoint_id)},
    )


async def redeliver(message_id: UUID, *, tenant_id: UUID, actor: audit.Actor) -> outbound_log.Message:
    """Make a message due now, whatever its status, its next attempt triggered `manual`; the
    change and its audit record commit together. Its endpoint must be enabled."""
    async with db.transaction(tenant_id=tenant_id) as tx:
        row = await tx.connection.fetchrow(
            f"select {MESSAGE_COLUMNS} from outbound_messages m where m.tenant_id = $1 and m.id = $2 "
            "for update",
            tenant_id, message_id,
        )
        if row is None:
            raise NotFound(MESSAGE_NOT_FOUND)
        if not await _endpoint_enabled(tx.connection, row["endpoint_id"], tenant_id):
            raise _disabled(row["endpoint_id"])
        status = outbound_log.due_again(row["status"])
        updated = await tx.connection.fetchrow(
            f"""
            update outbound_messages m set status = $3, next_attempt_at = now(),
                next_trigger = 'manual', updated_at = now()
            where m.tenant_id = $1 and m.id = $2 returning {MESSAGE_COLUMNS}
            """,
            tenant_id, message_id, status,
        )
        await trail.record(
            tx.connection, actor, "outbound_message.redelivered", "outbound_message", str(message_id),
            tenant_id=tenant_id, before={"status": row["status"], "attempts": row["attempts"]},
            after={"status": status, "endpoint_id": str(row["endpoint_id"]), "msg_id": row["msg_id"]},
        )
    return _message(updated)


async def record_recovery(
    endpoint_id: UUID, since: datetime, *, tenant_id: UUID, actor: audit.Actor, job: str
) -> None:
    """Check the endpoint can be recovered (this tenant's, enabled) and record the request in
    the audit trail, in the transaction the caller enqueues the job in."""
    async with db.transaction(tenant_id=tenant_id) as tx:
        if not await _endpoint_enabled(tx.connection, endpoint_id, tenant_id):
            raise _disabled(endpoint_id)
        await trail.record(
            tx.connection, actor, "outbound_endpoint.recovery_requested", "outbound_endpoint",
            str(endpoint_id), tenant_id=tenant_id, after={"since": since, "job": job},
        )


async def recover(endpoint_id: UUID, since: datetime, *, tenant_id: UUID) -> int:
    """Make every message of the endpoint created since `since` whose last attempt failed
    (retrying or exhausted) due now, triggered `recovery`: how many."""
    async with db.transaction(tenant_id=tenant_id) as tx:
        status = await tx.connection.execute(
            """
            update outbound_messages set status = 'retrying', next_attempt_at = now(),
                next_trigger = 'recovery', updated_at = now()
            where tenant_id = $1 and endpoint_id = $2 and status = any($3) and created_at >= $4
            """,
            tenant_id, endpoint_id, list(outbound_log.FAILED), since,
        )
    return int(status.split()[-1])


async def prune(retention: outbound_log.Retention, *, now: datetime) -> int:
    """Delete succeeded messages older than the retention and exhausted ones older than theirs
    (attempts go with them, by cascade), across tenants: how many messages."""
    async with db.platform() as tx:
        status = await tx.connection.execute(
            """
            delete from outbound_messages
            where (status = 'succeeded' and created_at < $1) or (status = 'exhausted' and created_at < $2)
            """,
            now - retention.succeeded, now - retention.exhausted,
        )
    return int(status.split()[-1])


async def backlog() -> dict[str, int]:
    """Messages waiting to be sent (pending or retrying), by their endpoint's state: healthy,
    failing (failing_since set) or disabled; across tenants."""
    async with db.platform() as tx:
        rows = await tx.connection.fetch(
            """
            select case when not e.enabled then 'disabled'
                        when e.failing_since is not null then 'failing' else 'healthy' end as state,
                   count(*) as waiting
            from outbound_messages m join outbound_endpoints e on e.id = m.endpoint_id
            where m.status in ('pending', 'retrying') group by 1
            """
        )
    counts = dict.fromkeys(("healthy", "failing", "disabled"), 0)
    counts.update({row["state"]: int(row["waiting"]) for row in rows})
    return counts
