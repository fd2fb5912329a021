"""Shipment resolvers: reads through loaders, shipping and status changes under the order's lock."""

from __future__ import annotations

from uuid import UUID

from domain import orders, shipping
from domain.errors import require_valid
from resolvers import loaders, pagination
from resolvers import orders as resolve_orders
from resolvers.context import Context
from services import shipping as shipping_services
from tables import shipping as shipping_tables

READ = "shipping:read"
WRITE = "shipping:write"
ORDER = "created_at"
SHIPMENT = loaders.Key.by_key(shipping_tables.get_shipments)
ORDER_SHIPMENTS = loaders.Key.grouped(shipping_tables.shipments_of)


async def shipment(ctx: Context, shipment_id: UUID) -> shipping.Shipment | None:
    ctx.require(READ)
    return await ctx.loaders.of(SHIPMENT).load(shipment_id)


async def of_order(ctx: Context, order_id: UUID) -> list[shipping.Shipment]:
    ctx.require(READ)
    return await ctx.loaders.of(ORDER_SHIPMENTS).load(order_id)


async def shipments_page(
    ctx: Context,
    *,
    page: pagination.Window,
    where: shipping.ShipmentFilter,
    descending: bool,
) -> pagination.Page[shipping.Shipment]:
    ctx.require(READ)
    order = pagination.ordering(ORDER, descending)
    rows = await shipping_tables.list_shipments(
        tenant_id=ctx.tenant_id, where=where, descending=pagination.scan_descending(descending, page),
        after=page.key(order), limit=page.size + 1,
    )
    for row in rows:
        ctx.loaders.of(SHIPMENT).prime(row.id, row)
    return pagination.paginate_window(
        rows, page, lambda s: (order, s.created_at, s.id),
        lambda: shipping_tables.count_shipments(tenant_id=ctx.tenant_id, where=where),
    )


async def create(
    ctx: Context, draft: shipping.ShipmentDraft
) -> tuple[shipping.Shipment, orders.Order]:
    ctx.require(WRITE)
    require_valid(shipping.check_draft(draft))
    made, order = await shipping_services.create(draft, tenant_id=ctx.tenant_id, meta=ctx.meta)
    _forget(ctx, made, order)
    return made, order


async def change_status(
    ctx: Context, change: shipping.StatusChange
) -> tuple[shipping.Shipment, orders.Order]:
    ctx.require(WRITE)
    require_valid(shipping.check_tracking(change.tracking))
    changed, order = await shipping_services.change_status(change, tenant_id=ctx.tenant_id, meta=ctx.meta)
    _forget(ctx, changed, order)
    return changed, order


def _forget(ctx: Context, changed: shipping.Shipment, order: orders.Order) -> None:
    loaders.forget(ctx.loaders.of(SHIPMENT), changed.id)
    loaders.forget(ctx.loaders.of(ORDER_SHIPMENTS), order.id)
    ctx.loaders.of(SHIPMENT).prime(changed.id, changed)
    resolve_orders.forget(ctx, order)
