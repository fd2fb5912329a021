"""The tenant registry. Read under the platform scope: it is looked up before a tenant is known."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg
from piccolo.columns import JSONB, Array, Timestamptz, Varchar
from piccolo.columns import UUID as UUIDColumn
from piccolo.table import Table

from domain import audit, tenancy
from domain.errors import Conflict, NotFound
from tables import audit as trail
from tables import credential_changes, db
from tables.engine import DB


class TenantTable(Table, tablename="tenants", db=DB):
    id = UUIDColumn(primary_key=True)
    slug = Varchar(length=40, unique=True)
    name = Varchar(length=200)
    modules = Array(base_column=Varchar(length=40))
    extensions = Array(base_column=Varchar(length=40))
    settings = JSONB(default={})
    created_at = Timestamptz()
    updated_at = Timestamptz()


def to_tenant(row: dict[str, Any]) -> tenancy.Tenant:
    return tenancy.Tenant(
        id=row["id"],
        slug=row["slug"],
        name=row["name"],
        modules=frozenset(row["modules"] or ()),
        extensions=frozenset(row["extensions"] or ()),
        settings=db.json_field(row["settings"]),
    )


async def create(
    *, slug: str, name: str, modules: Iterable[str], extensions: Iterable[str] = (),
    actor: audit.Actor = audit.INTERNAL,
) -> tenancy.Tenant:
    tenancy.check_slug(slug)
    extensions = sorted(extensions)
    modules = sorted(tenancy.check_modules(modules, extensions))
    async with db.platform() as tx:
        if await TenantTable.exists().where(TenantTable.slug == slug):
            raise Conflict(f"tenant {slug!r} already exists")
        try:
            rows = await TenantTable.insert(
                TenantTable(slug=slug, name=name, modules=modules, extensions=extensions)
            ).returning(*TenantTable.all_columns())
        except asyncpg.UniqueViolationError:
            raise Conflict(f"tenant {slug!r} already exists") from None
        tenant = to_tenant(rows[0])
        await trail.record(
            tx.connection, actor, "tenant.created", "tenant", str(tenant.id), tenant_id=None,
            after=audited(tenant),
        )
    return tenant


def audited(tenant: tenancy.Tenant) -> dict[str, object]:
    """What the platform's audit trail keeps of a tenant (tenant settings may hold secrets of
    other features: they are recorded by those features' own actions)."""
    return {
        "slug": tenant.slug, "name": tenant.name, "modules": sorted(tenant.modules),
        "extensions": sorted(tenant.extensions),
    }


async def get(tenant_id: UUID) -> tenancy.Tenant:
    async with db.platform():
        row = await TenantTable.select().where(TenantTable.id == tenant_id).first()
    if row is None:
        raise NotFound("tenant not found")
    return to_tenant(row)


async def get_by_slug(slug: str) -> tenancy.Tenant:
    async with db.platform():
        row = await TenantTable.select().where(TenantTable.slug == slug).first()
    if row is None:
        raise NotFound(f"tenant {slug!r} not found")
    return to_tenant(row)


async def list_all() -> list[tenancy.Tenant]:
    async with db.platform():
        rows = await TenantTable.select().order_by(TenantTable.slug)
    return [to_tenant(row) for row in rows]


async def set_modules(
    *, tenant_id: UUID, modules: Iterable[str], extensions: Iterable[str] | None = None,
    actor: audit.Actor = audit.INTERNAL,
) -> tenancy.Tenant:
    async with db.platform() as tx:
        found = await tx.connection.fetchrow("select * from tenants where id = $1 for update", tenant_id)
        if found is None:
            raise NotFound("tenant not found")
        current = to_tenant(dict(found))
        extensions = sorted(current.extensions if extensions is None else extensions)
        enabled = sorted(tenancy.check_modules(modules, extensions))
        rows = await TenantTable.update(
            {
                TenantTable.modules: enabled,
                TenantTable.extensions: extensions,
                TenantTable.updated_at: datetime.now(UTC),
            }
        ).where(TenantTable.id == tenant_id).returning(*TenantTable.all_columns())
        changed = to_tenant(rows[0])
        await trail.record(
            tx.connection, actor, "tenant.modules_changed", "tenant", str(tenant_id), tenant_id=None,
            before=audited(current), after=audited(changed),
        )
        await credential_changes.announce(tx.connection)
    return changed
