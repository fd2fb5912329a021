"""Webhooks out, the database wall: each of the four outbound tables shows, changes and accepts
only the current tenant's rows for the app role, whatever the SQL says."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from uuid import UUID

import asyncpg
import pytest

from domain import outbound
from domain.config import Settings
from domain.errors import NotFound
from tables import engine
from tables import outbound as outbound_tables
from tests.conftest import TenantHandle

TABLES = ("outbound_endpoints", "outbound_messages", "outbound_attempts", "outbound_cursors")


@pytest.fixture
async def app_conn(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    assert settings.database_url
    connection = await asyncpg.connect(
        engine.app_dsn(settings.database_url, str(settings.app_database_password))
    )
    yield connection
    await connection.close()


async def scoped(connection: asyncpg.Connection, tenant_id: UUID) -> None:
    await connection.execute("select set_config('app.tenant_id', $1, true)", str(tenant_id))


async def seed(connection: asyncpg.Connection, tenant_id: UUID) -> None:
    """One row per outbound table for the tenant, written as the app role under its scope."""
    async with connection.transaction():
        await scoped(connection, tenant_id)
        endpoint = await connection.fetchval(
            "insert into outbound_endpoints (tenant_id, url, event_types, secrets)"
            " values ($1, 'https://example.com/hook', '{*}',"
            " '[{\"secret\": \"whsec_dGVzdC1zZWNyZXQtb2YtMjQtYnl0ZXMh\", \"expires_at\": null}]')"
            " returning id", tenant_id)
        message = await connection.fetchval(
            "insert into outbound_messages (tenant_id, endpoint_id, event_seq, event_type, msg_id,"
            " body) values ($1, $2, 1, 'order.created', $3, '{}') returning id",
            tenant_id, endpoint, f"msg_{uuid.uuid4().hex}")
        await connection.execute(
            "insert into outbound_attempts (tenant_id, message_id, endpoint_id, response_status)"
            " values ($1, $2, $3, 200)", tenant_id, message, endpoint)
        await connection.execute(
            "insert into outbound_cursors (tenant_id, last_seq) values ($1, 1)", tenant_id)


async def visible(connection: asyncpg.Connection, tenant_id: UUID, table: str) -> set[UUID]:
    async with connection.transaction():
        await scoped(connection, tenant_id)
        return {row["tenant_id"] for row in await connection.fetch(f"select tenant_id from {table}")}


@pytest.mark.parametrize("table", TABLES)
async def test_each_tenant_sees_only_its_own_outbound_rows(
    table: str, app_conn: asyncpg.Connection, tenant_a: TenantHandle, tenant_b: TenantHandle
) -> None:
    await seed(app_conn, tenant_a.id)
    await seed(app_conn, tenant_b.id)

    assert await visible(app_conn, tenant_a.id, table) == {tenant_a.id}
    assert await visible(app_conn, tenant_b.id, table) == {tenant_b.id}


@pytest.mark.parametrize("table", TABLES)
async def test_a_tenant_cannot_change_or_delete_anothers_outbound_rows(
    table: str, app_conn: asyncpg.Connection, tenant_a: TenantHandle, tenant_b: TenantHandle
) -> None:
    await seed(app_conn, tenant_a.id)
    async with app_conn.transaction():
        await scoped(app_conn, tenant_b.id)
        updated = await app_conn.execute(
            f"update {table} set tenant_id = tenant_id where tenant_id = $1", tenant_a.id)
        deleted = await app_conn.execute(f"delete from {table} where tenant_id = $1", tenant_a.id)

    assert (updated, deleted) == ("UPDATE 0", "DELETE 0")
    assert await visible(app_conn, tenant_a.id, table) == {tenant_a.id}


async def test_a_tenant_cannot_write_an_endpoint_for_another(
    app_conn: asyncpg.Connection, tenant_a: TenantHandle, tenant_b: TenantHandle
) -> None:
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
        async with app_conn.transaction():
            await scoped(app_conn, tenant_b.id)
            await app_conn.execute(
                "insert into outbound_endpoints (tenant_id, url) values ($1, 'https://a.test/')",
                tenant_a.id)


async def test_no_tenant_scope_sees_no_outbound_rows(
    app_conn: asyncpg.Connection, tenant_a: TenantHandle
) -> None:
    await seed(app_conn, tenant_a.id)
    for table in TABLES:
        assert await app_conn.fetchval(f"select count(*) from {table}") == 0


async def test_the_endpoint_functions_never_reach_another_tenants_endpoint(
    tenant_a: TenantHandle, tenant_b: TenantHandle
) -> None:
    draft = outbound.Draft(url="https://93.184.215.14/", event_types=("*",))
    mine = await outbound_tables.create_endpoint(draft, "whsec_a", tenant_id=tenant_a.id, max_endpoints=5)
    await outbound_tables.create_endpoint(draft, "whsec_b", tenant_id=tenant_b.id, max_endpoints=5)

    for reach in (
        outbound_tables.get_endpoint(mine.id, tenant_id=tenant_b.id),
        outbound_tables.change_endpoint(mine.id, lambda e, now: e, "outbound_endpoint.updated",
                                        tenant_id=tenant_b.id),
        outbound_tables.delete_endpoint(mine.id, tenant_id=tenant_b.id),
    ):
        with pytest.raises(NotFound):
            await reach
    assert [e.id for e in await outbound_tables.list_endpoints(tenant_id=tenant_a.id)] == [mine.id]
    assert mine.id not in {e.id for e in await outbound_tables.list_endpoints(tenant_id=tenant_b.id)}
    assert await outbound_tables.get_endpoint(mine.id, tenant_id=tenant_a.id) == mine
