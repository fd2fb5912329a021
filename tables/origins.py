"""A tenant's allowed browser origins, kept in its settings under `allowedOrigins`."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

import orjson

from domain import origins, tenancy
from domain.errors import NotFound
from tables import credential_changes, db, tenants

SET = """
update tenants
set settings = coalesce(settings, '{}'::jsonb) || jsonb_build_object($2::text, $3::text::jsonb),
    updated_at = now()
where id = $1
returning *
"""


async def set_allowed(*, tenant_id: UUID, allowed: Sequence[str]) -> tenancy.Tenant:
    """Replace the tenant's list (already checked) and announce it: every API process drops
    what it remembered of the tenant once this commits."""
    async with db.platform() as tx:
        row = await tx.connection.fetchrow(
            SET, tenant_id, origins.SETTING, orjson.dumps(list(allowed)).decode()
        )
        await credential_changes.announce(tx.connection)
    if row is None:
        raise NotFound("tenant not found")
    return tenants.to_tenant(dict(row))
