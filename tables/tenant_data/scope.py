"""The owner's connection set up like any transaction: the tenant (and the platform registry)
in scope for row-level security, which owned tables force on their owner too."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from domain.errors import NotFound

LATEST_MIGRATION = "select max(name) from migration"


async def enter(connection: Any, tenant_id: UUID | None) -> None:
    await connection.execute(
        "select set_config('app.platform', 'on', true), set_config('app.tenant_id', $1, true)",
        "" if tenant_id is None else str(tenant_id),
    )


async def tenant_id_of(connection: Any, slug: str) -> UUID:
    """Within a transaction: the tenant's id, with that tenant then in scope."""
    await enter(connection, None)
    tenant_id = await connection.fetchval("select id from tenants where slug = $1", slug)
    if tenant_id is None:
        raise NotFound(f"tenant {slug!r} not found")
    await enter(connection, tenant_id)
    return UUID(str(tenant_id))


async def latest_migration(connection: Any) -> str:
    return str(await connection.fetchval(LATEST_MIGRATION) or "")


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def order_numbers(tenant_id: UUID) -> str:
    """The tenant's order-number sequence (migration 2026-11-22T01:00)."""
    return f"order_numbers_{tenant_id.hex}"
