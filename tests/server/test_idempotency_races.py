"""Idempotency-Key when requests overlap or fail: a duplicate of a running mutation is refused
(409) and never runs, an outage frees the key, a change whose answer was lost is never made
again, and a claim whose request died without a change is taken over.

The first request is held where a real one waits: on the shop's stock rows, locked by another
transaction, so the test knows it has claimed its key and not yet changed anything."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import asyncpg

from domain import idempotency
from domain.config import Settings
from tests.server.test_idempotency import code, order_count, order_input, send
from tests.shop import CREATE_ORDER, Shop


@contextlib.asynccontextmanager
async def stock_locked(settings: Settings, shop: Shop) -> AsyncIterator[asyncpg.Connection]:
    """The shop's stock rows locked by another transaction until the block ends."""
    connection = await asyncpg.connect(settings.database_url)
    transaction = connection.transaction()
    await transaction.start()
    await connection.execute("select 1 from stock_levels where tenant_id = $1 for update", shop.id)
    try:
        yield connection
    finally:
        await transaction.rollback()
        await connection.close()


async def blocked_by(locker: asyncpg.Connection) -> int:
    """The backend of the request waiting for `locker`'s locks, once it waits."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        pid = await locker.fetchval(
            "select pid from pg_stat_activity where $1 = any(pg_blocking_pids(pid)) limit 1",
            locker.get_server_pid(),
        )
        if pid is not None:
            return int(pid)
        await asyncio.sleep(0.02)
    raise AssertionError("no request came to wait for the stock rows")


async def test_duplicates_sent_at_once_make_one_order(shop: Shop) -> None:
    responses = await asyncio.gather(*(send(shop, "burst") for _ in range(5)))

    made = [r for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code == 409]
    assert len(made) + len(refused) == 5, [r.text for r in responses]
    assert {r.json()["data"]["createOrder"]["order"]["id"] for r in made} == {
        made[0].json()["data"]["createOrder"]["order"]["id"]
    }
    assert all(code(r) == "IDEMPOTENCY_KEY_IN_USE" for r in refused)
    assert await order_count(shop) == 1
    assert await shop.stock("TEE-S") == (10, 1)


async def test_a_duplicate_of_a_running_mutation_is_refused_and_the_first_finishes(
    shop: Shop, settings: Settings
) -> None:
    async with stock_locked(settings, shop) as locker:
        first = asyncio.create_task(send(shop, "held"))
        await blocked_by(locker)
        duplicate = await asyncio.wait_for(send(shop, "held"), 10)
    answered = await first
    again = await send(shop, "held")

    assert duplicate.status_code == 409
    assert code(duplicate) == "IDEMPOTENCY_KEY_IN_USE"
    assert duplicate.headers["retry-after"] == "1"
    assert "still running" in duplicate.json()["errors"][0]["message"]
    assert answered.status_code == 200, answered.text
    assert again.content == answered.content
    assert await order_count(shop) == 1


async def test_an_outage_during_the_mutation_keeps_no_answer_and_frees_the_key(
    shop: Shop, settings: Settings, owner: asyncpg.Connection
) -> None:
    async with stock_locked(settings, shop) as locker:
        first = asyncio.create_task(send(shop, "outage"))
        await owner.execute("select pg_terminate_backend($1)", await blocked_by(locker))
        failed = await first
    stored = await owner.fetchval("select count(*) from idempotency_keys where tenant_id = $1", shop.id)
    retried = await send(shop, "outage")

    assert failed.status_code == 503, failed.text
    assert code(failed) == "SERVICE_UNAVAILABLE"
    assert stored == 0
    assert retried.status_code == 200, retried.text
    assert "idempotency-replayed" not in retried.headers
    assert retried.json()["data"]["createOrder"]["order"]["number"] == 1
    assert await order_count(shop) == 1


async def test_a_change_whose_answer_was_lost_is_never_made_again(
    shop: Shop, owner: asyncpg.Connection
) -> None:
    await send(shop, "lost")
    # As after a crash between the mutation's commit and the answer's: the mark made in the
    # mutation's transaction stays, the answer is missing, the claim has gone stale.
    await owner.execute(
        "update idempotency_keys set finished_at = null, status = null, body = null,"
        " created_at = now() - interval '1 hour' where tenant_id = $1", shop.id,
    )

    again = await send(shop, "lost")

    assert again.status_code == 409
    assert code(again) == "IDEMPOTENCY_RESPONSE_LOST"
    assert "will not run again" in again.json()["errors"][0]["message"]
    assert await order_count(shop) == 1


async def test_a_stale_claim_that_changed_nothing_is_taken_over(
    shop: Shop, owner: asyncpg.Connection
) -> None:
    variables = order_input(shop)
    digest = idempotency.request_hash(CREATE_ORDER, None, variables, None)
    credential = await owner.fetchval(
        "select 'key:' || prefix from api_keys where tenant_id = $1 and name = 'admin'", shop.id
    )
    await owner.execute(
        "insert into idempotency_keys (tenant_id, credential, key, request_hash, claim, created_at)"
        " values ($1, $2, 'crashed', $3, gen_random_uuid(), now() - interval '1 hour')",
        shop.id, credential, digest,
    )

    taken_over = await send(shop, "crashed", variables=variables)
    again = await send(shop, "crashed", variables=variables)

    assert taken_over.status_code == 200, taken_over.text
    assert taken_over.json()["data"]["createOrder"]["order"]["number"] == 1
    assert again.headers["idempotency-replayed"] == "true"
    assert await order_count(shop) == 1


async def test_a_fresh_claim_of_another_request_is_not_taken_over(
    shop: Shop, owner: asyncpg.Connection
) -> None:
    credential = await owner.fetchval(
        "select 'key:' || prefix from api_keys where tenant_id = $1 and name = 'admin'", shop.id
    )
    await owner.execute(
        "insert into idempotency_keys (tenant_id, credential, key, request_hash, claim)"
        " values ($1, $2, 'running', $3, gen_random_uuid())",
        shop.id, credential, idempotency.request_hash(CREATE_ORDER, None, order_input(shop), None),
    )

    refused = await send(shop, "running")

    assert code(refused) == "IDEMPOTENCY_KEY_IN_USE"
    assert await order_count(shop) == 0
