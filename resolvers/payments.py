"""Payment resolvers: an order's payments through a loader, recording under the order's lock."""

from __future__ import annotations

from uuid import UUID

from domain import orders, payments
from domain.errors import require_valid
from resolvers import loaders, pagination
from resolvers import orders as resolve_orders
from resolvers.context import Context
from services import payments as payment_services
from tables import payments as payment_tables

READ = "payments:read"
WRITE = "payments:write"
ORDER = "created_at"


async def payment(ctx: Context, payment_id: UUID) -> payments.Payment | None:
    ctx.require(READ)
    return await ctx.loaders.payment.load(payment_id)


async def of_order(ctx: Context, order_id: UUID) -> list[payments.Payment]:
    ctx.require(READ)
    return await ctx.loaders.order_payments.load(order_id)


async def ledger(ctx: Context, order_id: UUID) -> payments.Ledger:
    return payments.Ledger.of(await of_order(ctx, order_id))


async def payments_page(
    ctx: Context,
    *,
    page: pagination.Window,
    where: payments.PaymentFilter,
    descending: bool,
) -> pagination.Page[payments.Payment]:
    ctx.require(READ)
    order = pagination.ordering(ORDER, descending)
    rows = await payment_tables.list_payments(
        tenant_id=ctx.tenant_id, where=where, descending=pagination.scan_descending(descending, page),
        after=page.key(order), limit=page.size + 1,
    )
    for row in rows:
        ctx.loaders.payment.prime(row.id, row)
    return pagination.paginate_window(
        rows, page, lambda p: (order, p.created_at, p.id),
        lambda: payment_tables.count_payments(tenant_id=ctx.tenant_id, where=where),
    )


async def record(
    ctx: Context, order_id: UUID, draft: payments.PaymentDraft
) -> tuple[payments.Payment, orders.Order]:
    ctx.require(WRITE)
    require_valid(payments.check_draft(draft))
    made, order = await payment_services.record(order_id, draft, tenant_id=ctx.tenant_id, meta=ctx.meta)
    loaders.forget(ctx.loaders.order_payments, order_id)
    resolve_orders.forget(ctx, order)
    return made, order
