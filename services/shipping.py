"""Shipping: shipments of a paid order's units, and the status steps that may fulfil the order,
each under the order's row lock in one transaction with its events."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from domain import events, orders, shipping
from services import orders as order_services
from tables import db
from tables import events as outbox
from tables import orders as order_tables
from tables import shipping as shipping_tables


async def create(
    draft: shipping.ShipmentDraft, *, tenant_id: UUID, meta: events.WriteMeta
) -> tuple[shipping.Shipment, orders.Order]:
    """A pending shipment of some of an order's units, under the order's row lock, so that
    concurrent shipments of one order never ship a unit twice."""
    async with db.transaction(tenant_id=tenant_id):
        order = await order_tables.lock(draft.order_id, tenant_id=tenant_id)
        lines = (await order_tables.lines_of([order.id], tenant_id=tenant_id)).get(order.id, [])
        held = (await shipping_tables.shipments_of([order.id], tenant_id=tenant_id)).get(order.id, [])
        shipping.check_against(order, lines, held, draft)
        shipment = await shipping_tables.insert(draft, tenant_id=tenant_id)
        created = events.draft(shipping.CREATED, shipment.id, shipping.created_payload(shipment))
        await outbox.append([created], tenant_id=tenant_id, meta=meta)
    return shipment, order


async def change_status(
    change: shipping.StatusChange, *, tenant_id: UUID, meta: events.WriteMeta
) -> tuple[shipping.Shipment, orders.Order]:
    """One step of a shipment's status machine, under its order's row lock. The step that
    ships the order's last units fulfils the order through the orders' own status change
    (which commits its reserved stock), in the same transaction."""
    async with db.transaction(tenant_id=tenant_id):
        order_id = await shipping_tables.order_of(change.shipment_id, tenant_id=tenant_id)
        order = await order_tables.lock(order_id, tenant_id=tenant_id)
        held = (await shipping_tables.shipments_of([order.id], tenant_id=tenant_id))[order.id]
        [current] = [found for found in held if found.id == change.shipment_id]
        shipping.check_transition(current, change.to)
        if change.to == shipping.ShipmentStatus.SHIPPED:
            shipping.check_shippable(order)
        shipment = await shipping_tables.update(current, change, tenant_id=tenant_id)
        changed = events.draft(
            shipping.STATUS_CHANGED, shipment.id, shipping.status_payload(shipment, current.status)
        )
        after = [shipment if found.id == shipment.id else found for found in held]
        shipped = change.to == shipping.ShipmentStatus.SHIPPED
        if shipped and await _completes(order, after, tenant_id=tenant_id):
            order = await order_services.apply_status(
                order, orders.OrderStatus.FULFILLED, tenant_id=tenant_id, meta=meta, preceding=[changed]
            )
        else:
            await outbox.append([changed], tenant_id=tenant_id, meta=meta)
    return shipment, order


async def _completes(
    order: orders.Order, held: Sequence[shipping.Shipment], *, tenant_id: UUID
) -> bool:
    if order.status != orders.OrderStatus.PAID:
        return False
    lines = (await order_tables.lines_of([order.id], tenant_id=tenant_id)).get(order.id, [])
    return shipping.completes(order, lines, held)
