"""A tenant's allowed browser origins, kept in its settings under `allowedOrigins`."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

import orjson

from domain import audit, origins, tenancy
from domain.errors import NotFound
from tables import audit as trail
from tables import credential_changes, db, tenants

SET = """
update tenants
set settings = coalesce(settings, '{}'::jsonb) || jsonb_build_object($2::text, $3::text::jsonb),
    updated_at = now()
where id = $1
returning *
"""


async def set_allowed(
    *, tenant_id: UUID, allowed: Sequence[str], actor: audit.Actor = audit.INTERNAL
) -> tenancy.Tenant:
    """Replace the tenant's list (already checked) and announce it: every API process drops
    what it remembered of the tenant once this commits."""
    async with db.platform() as tx:
        before = await tx.connection.fetchval(
            "select settings -> $2 from tenants where id = $1 for update", tenant_id, origins.SETTING
        )
        row = await tx.connection.fetchrow(
            SET, tenant_id, origins.SETTING, orjson.dumps(list(allowed)).decode()
        )
        if row is None:
            raise NotFound("tenant not found")
        await trail.record(
            tx.connection, actor, "tenant.origins_changed", "tenant", str(tenant_id),
            tenant_id=tenant_id, before={"origins": orjson.loads(before) if before else []},
            after={"origins": list(allowed)},
        )
        await credential_changes.announce(tx.connection)
    return tenants.to_tenant(dict(row))
