"""Key rotation and the browser origins allowed to call this tenant's API (admin scope)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from domain import origins, tenancy
from resolvers.context import Context
from services import access


async def rotate_api_key(
    ctx: Context, prefix: str, *, grace_seconds: int | None, expires_at: datetime | None
) -> access.Rotation:
    ctx.require(tenancy.ADMIN)
    seconds = ctx.settings.api_key_rotation_grace if grace_seconds is None else grace_seconds
    return await access.rotate_api_key(
        prefix, tenant_id=ctx.tenant_id, grace=timedelta(seconds=seconds), expires_at=expires_at,
        actor=ctx.actor,
    )


def allowed_origins(ctx: Context) -> list[str]:
    ctx.require(tenancy.ADMIN)
    return sorted(origins.of_tenant(ctx.tenant.settings))


async def set_allowed_origins(ctx: Context, allowed: Sequence[str]) -> list[str]:
    ctx.require(tenancy.ADMIN)
    return list(await access.set_allowed_origins(
        tenant_id=ctx.tenant_id, allowed=allowed, actor=ctx.actor
    ))
