"""Payments: recording an authorization, capture or refund against an order, and the status
change it may cause."""

from __future__ import annotations

from uuid import UUID

from domain import events, orders, payments
from services import orders as order_services
from tables import db
from tables import events as outbox
from tables import orders as order_tables
from tables import payments as payment_tables


async def record(
    order_id: UUID, draft: payments.PaymentDraft, *, tenant_id: UUID, meta: events.WriteMeta
) -> tuple[payments.Payment, orders.Order]:
    """Record a payment under the order's row lock, so that concurrent captures or refunds
    see each other and never overshoot; a capture may make the order paid, a full refund
    refunded (with that change's effect on stock)."""
    async with db.transaction(tenant_id=tenant_id):
        order = await order_tables.lock(order_id, tenant_id=tenant_id)
        held = (await payment_tables.payments_of([order_id], tenant_id=tenant_id)).get(order_id, [])
        ledger = payments.Ledger.of(held)
        payments.check_against(order, ledger, draft)
        payment = await payment_tables.insert(order_id, draft, actor=meta.actor, tenant_id=tenant_id)
        after = ledger.plus(draft.kind, draft.amount.amount)
        made = events.draft(payments.EVENTS[draft.kind], payment.id, payments.payment_payload(payment, after))
        to = payments.status_after(order, after, draft.kind)
        if to is None:
            await outbox.append([made], tenant_id=tenant_id, meta=meta)
        else:
            order = await order_services.apply_status(
                order, to, tenant_id=tenant_id, meta=meta, preceding=[made]
            )
    return payment, order
