"""Order resolvers: reads through loaders, creation and status changes through services."""

from __future__ import annotations

from uuid import UUID

from domain import catalog, orders
from domain.errors import require_valid
from resolvers import catalog as catalog_resolvers
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
    first: int | None,
    after: str | None,
    where: orders.OrderFilter,
    sort: orders.OrderSort,
    descending: bool,
) -> pagination.Page[orders.Order]:
    ctx.require(READ)
    size = pagination.page_size(first, ctx.settings.max_page_size)
    order_key = pagination.ordering(sort.value, descending)
    key = None if after is None else pagination.decode(after, order_key, SORT_KINDS[sort.value])
    rows = await order_tables.list_orders(
        tenant_id=ctx.tenant_id, where=where, sort=sort, descending=descending,
        after=key, limit=size + 1,
    )
    _prime(ctx, rows)
    return pagination.paginate(
        rows, size, lambda o: (order_key, getattr(o, sort.value), o.id), after is not None
    )


async def customer_orders(
    ctx: Context,
    customer_id: UUID,
    *,
    first: int | None,
    after: str | None,
    status: orders.OrderStatus | None,
) -> pagination.Page[orders.Order]:
    """A customer's order history, newest first; customers of one page share one query."""
    ctx.require(READ)
    size = pagination.page_size(first, ctx.settings.max_page_size)
    key = None if after is None else pagination.decode(after, HISTORY_ORDER)
    rows = await ctx.loaders.order_history.load(
        orders.HistoryKey(customer_id=customer_id, limit=size + 1, after=key, status=status)
    )
    _prime(ctx, rows)
    return pagination.paginate(
        rows, size, lambda o: (HISTORY_ORDER, o.created_at, o.id), after is not None
    )


async def lines(ctx: Context, order_id: UUID) -> list[orders.OrderLine]:
    ctx.require(READ)
    return await ctx.loaders.order_lines.load(order_id)


async def variant(ctx: Context, variant_id: UUID) -> catalog.Variant | None:
    """The variant a line was made from, as it is now (the line keeps its own snapshot)."""
    ctx.require(catalog_resolvers.READ)
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
