"""Webhooks out, delivery, for a tenant's admins: a test message on demand."""

from __future__ import annotations

from uuid import UUID

from domain import tenancy
from resolvers.context import Context
from services import outbound_delivery as delivery_services


async def send_test(ctx: Context, endpoint_id: UUID) -> str:
    ctx.require(tenancy.ADMIN)
    return await delivery_services.send_test(
        ctx.jobs.enqueue_job, endpoint_id, tenant_id=ctx.tenant_id, actor=ctx.actor
    )
