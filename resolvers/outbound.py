"""Webhooks out, the endpoints, for a tenant's admins."""

from __future__ import annotations

from uuid import UUID

from domain import outbound, tenancy
from resolvers.context import Context
from services import outbound as outbound_services


def _policy(ctx: Context) -> outbound_services.Policy:
    ctx.require(tenancy.ADMIN)
    return outbound_services.Policy.of(ctx.settings)


async def endpoints(ctx: Context) -> list[outbound.Endpoint]:
    ctx.require(tenancy.ADMIN)
    return await outbound_services.list_all(tenant_id=ctx.tenant_id)


async def endpoint(ctx: Context, endpoint_id: UUID) -> outbound.Endpoint:
    ctx.require(tenancy.ADMIN)
    return await outbound_services.get(endpoint_id, tenant_id=ctx.tenant_id)


async def create(ctx: Context, draft: outbound.Draft) -> outbound_services.WithSecret:
    return await outbound_services.create(
        draft, tenant_id=ctx.tenant_id, policy=_policy(ctx), actor=ctx.actor
    )


async def update(ctx: Context, endpoint_id: UUID, changes: outbound.Changes) -> outbound.Endpoint:
    return await outbound_services.update(
        endpoint_id, changes, tenant_id=ctx.tenant_id, policy=_policy(ctx), actor=ctx.actor
    )


async def rotate_secret(ctx: Context, endpoint_id: UUID) -> outbound_services.WithSecret:
    return await outbound_services.rotate_secret(
        endpoint_id, tenant_id=ctx.tenant_id, policy=_policy(ctx), actor=ctx.actor
    )


async def delete(ctx: Context, endpoint_id: UUID) -> outbound.Endpoint:
    ctx.require(tenancy.ADMIN)
    return await outbound_services.delete(endpoint_id, tenant_id=ctx.tenant_id, actor=ctx.actor)
