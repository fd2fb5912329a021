"""Housekeeping jobs: directly, and through a real SAQ worker process on real Redis."""

from __future__ import annotations

import dataclasses
import random
import signal
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from saq import Queue

from domain import audit
from domain.config import Settings
from tables import api_keys, db
from tables import audit as trail
from tables.api_keys import ApiKeyTable
from tests.processes import spawn, stop
from workers import maintenance
from workers.settings import queue


@dataclasses.dataclass(frozen=True)
class Keys:
    active: str
    recent: str
    old: str


async def revoke_days_ago(prefix: str, days: int) -> None:
    async with db.platform():
        await ApiKeyTable.update(
            {ApiKeyTable.revoked_at: datetime.now(UTC) - timedelta(days=days)}
        ).where(ApiKeyTable.prefix == prefix)


async def prefixes(tenant_id: Any) -> set[str]:
    return {key.prefix for key in await api_keys.list_for_tenant(tenant_id=tenant_id)}


@pytest.fixture
async def keys(tenant_a: Any) -> Keys:
    """No revoked key older than the retention period is left but the one made here."""
    await maintenance.purge_revoked_keys({})
    made = [(await api_keys.create(tenant_id=tenant_a.id, name=n, scopes={"admin"}))[0]
            for n in ("active", "recent", "old")]
    await api_keys.revoke(made[1].prefix, tenant_id=tenant_a.id)
    await api_keys.revoke(made[2].prefix, tenant_id=tenant_a.id)
    await revoke_days_ago(made[2].prefix, 100)
    return Keys(*(key.prefix for key in made))


async def test_purge_deletes_only_keys_revoked_before_the_retention_period(
    keys: Keys, tenant_a: Any
) -> None:
    before = await prefixes(tenant_a.id)

    purged = await maintenance.purge_revoked_keys({})

    assert purged == 1
    assert {keys.active, keys.recent, keys.old} <= before
    assert await prefixes(tenant_a.id) == before - {keys.old}


@pytest.fixture
async def worker_queue(
    settings: Settings, server_env: dict[str, str], tmp_path: Path
) -> AsyncIterator[tuple[Queue, Path]]:
    """A `tenantgraph worker` process and its queue, on a Redis database of their own (a
    concurrent session's worker on the same Redis must not take this test's jobs)."""
    redis_url = settings.redis_url
    assert redis_url is not None
    own_redis = f"{redis_url.rsplit('/', 1)[0]}/{random.randint(1, 15)}"
    log = tmp_path / "worker.log"
    process = spawn(["worker"], {**server_env, "REDIS_URL": own_redis}, log)
    jobs = queue(dataclasses.replace(settings, redis_url=own_redis))
    await jobs.connect()
    try:
        yield jobs, log
    finally:
        await jobs.disconnect()
        await stop(process, signal.SIGTERM, timeout=10)


async def test_worker_runs_purge_revoked_keys_from_the_queue(
    keys: Keys, tenant_a: Any, worker_queue: tuple[Queue, Path]
) -> None:
    jobs, log = worker_queue

    try:
        purged = await jobs.apply("purge_revoked_keys", timeout=20, poll_interval=0.1)
    except TimeoutError:
        raise AssertionError(f"job not done in 20 s; worker log:\n{log.read_text()}") from None

    assert purged == 1
    assert keys.old not in await prefixes(tenant_a.id)


async def test_worker_runs_prune_audit_from_the_queue(
    tenant_a: Any, worker_queue: tuple[Queue, Path], owner_dsn: str
) -> None:
    jobs, log = worker_queue
    owner = await asyncpg.connect(owner_dsn)
    try:
        async with owner.transaction():
            await owner.execute("select set_config('app.platform', 'on', true)")
            await owner.execute(
                "insert into audit_log (tenant_id, actor_kind, actor_id, action, target_type, "
                "target_id, created_at) values ($1, 'system', 'test', 'api_key.created', 'api_key', "
                "'ancient', now() - interval '400 days')", tenant_a.id,
            )
    finally:
        await owner.close()

    try:
        pruned = await jobs.apply("prune_audit", timeout=20, poll_interval=0.1)
    except TimeoutError:
        raise AssertionError(f"job not done in 20 s; worker log:\n{log.read_text()}") from None

    assert pruned >= 1
    assert await trail.entries(
        tenant_id=tenant_a.id, where=audit.Filter(target_id="ancient"), before_id=None, limit=10
    ) == []
