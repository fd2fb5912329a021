"""The tenant itself: who am I, its API keys, and which modules it has enabled."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from domain import credentials, tenancy
from domain.errors import Forbidden
from resolvers.context import Context
from services import access
from tables import api_keys, tenants


def viewer_tenant(ctx: Context) -> tenancy.Tenant:
    return ctx.tenant


async def list_api_keys(ctx: Context) -> list[credentials.ApiKey]:
    ctx.require(tenancy.ADMIN)
    return await api_keys.list_for_tenant(tenant_id=ctx.tenant_id)


async def create_api_key(
    ctx: Context, *, name: str, scopes: Sequence[str], expires_at: datetime | None = None
) -> tuple[credentials.ApiKey, str]:
    ctx.require(tenancy.ADMIN)
    return await access.create_api_key(
        tenant_id=ctx.tenant_id, name=name, scopes=scopes, expires_at=expires_at,
        actor=ctx.actor,
    )


async def revoke_api_key(ctx: Context, prefix: str) -> credentials.ApiKey:
    ctx.require(tenancy.ADMIN)
    return await api_keys.revoke(prefix, tenant_id=ctx.tenant_id, actor=ctx.actor)


async def set_modules(
    ctx: Context, *, modules: Sequence[str], extensions: Sequence[str] | None
) -> tenancy.Tenant:
    """Only a platform operator changes what a tenant has; it shows on the next request."""
    if not ctx.principal.is_platform:
        raise Forbidden("changing a tenant's modules needs a platform key")
    return await tenants.set_modules(
        tenant_id=ctx.tenant_id, modules=modules, extensions=extensions, actor=ctx.actor
    )
