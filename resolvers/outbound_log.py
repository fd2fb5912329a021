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
    page: pagination.Window,
) -> pagination.Page[outbound_log.Message]:
    ctx.require(tenancy.ADMIN)
    statuses = outbound_log.statuses(status)
    rows = await log_tables.list_messages(
        tenant_id=ctx.tenant_id, endpoint_id=endpoint_id, statuses=statuses,
        after=page.key(MESSAGES_ORDER), limit=page.size + 1,
        descending=pagination.scan_descending(True, page),
    )
    return pagination.paginate_window(
        rows, page, lambda m: (MESSAGES_ORDER, m.created_at, m.id),
        lambda: log_tables.count_messages(
            tenant_id=ctx.tenant_id, endpoint_id=endpoint_id, statuses=statuses
        ),
    )


async def attempts(
    ctx: Context, message_id: UUID, *, page: pagination.Window
) -> pagination.Page[outbound_log.Attempt]:
    ctx.require(tenancy.ADMIN)
    rows = await log_tables.list_attempts(
        message_id, tenant_id=ctx.tenant_id, after=page.key(ATTEMPTS_ORDER), limit=page.size + 1,
        descending=pagination.scan_descending(True, page),
    )
    return pagination.paginate_window(
        rows, page, lambda a: (ATTEMPTS_ORDER, a.attempted_at, a.id),
        lambda: log_tables.count_attempts(message_id, tenant_id=ctx.tenant_id),
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
