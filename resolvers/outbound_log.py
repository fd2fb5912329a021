"""The delivery log of outgoing webhooks, for a tenant's admins: messages, attempts,
redelivery and recovery."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from domain import outbound_log, tenancy
from resolvers import pagination
from resolvers.context import Context
from services import outbound_log as log_services
from tables import outbound_log as log_tables

MESSAGES_ORDER = "created_at:desc"
ATTEMPTS_ORDER = "attempted_at:desc"


async def messages(
    ctx: Context,
    *,
    endpoint_id: UUID | None,
    status: outbound_log.StatusFilter | None,
    first: int | None,
    after: str | None,
) -> pagination.Page[outbound_log.Message]:
    ctx.require(tenancy.ADMIN)
    size = pagination.page_size(first, ctx.settings.max_page_size)
    key = None if after is None else pagination.decode(after, MESSAGES_ORDER)
    rows = await log_tables.list_messages(
        tenant_id=ctx.tenant_id, endpoint_id=endpoint_id, statuses=outbound_log.statuses(status),
        after=key, limit=size + 1,
    )
    return pagination.paginate(rows, size, lambda m: (MESSAGES_ORDER, m.created_at, m.id), after is not None)


async def attempts(
    ctx: Context, message_id: UUID, *, first: int | None, after: str | None
) -> pagination.Page[outbound_log.Attempt]:
    ctx.require(tenancy.ADMIN)
    size = pagination.page_size(first, ctx.settings.max_page_size)
    key = None if after is None else pagination.decode(after, ATTEMPTS_ORDER)
    rows = await log_tables.list_attempts(message_id, tenant_id=ctx.tenant_id, after=key, limit=size + 1)
    return pagination.paginate(
        rows, size, lambda a: (ATTEMPTS_ORDER, a.attempted_at, a.id), after is not None
    )


async def redeliver(ctx: Context, message_id: UUID) -> outbound_log.Message:
    ctx.require(tenancy.ADMIN)
    return await log_services.redeliver(
        ctx.jobs.enqueue_job, message_id, tenant_id=ctx.tenant_id, actor=ctx.actor
    )


async def recover(ctx: Context, endpoint_id: UUID, since: datetime) -> str:
    ctx.require(tenancy.ADMIN)
    return await log_services.request_recovery(
        ctx.jobs.enqueue_job, endpoint_id, since, tenant_id=ctx.tenant_id, actor=ctx.actor
    )
