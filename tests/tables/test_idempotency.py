"""Idempotency-Key records: a claim fences the request that made it (a transaction writing
under a claim taken over rolls back), a change is marked in its own transaction, records of
one tenant are invisible to another, and expired records are pruned."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import pytest

from domain import idempotency
from tables import db
from tables import idempotency as records
from workers import maintenance

LONG = timedelta(hours=24)
NOW = timedelta(0)


def key_of(tenant: Any, key: str = "k-1", credential: str = "key:abc") -> records.Key:
    return records.Key(tenant.id, credential, key)


async def claimed(key: records.Key, digest: str = "h1", stale_after: timedelta = LONG) -> UUID:
    token = await records.claim(key, digest, retention=LONG, stale_after=stale_after)
    assert isinstance(token, UUID), token
    return token


async def write_under(key: records.Key, token: UUID, handle: str) -> None:
    """A unit of work of the claiming request that adds a category."""

    async def mark(tx: Any, tenant_id: UUID | None) -> None:
        await records.mark_executed(tx, tenant_id, key=key, token=token)

    with db.checked_before_commit(mark):
        async with db.transaction(tenant_id=key.tenant_id) as tx:
            await tx.connection.execute(
                "insert into categories (id, tenant_id, name, handle) values ($1, $2, 'c', $3)",
                uuid.uuid4(), key.tenant_id, handle,
            )


async def categories(owner: asyncpg.Connection, tenant: Any) -> list[str]:
    rows = await owner.fetch("select handle from categories where tenant_id = $1", tenant.id)
    return sorted(row["handle"] for row in rows)


async def executed(owner: asyncpg.Connection, key: records.Key) -> bool:
    found = await owner.fetchval(
        "select executed_at is not null from idempotency_keys"
        " where tenant_id = $1 and credential = $2 and key = $3",
        key.tenant_id, key.credential, key.key,
    )
    return bool(found)


async def test_a_claimed_key_is_held_until_it_goes_stale(tenant_a: Any) -> None:
    key = key_of(tenant_a)
    await claimed(key)

    held = await records.claim(key, "h1", retention=LONG, stale_after=LONG)
    taken_over = await records.claim(key, "h1", retention=LONG, stale_after=NOW)

    assert isinstance(held, idempotency.Record)
    assert held.executed_at is None and held.finished_at is None and not held.stale
    assert isinstance(taken_over, UUID)


async def test_a_change_marks_the_record_in_its_own_transaction(
    tenant_a: Any, owner: asyncpg.Connection
) -> None:
    key = key_of(tenant_a)
    token = await claimed(key)

    await write_under(key, token, "made")

    assert await categories(owner, tenant_a) == ["made"]
    assert await executed(owner, key)


async def test_a_request_whose_claim_was_taken_over_cannot_commit_a_change(
    tenant_a: Any, owner: asyncpg.Connection
) -> None:
    key = key_of(tenant_a)
    first = await claimed(key)
    second = await claimed(key, stale_after=NOW)

    with pytest.raises(idempotency.ClaimLost):
        await write_under(key, first, "late")
    await write_under(key, second, "owner")

    assert await categories(owner, tenant_a) == ["owner"]


async def test_a_transaction_that_writes_nothing_neither_marks_nor_fails(
    tenant_a: Any, owner: asyncpg.Connection
) -> None:
    key = key_of(tenant_a)
    stale = await claimed(key)
    await claimed(key, stale_after=NOW)

    async def mark(tx: Any, tenant_id: UUID | None) -> None:
        await records.mark_executed(tx, tenant_id, key=key, token=stale)

    with db.checked_before_commit(mark):
        async with db.transaction(tenant_id=tenant_a.id) as tx:
            assert await tx.connection.fetchval("select count(*) from categories") == 0

    assert not await executed(owner, key)


async def test_an_executed_claim_is_never_taken_over(tenant_a: Any) -> None:
    key = key_of(tenant_a)
    token = await claimed(key)
    await write_under(key, token, "made")

    again = await records.claim(key, "h1", retention=LONG, stale_after=NOW)

    assert isinstance(again, idempotency.Record)
    assert again.executed_at is not None and again.stale
    with pytest.raises(idempotency.ResponseLost):
        idempotency.verdict(again, "h1", 24)


async def test_release_frees_a_key_that_changed_nothing_and_finishes_one_that_did(
    tenant_a: Any,
) -> None:
    idle, busy = key_of(tenant_a, "idle"), key_of(tenant_a, "busy")
    idle_token, busy_token = await claimed(idle), await claimed(busy)
    await write_under(busy, busy_token, "made")

    await records.release(idle, idle_token)
    await records.release(busy, busy_token)

    assert isinstance(await records.claim(idle, "other", retention=LONG, stale_after=LONG), UUID)
    spent = await records.claim(busy, "h1", retention=LONG, stale_after=LONG)
    assert isinstance(spent, idempotency.Record) and spent.finished_at is not None
    with pytest.raises(idempotency.ResponseLost):
        idempotency.verdict(spent, "h1", 24)


async def test_the_same_key_of_two_tenants_or_credentials_is_two_records(
    tenant_a: Any, tenant_b: Any, owner: asyncpg.Connection
) -> None:
    a = key_of(tenant_a)
    token = await claimed(a)
    await records.finish(a, token, 200, b'{"data":"a"}')

    b_token = await records.claim(key_of(tenant_b), "h1", retention=LONG, stale_after=LONG)
    other_credential = await records.claim(
        key_of(tenant_a, credential="key:other"), "h1", retention=LONG, stale_after=LONG
    )
    b_reads = await _visible_under(tenant_b)

    assert isinstance(b_token, UUID) and isinstance(other_credential, UUID)
    assert b_reads == 1
    found = await records.claim(a, "h1", retention=LONG, stale_after=LONG)
    assert isinstance(found, idempotency.Record) and found.body == b'{"data":"a"}'


async def _visible_under(tenant: Any) -> int:
    async with db.transaction(tenant_id=tenant.id) as tx:
        count: int = await tx.connection.fetchval("select count(*) from idempotency_keys")
    return count


async def test_expired_records_are_pruned_and_fresh_ones_kept(
    tenant_a: Any, tenant_b: Any, owner: asyncpg.Connection
) -> None:
    old_a, old_b, fresh = key_of(tenant_a, "old"), key_of(tenant_b, "old"), key_of(tenant_a, "new")
    for key in (old_a, old_b, fresh):
        await claimed(key)
    await owner.execute(
        "update idempotency_keys set created_at = now() - interval '25 hours'"
        " where key = 'old' and tenant_id = any($1::uuid[])", [tenant_a.id, tenant_b.id],
    )

    pruned = await maintenance.prune_idempotency_keys({"idempotency_retention_hours": 24})

    assert pruned >= 2
    left = await owner.fetch(
        "select key from idempotency_keys where tenant_id = any($1::uuid[])",
        [tenant_a.id, tenant_b.id],
    )
    assert [row["key"] for row in left] == ["new"]


async def test_prune_keeps_what_is_younger_than_the_cutoff(tenant_a: Any) -> None:
    await claimed(key_of(tenant_a, "young"))

    await records.prune(older_than=datetime.now(UTC) - timedelta(hours=1))

    assert isinstance(
        await records.claim(key_of(tenant_a, "young"), "h2", retention=LONG, stale_after=LONG),
        idempotency.Record,
    )
