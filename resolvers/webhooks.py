"""Webhook endpoints and deliveries, for a tenant's admins."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from domain import tenancy, webhooks
from domain.errors import Invalid
from resolvers import pagination
from resolvers.context import Context
from services import deliveries as delivery_services
from tables import webhooks as webhook_tables


async def endpoints(ctx: Context) -> list[webhooks.Endpoint]:
    ctx.require(tenancy.ADMIN)
    return await webhook_tables.list_endpoints(tenant_id=ctx.tenant_id)


async def create_endpoint(ctx: Context, flow: str, verify_token: str | None) -> webhooks.Endpoint:
    ctx.require(tenancy.ADMIN)
    return await webhook_tables.create_endpoint(
        flow, tenant_id=ctx.tenant_id, verify_token=verify_token, actor=ctx.actor
    )


async def rotate_secret(ctx: Context, flow: str) -> webhooks.Endpoint:
    ctx.require(tenancy.ADMIN)
    return await webhook_tables.rotate_secret(flow, tenant_id=ctx.tenant_id, actor=ctx.actor)


async def drop_previous_secret(ctx: Context, flow: str) -> webhooks.Endpoint:
    ctx.require(tenancy.ADMIN)
    return await webhook_tables.drop_previous_secret(flow, tenant_id=ctx.tenant_id, actor=ctx.actor)


async def set_endpoint(
    ctx: Context, flow: str, enabled: bool | None, verify_token: str | None
) -> webhooks.Endpoint:
    ctx.require(tenancy.ADMIN)
    return await webhook_tables.set_endpoint(
        flow, tenant_id=ctx.tenant_id, enabled=enabled, verify_token=verify_token, actor=ctx.actor
    )


async def deliveries(
    ctx: Context,
    *,
    status: webhooks.DeliveryStatus | None,
    flow: str | None,
    since: datetime | None,
    until: datetime | None,
    page: pagination.Window,
) -> pagination.Page[webhooks.Delivery]:
    ctx.require(tenancy.ADMIN)
    order = "received_at:desc"
    rows = await webhook_tables.list_deliveries(
        tenant_id=ctx.tenant_id, status=status, flow=flow, since=since, until=until,
        after=page.key(order), limit=page.size + 1,
        descending=pagination.scan_descending(True, page),
    )
    return pagination.paginate_window(
        rows, page, lambda d: (order, d.received_at, d.id),
        lambda: webhook_tables.count_deliveries(
            tenant_id=ctx.tenant_id, status=status, flow=flow, since=since, until=until
        ),
    )


async def replay(
    ctx: Context,
    *,
    ids: list[UUID] | None,
    flow: str | None,
    since: datetime | None,
    until: datetime | None,
) -> list[UUID]:
    """Queue dead (or failed) deliveries again, by id or by flow and time range."""
    ctx.require(tenancy.ADMIN)
    if ids is None and flow is None and since is None and until is None:
        raise Invalid(
            "name deliveries by ids, or by flow and/or time range",
            fields={"input": "name ids, a flow, or a since/until range"},
        )

    async def wake(woken: str) -> None:
        await ctx.jobs.wake_deliveries(tenant_id=ctx.tenant_id, flow=woken)

    return await delivery_services.replay(
        wake, tenant_id=ctx.tenant_id, ids=ids, flow=flow, since=since, until=until,
        actor=ctx.actor,
    )
