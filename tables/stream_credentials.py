"""What a stream token's credential holds now: its tenant and, for an API key, whether the key
is still usable and with which scopes (domain.stream_tokens, server.stream_tokens)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from domain import tenancy
from domain.errors import NotFound
from tables import db, tenants

TENANT_COLUMNS = "select id, slug, name, modules, extensions, settings from tenants where id = $1"
KEYS = """
select scopes, expires_at from api_keys
where prefix = $1 and tenant_id is not distinct from $2
  and revoked_at is null and (expires_at is null or expires_at > now())
"""


async def look_up(
    tenant_id: UUID, key_prefix: str | None, key_owner: UUID | None
) -> tuple[tenancy.Tenant, list[tuple[frozenset[str], datetime | None]] | None]:
    """The tenant and, unless `key_prefix` is None, the scopes and expiry of each usable API key
    of that prefix owned by `key_owner` (None: a platform key), in one transaction. Raises
    NotFound for an unknown tenant."""
    async with db.platform() as tx:
        row = await tx.connection.fetchrow(TENANT_COLUMNS, tenant_id)
        if row is None:
            raise NotFound("tenant not found")
        keys = None if key_prefix is None else [
            (frozenset(key["scopes"]), key["expires_at"])
            for key in await tx.connection.fetch(KEYS, key_prefix, key_owner)
        ]
    return tenants.to_tenant(dict(row)), keys
