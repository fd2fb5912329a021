"""Idempotency-Key records: claimed before a mutation runs, marked in the transaction of each
change it commits, answered when it has answered (domain.idempotency says what they mean).

A claim is a random token. Whoever takes over a stale claim writes a new token, and a
transaction that wrote under the old one fails its check before COMMIT and rolls back, so a
request that outlived its claim can never add a second set of changes."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from piccolo.engine.postgres import PostgresTransaction

from domain import idempotency
from tables import db


@dataclasses.dataclass(frozen=True)
class Key:
    """One key of one credential of a tenant."""

    tenant_id: UUID
    credential: str
    key: str


CLAIM = """
insert into idempotency_keys as k (tenant_id, credential, key, request_hash, claim)
values ($1, $2, $3, $4, $5)
on conflict (tenant_id, credential, key) do update
set request_hash = excluded.request_hash, claim = excluded.claim, created_at = now(),
    executed_at = null, finished_at = null, status = null, body = null
where k.created_at <= now() - $6::interval
   or (k.executed_at is null and k.finished_at is null and k.request_hash = excluded.request_hash
       and k.created_at <= now() - $7::interval)
returning k.claim
"""
FOUND = """
select request_hash, executed_at, finished_at, status, body, created_at <= now() - $4::interval as stale
from idempotency_keys where tenant_id = $1 and credential = $2 and key = $3
"""
# A transaction that wrote nothing has no transaction id yet, and is not marked.
MARK = """
with marked as (
    update idempotency_keys set executed_at = coalesce(executed_at, now())
    where tenant_id = $1 and credential = $2 and key = $3 and claim = $4
      and pg_current_xact_id_if_assigned() is not null
    returning 1
)
select pg_current_xact_id_if_assigned() is not null as wrote, exists(select from marked) as marked
"""
FINISH = """
update idempotency_keys set finished_at = now(), status = $5, body = $6
where tenant_id = $1 and credential = $2 and key = $3 and claim = $4
"""
RELEASE = """
with released as (
    delete from idempotency_keys
    where tenant_id = $1 and credential = $2 and key = $3 and claim = $4 and executed_at is null
    returning 1
)
update idempotency_keys set finished_at = now()
where tenant_id = $1 and credential = $2 and key = $3 and claim = $4 and executed_at is not null
"""


async def claim(
    key: Key, request_hash: str, *, retention: timedelta, stale_after: timedelta
) -> UUID | idempotency.Record | None:
    """A new claim's token; else the record that holds the key (None if it went meanwhile).
    An expired record, or a stale claim of the same request that changed nothing, is
    taken over."""
    token = uuid.uuid4()
    async with db.transaction(tenant_id=key.tenant_id) as tx:
        won = await tx.connection.fetchval(
            CLAIM, key.tenant_id, key.credential, key.key, request_hash, token, retention, stale_after
        )
        if won is not None:
            return token
        row = await tx.connection.fetchrow(FOUND, *_where(key), stale_after)
    return None if row is None else _record(row)


async def mark_executed(
    tx: PostgresTransaction, tenant_id: UUID | None, *, key: Key, token: UUID
) -> None:
    """Before a transaction of the claiming request commits: a transaction that changed data
    marks the record executed, or fails (rolls back) when the claim is no longer this request's.
    Transactions scoped to another tenant cannot see the record and are left alone."""
    if tenant_id not in (None, key.tenant_id):
        return
    row = await tx.connection.fetchrow(MARK, *_where(key), token)
    assert row is not None  # a select without FROM has one row
    if row["wrote"] and not row["marked"]:
        raise idempotency.ClaimLost(
            "another request took over this Idempotency-Key while this one ran; this change was "
            "not kept"
        )


async def finish(key: Key, token: UUID, status: int, body: bytes) -> None:
    """Store the answer to replay."""
    async with db.transaction(tenant_id=key.tenant_id) as tx:
        await tx.connection.execute(FINISH, *_where(key), token, status, body)


async def release(key: Key, token: UUID) -> None:
    """The request answered without running (or with an outage): the key is free again, unless
    a change of it committed, in which case it is finished without an answer."""
    async with db.transaction(tenant_id=key.tenant_id) as tx:
        await tx.connection.execute(RELEASE, *_where(key), token)


async def prune(*, older_than: datetime) -> int:
    """Delete records created before `older_than`, across tenants; returns how many."""
    async with db.platform() as tx:
        status = await tx.connection.execute(
            "delete from idempotency_keys where created_at < $1", older_than
        )
    return int(status.split()[-1])


def _where(key: Key) -> tuple[UUID, str, str]:
    return key.tenant_id, key.credential, key.key


def _record(row: Any) -> idempotency.Record:
    return idempotency.Record(
        request_hash=row["request_hash"], executed_at=row["executed_at"],
        finished_at=row["finished_at"], status=row["status"],
        body=None if row["body"] is None else bytes(row["body"]), stale=row["stale"],
    )
