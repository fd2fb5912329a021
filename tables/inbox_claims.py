"""Claims of inbox deliveries: locked in the claiming transaction (FOR UPDATE SKIP LOCKED),
so a batch that rolls back or a worker that dies lets go of its rows with its transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import asyncpg

from domain import batches
from tables import db

_COLUMNS = "id, delivery_id, payload, correlation_id, traceparent, attempts"
_READY = "status in ('queued', 'failed') and available_at <= now()"


def _claimed(row: asyncpg.Record) -> batches.Claimed:
    return batches.Claimed(
        id=row["id"], delivery_id=row["delivery_id"], payload=db.json_field(row["payload"]),
        correlation_id=row["correlation_id"], traceparent=row["traceparent"], attempts=row["attempts"],
    )


async def ready(*, limit: int = 500) -> list[tuple[UUID, str]]:
    """(tenant id, flow) of every pair with deliveries ready now. Read across tenants."""
    async with db.platform() as tx:
        rows = await tx.connection.fetch(
            f"select distinct tenant_id, flow from webhook_inbox where {_READY} limit $1", limit
        )
    return [(row["tenant_id"], row["flow"]) for row in rows]


async def claim(
    connection: Any, flow: str, size: int, *, tenant_id: UUID
) -> list[batches.Claimed]:
    """Lock up to `size` ready deliveries of the flow, oldest first, skipping those another
    batch holds, in the caller's (tenant's) transaction."""
    rows = await connection.fetch(
        f"""
        select {_COLUMNS} from webhook_inbox
        where tenant_id = $1 and flow = $2 and {_READY}
        order by received_at, id limit $3 for update skip locked
        """,
        tenant_id, flow, size,
    )
    return [_claimed(row) for row in rows]


async def claim_one(connection: Any, delivery: UUID, *, tenant_id: UUID) -> batches.Claimed | None:
    """Lock one delivery still to do, unless another batch holds it."""
    row = await connection.fetchrow(
        f"""
        select {_COLUMNS} from webhook_inbox
        where tenant_id = $1 and id = $2 and status in ('queued', 'failed')
        for update skip locked
        """,
        tenant_id, delivery,
    )
    return None if row is None else _claimed(row)


async def mark_processed(connection: Any, ids: Sequence[UUID], *, tenant_id: UUID) -> None:
    if ids:
        await connection.execute(
            """
            update webhook_inbox
            set status = 'processed', processed_at = clock_timestamp(), updated_at = now(),
                attempts = attempts + 1, last_error = null
            where tenant_id = $1 and id = any($2::uuid[])
            """,
            tenant_id, list(ids),
        )


async def mark_dead(
    connection: Any, dead: Sequence[tuple[UUID, str]], *, tenant_id: UUID
) -> None:
    """Dead-letter claimed deliveries, each with its reason, in one statement."""
    if dead:
        await connection.execute(
            """
            update webhook_inbox i
            set status = 'dead', last_error = r.reason, updated_at = now(), attempts = i.attempts + 1
            from unnest($2::uuid[], $3::text[]) as r (id, reason)
            where i.tenant_id = $1 and i.id = r.id
            """,
            tenant_id, [i for i, _ in dead], [r[:2000] for _, r in dead],
        )


async def fail(delivery: UUID, error: str, *, tenant_id: UUID, draw: float) -> str:
    """Count a failed attempt in a transaction of its own: tried again after a backoff (the
    `draw` share of its ceiling), or dead after the last attempt. The status it now has."""
    async with db.transaction(tenant_id=tenant_id) as tx:
        status = await tx.connection.fetchval(
            """
            update webhook_inbox
            set attempts = attempts + 1, last_error = $3, updated_at = now(),
                status = case when attempts + 1 >= $4 then 'dead' else 'failed' end,
                available_at = now() + make_interval(
                    secs => least($5 * power(2, attempts), $6) * $7)
            where tenant_id = $1 and id = $2 and status in ('queued', 'failed')
            returning status
            """,
            tenant_id, delivery, error[:2000], batches.MAX_ATTEMPTS,
            batches.FIRST_DELAY, batches.LONGEST_DELAY, draw,
        )
    return str(status or "gone")


async def take_turn(connection: Any, flow: str, *, tenant_id: UUID) -> None:
    """Wait for any other batch of this tenant's flow to end (a lock held to the end of the
    caller's transaction): for flows whose deliveries apply in delivery order."""
    await connection.execute(
        "select pg_advisory_xact_lock(hashtextextended($1, 7220015))", f"{tenant_id}:{flow}"
    )
