"""purchase-flow deliveries applied as a batch, with set-based statements: the same effect
as flows.apply_purchase called for each purchase in input order, in a constant number of round
trips per batch (each kind of row read and written by one statement for the whole batch).

Every read and write joins the caller's transaction (the batch's, with the tenant's setting):
the references already imported, the variants and products of every sku, their listed prices
(only when a purchase is off base prices), the customers of every email, then the stock rows
locked once in the order every writer keeps (variant, location), so that this never deadlocks
with createOrder or the per-delivery path over stock. The purchases are checked and planned in
Python (domain.purchase_batches); a refused one gets the error the per-delivery path raises and
nothing of it is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from domain import events, flows, pricing
from domain import purchase_batches as batches
from domain.errors import DomainError
from tables import catalog as catalog_tables
from tables import customers as customer_tables
from tables import db, order_batches
from tables import events as outbox
from tables import pricing as pricing_tables


async def apply_purchases(
    batch: Sequence[tuple[flows.Payload, events.WriteMeta]], tenant_id: UUID
) -> list[DomainError | None]:
    """One outcome per purchase, in input order: None when applied (or imported before, under
    the same external reference), else the error that refused it, with nothing of it written."""
    purchases = [_purchase(payload, meta) for payload, meta in batch]
    if not purchases:
        return []
    async with db.transaction(tenant_id=tenant_id):
        imported = await order_batches.imported(
            [p.request.external_ref for p in purchases], tenant_id=tenant_id
        )
        shop = await _shop(purchases, tenant_id=tenant_id)
        emails = [p.buyer.email for p in purchases if p.buyer is not None]
        known = await customer_tables.customers_by_email(emails, tenant_id=tenant_id) if emails else {}
        drafted = batches.drafts(purchases, shop)
        wanted = [
            line.variant_id
            for p, d in zip(purchases, drafted, strict=True)
            if p.request.external_ref not in imported and not isinstance(d, DomainError)
            for line in d.lines
        ]
        levels = await order_batches.lock_for_sale(wanted, tenant_id=tenant_id)
        outcomes, applied = batches.plan(
            purchases, drafted, imported=imported, levels=levels,
            known={key: customer.id for key, customer in known.items()},
        )
        if applied:
            await _write(applied, tenant_id=tenant_id)
    return outcomes


def _purchase(payload: flows.Payload, meta: events.WriteMeta) -> batches.Purchase:
    assert isinstance(payload, flows.Purchase), "a purchase-flow batch holds purchases"
    return batches.Purchase(batches.import_request(payload), payload.customer, meta)


async def _shop(purchases: Sequence[batches.Purchase], *, tenant_id: UUID) -> batches.Shop:
    variants, products = await catalog_tables.variants_by_sku_with_products(
        batches.skus(purchases), tenant_id=tenant_id
    )
    listed: dict[UUID, list[pricing.Quote]] = {}
    if batches.needs_listed_prices(purchases, variants):
        ids = [variant.id for variant in variants.values()]
        listed = await pricing_tables.prices_of(ids, tenant_id=tenant_id)
    return batches.Shop(variants, products, listed)


async def _write(applied: Sequence[batches.Applied], *, tenant_id: UUID) -> None:
    made = await order_batches.insert_customers(
        [(a.customer_id, a.new_customer) for a in applied
         if a.customer_id is not None and a.new_customer is not None],
        tenant_id=tenant_id,
    )
    written = await order_batches.insert_orders(
        [(a.order_id, a.draft, a.customer_id, a.purchase.request.external_ref) for a in applied],
        tenant_id=tenant_id,
    )
    await order_batches.hold(
        [(a.order_id, after, quantity) for a in applied for after, quantity in a.holds],
        tenant_id=tenant_id,
    )
    for a in applied:
        created = made.get(a.customer_id) if a.customer_id is not None and a.new_customer else None
        drafts = batches.emitted(a, written[a.order_id], created)
        await outbox.append(drafts, tenant_id=tenant_id, meta=a.purchase.meta)
