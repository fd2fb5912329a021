"""Order resolvers: reads through loaders, creation and status changes through services."""

from __future__ import annotations

from uuid import UUID

from domain import catalog, orders
from domain.errors import require_valid
from resolvers import catalog as resolve_catalog
from resolvers import loaders, pagination
from resolvers.context import Context
from services import orders as order_services
from tables import orders as order_tables

READ = "orders:read"
WRITE = "orders:write"
HISTORY_ORDER = "created_at:desc"
SORT_KINDS = pagination.sort_kinds(orders.OrderSort, orders.Order)


async def order(ctx: Context, order_id: UUID) -> orders.Order | None:
    ctx.require(READ)
    return await ctx.loaders.order.load(order_id)


async def order_by_number(ctx: Context, number: int) -> orders.Order | None:
    ctx.require(READ)
    return await ctx.loaders.order_by_number.load(number)


async def orders_page(
    ctx: Context,
    *,
    page: pagination.Window,
    where: orders.OrderFilter,
    sort: orders.OrderSort,
    descending: bool,
) -> pagination.Page[orders.Order]:
    ctx.require(READ)
    order_key = pagination.ordering(sort.value, descending)
    rows = await order_tables.list_orders(
        tenant_id=ctx.tenant_id, where=where, sort=sort,
        descending=pagination.scan_descending(descending, page),
        after=page.key(order_key, SORT_KINDS[sort.value]), limit=page.size + 1,
    )
    _prime(ctx, rows)
    return pagination.paginate_window(
        rows, page, lambda o: (order_key, getattr(o, sort.value), o.id),
        lambda: order_tables.count_orders(tenant_id=ctx.tenant_id, where=where),
    )


async def customer_orders(
    ctx: Context,
    customer_id: UUID,
    *,
    page: pagination.Window,
    status: orders.OrderStatus | None,
) -> pagination.Page[orders.Order]:
    """A customer's order history, newest first; customers of one page share one query."""
    ctx.require(READ)
    rows = await ctx.loaders.order_history.load(orders.HistoryKey(
        customer_id=customer_id, limit=page.size + 1, after=page.key(HISTORY_ORDER),
        status=status, backward=page.backward,
    ))
    _prime(ctx, rows)
    where = orders.OrderFilter(status=status, customer_id=customer_id)
    return pagination.paginate_window(
        rows, page, lambda o: (HISTORY_ORDER, o.created_at, o.id),
        lambda: order_tables.count_orders(tenant_id=ctx.tenant_id, where=where),
    )


async def lines(ctx: Context, order_id: UUID) -> list[orders.OrderLine]:
    ctx.require(READ)
    return await ctx.loaders.order_lines.load(order_id)


async def variant(ctx: Context, variant_id: UUID) -> catalog.Variant | None:
    """The variant a line was made from, as it is now (the line keeps its own snapshot)."""
    ctx.require(resolve_catalog.READ)
    return await ctx.loaders.variant.load(variant_id)


async def create_order(ctx: Context, request: orders.OrderRequest) -> orders.Order:
    ctx.require(WRITE)
    require_valid(orders.check_request(request))
    created = await order_services.create_order(
        request, price_list=request.price_list or ctx.price_list,
        tenant_id=ctx.tenant_id, meta=ctx.meta,
    )
    _prime(ctx, [created])
    return created


async def change_status(ctx: Context, order_id: UUID, to: orders.OrderStatus) -> orders.Order:
    """markPaid, fulfil, cancel and refund: one step of the status machine each."""
    ctx.require(WRITE)
    changed = await order_services.change_status(order_id, to, tenant_id=ctx.tenant_id, meta=ctx.meta)
    forget(ctx, changed)
    return changed


def forget(ctx: Context, changed: orders.Order) -> None:
    """Drop what this request's loaders hold of an order that has just changed."""
    loaders.forget(ctx.loaders.order, changed.id)
    loaders.forget(ctx.loaders.order_by_number, changed.number)
    _prime(ctx, [changed])


def _prime(ctx: Context, rows: list[orders.Order]) -> None:
    for row in rows:
        ctx.loaders.order.prime(row.id, row)
        ctx.loaders.order_by_number.prime(row.number, row)
