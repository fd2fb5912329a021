"""webhook_accept is one SQL function whose later arguments are defaulted: a process of any
earlier release (six, seven or eight arguments, during a rolling deploy) still stores its
deliveries, and no overload makes a call ambiguous."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from tables import db
from tables import webhooks as webhook_tables
from tables.engine import DB
from tests.conftest import TenantHandle

ACCEPT = "select id, status, created from webhook_accept($1, $2, $3, $4::jsonb, $5, $6{more})"


async def _accept(connection: asyncpg.Connection, tenant: TenantHandle, secrets: list[str],
                  *more: Any) -> asyncpg.Record:
    extra = "".join(f", ${7 + i}" for i in range(len(more)))
    delivery = f"msg_{uuid.uuid4().hex}"
    row = await connection.fetchrow(
        ACCEPT.format(more=extra), tenant.id, "inventory-flow", delivery, "{}", "corr", secrets, *more
    )
    assert row is not None and row["created"]
    return row


async def test_there_is_one_webhook_accept_function(app_pool: None) -> None:
    assert DB.pool is not None
    async with DB.pool.acquire() as connection:
        found = await connection.fetchval("select count(*) from pg_proc where proname = 'webhook_accept'")
    assert found == 1


async def test_callers_of_six_seven_and_eight_arguments_are_all_served(tenant_a: TenantHandle) -> None:
    endpoint = await webhook_tables.create_endpoint("inventory-flow", tenant_id=tenant_a.id)
    secrets = list(endpoint.secrets)
    traceparent = f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01"
    assert DB.pool is not None
    async with DB.pool.acquire() as connection:
        six = await _accept(connection, tenant_a, secrets)
        seven = await _accept(connection, tenant_a, secrets, None)
        eight = await _accept(connection, tenant_a, secrets, None, traceparent)
    async with db.transaction(tenant_id=tenant_a.id) as tx:
        rows = await tx.connection.fetch(
            "select id, traceparent from webhook_inbox where id = any($1::uuid[])",
            [six["id"], seven["id"], eight["id"]],
        )
    traces = {row["id"]: row["traceparent"] for row in rows}
    assert traces == {six["id"]: None, seven["id"]: None, eight["id"]: traceparent}
