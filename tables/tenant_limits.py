"""A tenant's own query-cost plan, kept in its settings (domain.throttling)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from uuid import UUID

import orjson

from domain import audit, tenancy, throttling
from domain.errors import NotFound
from tables import audit as trail
from tables import credential_changes, db
from tables.tenants import TenantTable, to_tenant


async def set_limits(
    *, tenant_id: UUID, changes: Mapping[str, float | None], actor: audit.Actor = audit.INTERNAL
) -> tenancy.Tenant:
    """Changes a tenant's plan (a None value goes back to the default). Every API process
    forgets the tenants it remembers when this commits, so the next request anywhere has it."""
    async with db.platform() as tx:
        row = await TenantTable.select(TenantTable.settings).where(
            TenantTable.id == tenant_id
        ).first()
        if row is None:
            raise NotFound("tenant not found")
        settings = db.json_field(row["settings"])
        own = throttling.merged(settings.get(throttling.LIMITS) or {}, changes)
        await tx.connection.execute(
            "update tenants set updated_at = $4,"
            " settings = coalesce(settings, '{}') || jsonb_build_object($2::text, $3::jsonb)"
            " where id = $1",
            tenant_id, throttling.LIMITS, orjson.dumps(own).decode(), datetime.now(UTC),
        )
        updated = await TenantTable.select().where(TenantTable.id == tenant_id).first()
        await trail.record(
            tx.connection, actor, "tenant.limits_changed", "tenant", str(tenant_id), tenant_id=None,
            before=settings.get(throttling.LIMITS) or {}, after=own,
        )
        await credential_changes.announce(tx.connection)
    assert updated is not None
    return to_tenant(updated)
