"""A tenant's query cost plan: read by its own credentials, changed by platform keys only."""

from __future__ import annotations

from collections.abc import Mapping

from domain import throttling
from domain.errors import Forbidden
from resolvers.context import Context
from tables import tenant_limits


def cost_limits(ctx: Context) -> throttling.Plan:
    return throttling.plan_of(ctx.tenant, ctx.settings)


async def set_cost_limits(ctx: Context, changes: Mapping[str, float | None]) -> throttling.Plan:
    """Applies from the next request in every API process."""
    if not ctx.principal.is_platform:
        raise Forbidden("changing a tenant's limits needs a platform key")
    tenant = await tenant_limits.set_limits(
        tenant_id=ctx.tenant_id, changes=changes, actor=ctx.actor
    )
    return throttling.plan_of(tenant, ctx.settings)
