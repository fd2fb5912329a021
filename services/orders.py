"""Orders: creation (priced, reserved, numbered), imports from other systems, and status
changes with their effect on stock, each in one transaction with its events."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from uuid import UUID, uuid4

from domain import events, imports, inventory, orders
from domain.errors import Conflict, Invalid, NotFound
from services import inventory as inventory_services
from tables import catalog as catalog_tables
from tables import customers as customer_tables
from tables import db
from tables import events as outbox
from tables import order_inputs as input_tables
from tables import order_writes as write_tables
from tables import orders as order_tables
from tables import pricing as pricing_tables

STOCK_EFFECTS: dict[orders.StockEffect, Callable[..., Awaitable[None]]] = {
    orders.StockEffect.COMMIT: inventory_services.commit_reservations,
    orders.StockEffect.RELEASE: inventory_services.release_reservations,
    orders.StockEffect.RESTOCK: inventory_services.restock,
}


async def create_order(
    request: orders.OrderRequest,
    *,
    price_list: str | None,
    tenant_id: UUID,
    meta: events.WriteMeta,
) -> orders.Order:
    """Price, total, number and reserve stock for a new order, all in one transaction.

    With an idempotency key, the same request again returns the first order (nothing new is
    written) and another request under that key is a conflict, also when both race: the loser
    of a race hits the unique key, rolls back and compares with the winner, so call this as
    the outermost unit of work."""
    digest = orders.request_hash(request, price_list)
    key = request.idempotency_key
    try:
        return await _create(request, digest, price_list, tenant_id=tenant_id, meta=meta)
    except order_tables.KeyTaken:
        if key is None:
            raise
    winner = await order_tables.by_idempotency_key(key, tenant_id=tenant_id)
    if winner is None:
        raise Conflict("a concurrent request with this idempotency key did not finish; retry")
    return orders.replay(winner, digest)


async def _create(
    request: orders.OrderRequest,
    digest: str,
    price_list: str | None,
    *,
    tenant_id: UUID,
    meta: events.WriteMeta,
) -> orders.Order:
    async with db.transaction(tenant_id=tenant_id, generic_plans=True):
        if request.idempotency_key is not None:
            existing = await order_tables.by_idempotency_key(request.idempotency_key, tenant_id=tenant_id)
            if existing is not None:
                return orders.replay(existing, digest)
        price_list_id = await _price_list_id(request, price_list, tenant_id=tenant_id)
        draft, levels = await _priced(request, price_list_id, tenant_id=tenant_id)
        plan = inventory_services.plan_locked(
            [(line.variant_id, line.quantity) for line in draft.lines], levels,
            {line.variant_id: line.sku for line in draft.lines},
        )
        order_id = uuid4()
        created = events.draft("order.created", order_id, orders.unnumbered_payload(
            order_id, request.customer_id, orders.OrderStatus.PENDING, draft.totals, draft.lines
        ))
        return await write_tables.place(
            order_id, draft, plan, customer_id=request.customer_id, price_list_id=price_list_id,
            idempotency_key=request.idempotency_key, request_hash=digest,
            logged=inventory_services.planned_reserved_events(order_id, plan), created=created,
            meta=meta, tenant_id=tenant_id,
        )


async def _priced(
    request: orders.OrderRequest, price_list_id: UUID | None, *, tenant_id: UUID
) -> tuple[orders.OrderDraft, list[inventory.StockLevel]]:
    """The lines at today's prices (a snapshot that later price changes do not touch) and the
    stock rows of their variants, locked. The customer, variants, products, prices and stock
    come in one read; an unknown customer is reported before any line."""
    ids = [line.variant_id for line in request.lines if line.variant_id is not None]
    skus = [line.sku for line in request.lines if line.sku is not None]
    found = await input_tables.order_inputs(
        ids, skus, customer_id=request.customer_id, price_list_id=price_list_id, tenant_id=tenant_id
    )
    if not found.customer_found:
        raise Invalid("customer not found", fields={"input.customerId": "no such customer"})
    variants = orders.resolve_lines(request, found.by_id, found.by_sku)
    orders.check_on_sale(request, variants, found.products)
    currency, priced = orders.price_lines(request, variants, found.products, found.quotes)
    return orders.draft_order(currency, priced, request.discount), found.levels


async def _price_list_id(
    request: orders.OrderRequest, handle: str | None, *, tenant_id: UUID
) -> UUID | None:
    if handle is None:
        return None
    path = "input.priceList" if request.price_list is not None else "priceList"
    try:
        found = await pricing_tables.get_price_list_by_handle(handle, tenant_id=tenant_id)
    except (Invalid, NotFound):
        raise Invalid(f"price list {handle!r} not found", fields={path: "no such price list"}) from None
    return found.id


async def _check_customer(customer_id: UUID | None, *, tenant_id: UUID) -> None:
    if customer_id is None:
        return
    if not await customer_tables.get_customers([customer_id], tenant_id=tenant_id):
        raise Invalid("customer not found", fields={"input.customerId": "no such customer"})


async def import_order(
    request: imports.ImportRequest,
    *,
    move_stock: Callable[[orders.Order, Sequence[orders.LineDraft]], Awaitable[object]],
    customer: Callable[[], Awaitable[UUID]] | None = None,
    tenant_id: UUID,
    meta: events.WriteMeta,
) -> tuple[orders.Order, bool]:
    """Record an order placed elsewhere once per external reference: (the order, whether this
    call created it). `move_stock` reserves or moves its stock, then `customer` finds or creates
    its customer. Locks are taken in the order every writer keeps, so that none deadlock: stock
    rows, then (at commit) the event counter."""
    async with db.transaction(tenant_id=tenant_id):
        existing = await order_tables.by_external_ref(request.external_ref, tenant_id=tenant_id)
        if existing is not None:
            return existing, False
        await _check_customer(request.customer_id, tenant_id=tenant_id)
        draft = await _imported(request, tenant_id=tenant_id)
        order = await order_tables.insert(
            draft, customer_id=request.customer_id, external_ref=request.external_ref, tenant_id=tenant_id
        )
        await move_stock(order, draft.lines)
        buyer = None if customer is None else await customer()
        order = await order_tables.numbered(order.id, buyer, tenant_id=tenant_id)
        payload = {**orders.created_payload(order, draft.lines), "externalRef": request.external_ref}
        created = events.draft("order.created", order.id, payload)
        await outbox.append([created], tenant_id=tenant_id, meta=meta)
    return order, True


async def _imported(request: imports.ImportRequest, *, tenant_id: UUID) -> orders.OrderDraft:
    skus = sorted({line.sku for line in request.lines})
    variants, products = await catalog_tables.variants_by_sku_with_products(skus, tenant_id=tenant_id)
    unknown = {
        f"{request.path}.items[{i}].sku": "unknown sku"
        for i, line in enumerate(request.lines) if line.sku not in variants
    }
    if unknown:
        raise Invalid("unknown sku", fields=unknown)
    if request.listed_prices and not imports.at_base_prices(request, variants):
        ids = [variant.id for variant in variants.values()]
        listed = await pricing_tables.prices_of(ids, tenant_id=tenant_id)
        imports.check_listed_prices(request, variants, listed)
    return imports.imported_draft(request, variants, products)


async def change_status(
    order_id: UUID, to: orders.OrderStatus, *, tenant_id: UUID, meta: events.WriteMeta
) -> orders.Order:
    async with db.transaction(tenant_id=tenant_id):
        current = await order_tables.lock(order_id, tenant_id=tenant_id)
        return await apply_status(current, to, tenant_id=tenant_id, meta=meta)


async def apply_status(
    current: orders.Order,
    to: orders.OrderStatus,
    *,
    tenant_id: UUID,
    meta: events.WriteMeta,
    preceding: Sequence[events.Draft] = (),
) -> orders.Order:
    """Move a locked order to `to` in the caller's transaction, with its effect on stock;
    an illegal move is a Conflict and changes nothing. `preceding` events (the payment that
    caused the move) come after the stock's events and just before the status change."""
    orders.check_transition(current, to)
    effect = STOCK_EFFECTS.get(orders.stock_effect(current.status, to))
    if effect is not None:
        await effect(current.id, tenant_id=tenant_id, meta=meta)
    order = await order_tables.set_status(current.id, to, tenant_id=tenant_id)
    changed = events.draft("order.status_changed", order.id, orders.status_payload(order, current.status))
    await outbox.append([*preceding, changed], tenant_id=tenant_id, meta=meta)
    return order
