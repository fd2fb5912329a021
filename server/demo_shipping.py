"""Shipping demo data for `make run` (found by `server.demo` under the module's name): the paid
order half on its way, the fulfilled one delivered."""

from __future__ import annotations

from collections.abc import Sequence

from domain import events, orders, shipping, tenancy
from services import shipping as shipping_services
from tables import orders as order_tables

CARRIER = shipping.Tracking(carrier="DHL", service="Express", tracking_number="",
                            tracking_url="https://www.dhl.com/track")


async def seed(tenant: tenancy.Tenant, *, meta: events.WriteMeta) -> None:
    """After the demo orders: a shipment of the paid order's first line (the order stays paid)
    and one of every line of the fulfilled order, delivered."""
    found = await order_tables.list_orders(
        tenant_id=tenant.id, where=orders.OrderFilter(), sort=orders.OrderSort.CREATED_AT,
        descending=False, after=None, limit=10,
    )
    for order in found:
        lines = (await order_tables.lines_of([order.id], tenant_id=tenant.id))[order.id]
        if order.status == orders.OrderStatus.PAID:
            await _ship(tenant, order, lines[:1], [shipping.ShipmentStatus.SHIPPED], meta=meta)
        elif order.status == orders.OrderStatus.FULFILLED:
            steps = [shipping.ShipmentStatus.SHIPPED, shipping.ShipmentStatus.DELIVERED]
            await _ship(tenant, order, lines, steps, meta=meta)


async def _ship(
    tenant: tenancy.Tenant, order: orders.Order, lines: Sequence[orders.OrderLine],
    steps: Sequence[shipping.ShipmentStatus], *, meta: events.WriteMeta,
) -> None:
    draft = shipping.ShipmentDraft(
        order_id=order.id,
        lines=tuple(shipping.LineRequest(line.id, line.quantity) for line in lines),
        tracking=CARRIER,
    )
    made, _ = await shipping_services.create(draft, tenant_id=tenant.id, meta=meta)
    tracked = shipping.Tracking(tracking_number=f"DEMO{order.number:08d}")
    for step in steps:
        change = shipping.StatusChange(made.id, step, tracked)
        await shipping_services.change_status(change, tenant_id=tenant.id, meta=meta)
