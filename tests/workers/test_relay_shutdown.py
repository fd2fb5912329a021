"""SIGTERM to a `tenantgraph relay` process with a batch in flight: the batch is finished
(published and marked) before the process exits 0, within SHUTDOWN_GRACE_SECONDS.

The batch is held deterministically: the test locks one of its event rows, so the relay, which
reads and marks its batch in one statement before publishing it, waits on that row (its batch
taken, nothing published yet) until the test lets go."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from typing import Any

import asyncpg
import redis.asyncio as aioredis

from domain.config import Settings
from tables import engine
from tests.processes import spawn, stop, wait_exit
from tests.workers.test_relay import all_marked, append, consuming, eventually
from workers.relay import Relay

GRACE = 6.0
HELD = 0.8


async def test_a_relay_stopped_mid_batch_marks_its_batch_then_exits_0(
    settings: Settings, app_pool: None, make_tenant: Any, server_env: dict[str, str],
    tmp_path: Path,
) -> None:
    assert settings.database_url is not None and settings.redis_url is not None
    client = aioredis.from_url(settings.redis_url)
    await Relay(client, engine.app_dsn(settings.database_url, "tenantgraph_app")).drain()
    await client.aclose()
    tenant_id = (await make_tenant()).id
    await append(tenant_id, "a", "b", "c")
    lock = await asyncpg.connect(settings.database_url)
    transaction = lock.transaction()
    await transaction.start()
    await lock.execute("select 1 from events where tenant_id = $1 and seq = 3 for update", tenant_id)
    log = tmp_path / "relay.log"
    relay = spawn(["relay"], {**server_env, "SHUTDOWN_GRACE_SECONDS": str(GRACE)}, log)
    try:
        async with consuming(settings.redis_url, tenant_id) as consumer:
            await eventually(lambda: waiting_on_a_row(settings.database_url), timeout=20)

            relay.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            await asyncio.sleep(HELD)
            assert relay.poll() is None, "the relay exited with its batch in flight"
            await transaction.rollback()
            code = await wait_exit(relay, GRACE + 2.5)
            took = time.monotonic() - signalled
            await consumer.wait_for(3)
            await eventually(lambda: all_marked(tenant_id))
            await asyncio.sleep(0.2)
    finally:
        await lock.close()
        await stop(relay)

    # Still running after HELD with the batch unmarked (above); exited 0 once it was marked.
    assert code == 0, f"exit {code} after {took:.1f}s:\n{log.read_text()[-3000:]}"
    assert [body["seq"] for body in consumer.raw] == [1, 2, 3]  # once each: nothing republished


async def waiting_on_a_row(database_url: str) -> bool:
    """The relay's claim of its batch (UPDATE events ... RETURNING) waits on a row lock."""
    connection = await asyncpg.connect(database_url)
    try:
        return bool(await connection.fetchval(
            "select count(*) from pg_stat_activity where datname = current_database()"
            " and wait_event_type = 'Lock' and query like '%update events set published_at%'"))
    finally:
        await connection.close()
