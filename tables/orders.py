"""Orders with price snapshots, their lines, and idempotency of creation."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg
from piccolo.columns import UUID as UUIDColumn
from piccolo.columns import BigInt, Integer, Timestamptz, Varchar
from piccolo.query import WhereRaw
from piccolo.table import Table

from domain import events, orders
from domain.errors import Conflict, Invalid, NotFound
from tables import catalog as catalog_tables
from tables import customers as customer_tables
from tables import db
from tables import events as outbox
from tables import inventory as inventory_tables
from tables import pricing as pricing_tables
from tables.engine import DB

IDEMPOTENCY_UNIQUE = "orders_tenant_id_idempotency_key_key"
HISTORY_HEAD = """
select * from (
    select o.*, row_number() over (
        partition by o.customer_id order by o.created_at desc, o.id desc
    ) as rank
    from orders o
    where """
HISTORY_TAIL = """
) ranked
where rank <= {}
order by customer_id, rank
"""
STOCK_EFFECTS: dict[orders.StockEffect, Callable[..., Awaitable[None]]] = {
    orders.StockEffect.COMMIT: inventory_tables.commit_reservations,
    orders.StockEffect.RELEASE: inventory_tables.release_reservations,
    orders.StockEffect.RESTOCK: inventory_tables.restock,
}


class OrderTable(Table, tablename="orders", db=DB):
    id = UUIDColumn(primary_key=True)
    tenant_id = UUIDColumn()
    number = BigInt(null=True, default=None)  # given last, see _numbered
    customer_id = UUIDColumn(null=True, default=None)
    status = Varchar(length=16, default="pending")
    currency = Varchar(length=3)
    price_list_id = UUIDColumn(null=True, default=None)
    subtotal = BigInt(default=0)
    discount_total = BigInt(default=0)
    tax_total = BigInt(default=0)
    total = BigInt(default=0)
    external_ref = Varchar(length=128, null=True, default=None)
    idempotency_key = Varchar(length=orders.MAX_KEY, null=True, default=None)
    request_hash = Varchar(length=64, null=True, default=None)
    created_at = Timestamptz()
    updated_at = Timestamptz()


class OrderLineTable(Table, tablename="order_lines", db=DB):
    id = UUIDColumn(primary_key=True)
    tenant_id = UUIDColumn()
    order_id = UUIDColumn()
    variant_id = UUIDColumn()
    sku = Varchar(length=64)
    title = Varchar(length=400, default="")
    quantity = Integer()
    unit_price = BigInt()
    discount = BigInt(default=0)
    line_total = BigInt()
    currency = Varchar(length=3)
    position = Integer(default=0)


def _order(row: Any) -> orders.Order:
    return orders.Order(
        id=row["id"],
        number=row["number"],
        customer_id=row["customer_id"],
        status=orders.OrderStatus(row["status"]),
        currency=row["currency"],
        price_list_id=row["price_list_id"],
        subtotal=row["subtotal"],
        discount_total=row["discount_total"],
        tax_total=row["tax_total"],
        total=row["total"],
        idempotency_key=row["idempotency_key"],
        request_hash=row["request_hash"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _line(row: Any) -> orders.OrderLine:
    return orders.OrderLine(
        id=row["id"],
        order_id=row["order_id"],
        variant_id=row["variant_id"],
        sku=row["sku"],
        title=row["title"],
        quantity=row["quantity"],
        unit_price=row["unit_price"],
        discount=row["discount"],
        line_total=row["line_total"],
        currency=row["currency"],
        position=row["position"],
    )


async def get_orders(ids: Sequence[UUID], *, tenant_id: UUID) -> dict[UUID, orders.Order]:
    async with db.transaction(tenant_id=tenant_id):
        rows = await OrderTable.select().where(
            OrderTable.tenant_id == tenant_id, OrderTable.id.is_in(list(ids))
        )
    return {row["id"]: _order(row) for row in rows}


async def orders_by_number(numbers: Sequence[int], *, tenant_id: UUID) -> dict[int, orders.Order]:
    async with db.transaction(tenant_id=tenant_id):
        rows = await OrderTable.select().where(
            OrderTable.tenant_id == tenant_id, OrderTable.number.is_in(list(numbers))
        )
    return {row["number"]: _order(row) for row in rows}


async def lines_of(
    order_ids: Sequence[UUID], *, tenant_id: UUID
) -> dict[UUID, list[orders.OrderLine]]:
    async with db.transaction(tenant_id=tenant_id):
        rows = await OrderLineTable.select().where(
            OrderLineTable.tenant_id == tenant_id, OrderLineTable.order_id.is_in(list(order_ids))
        ).order_by(OrderLineTable.position, OrderLineTable.id)
    grouped: dict[UUID, list[orders.OrderLine]] = defaultdict(list)
    for row in rows:
        grouped[row["order_id"]].append(_line(row))
    return grouped


async def list_orders(
    *,
    tenant_id: UUID,
    where: orders.OrderFilter,
    sort: orders.OrderSort,
    descending: bool,
    after: tuple[Any, UUID] | None,
    limit: int,
) -> list[orders.Order]:
    """One keyset page: rows strictly after `after` = (sort value, id) in the given order."""
    column = getattr(OrderTable, sort.value)
    query = OrderTable.select().where(OrderTable.tenant_id == tenant_id)
    for condition in _filters(where):
        query = query.where(condition)
    if after is not None:
        op = "<" if descending else ">"
        query = query.where(WhereRaw(f"({sort.value}, id) {op} ({{}}, {{}})", after[0], after[1]))
    query = query.order_by(column, OrderTable.id, ascending=not descending).limit(limit)
    async with db.transaction(tenant_id=tenant_id):
        rows = await query
    return [_order(row) for row in rows]


def _filters(where: orders.OrderFilter) -> list[Any]:
    conditions: list[Any] = []
    if where.status is not None:
        conditions.append(OrderTable.status == where.status.value)
    if where.customer_id is not None:
        conditions.append(OrderTable.customer_id == where.customer_id)
    if where.created_after is not None:
        conditions.append(OrderTable.created_at >= where.created_after)
    if where.created_before is not None:
        conditions.append(OrderTable.created_at < where.created_before)
    return conditions


async def histories(
    keys: Sequence[orders.HistoryKey], *, tenant_id: UUID
) -> dict[orders.HistoryKey, list[orders.Order]]:
    """Pages of several customers' orders, newest first: one query per distinct page shape."""
    shapes: dict[tuple[Any, ...], list[orders.HistoryKey]] = defaultdict(list)
    for key in keys:
        shapes[(key.limit, key.after, key.status)].append(key)
    found: dict[orders.HistoryKey, list[orders.Order]] = {}
    async with db.transaction(tenant_id=tenant_id):
        for members in shapes.values():
            rows = await OrderTable.raw(*_history_query(members, tenant_id=tenant_id))
            grouped: dict[UUID, list[orders.Order]] = defaultdict(list)
            for row in rows:
                grouped[row["customer_id"]].append(_order(row))
            found.update({key: grouped[key.customer_id] for key in members})
    return found


def _history_query(keys: Sequence[orders.HistoryKey], *, tenant_id: UUID) -> list[Any]:
    """SQL and arguments for one page shape: `limit` newest orders per customer, each ranked
    within its customer by a window function."""
    shape = keys[0]
    conditions = ["o.tenant_id = {}", "o.customer_id = any({}::uuid[])"]
    args: list[Any] = [tenant_id, [key.customer_id for key in keys]]
    if shape.after is not None:
        conditions.append("(o.created_at, o.id) < ({}, {})")
        args.extend(shape.after)
    if shape.status is not None:
        conditions.append("o.status = {}")
        args.append(shape.status.value)
    return [HISTORY_HEAD + " and ".join(conditions) + HISTORY_TAIL, *args, shape.limit]


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
    if key is not None:
        existing = await _by_idempotency_key(key, tenant_id=tenant_id)
        if existing is not None:
            return orders.replay(existing, digest)
    try:
        return await _create(request, digest, price_list, tenant_id=tenant_id, meta=meta)
    except asyncpg.UniqueViolationError as error:
        if key is None or error.constraint_name != IDEMPOTENCY_UNIQUE:
            raise
    winner = await _by_idempotency_key(key, tenant_id=tenant_id)
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
    async with db.transaction(tenant_id=tenant_id):
        price_list_id = await _price_list_id(request, price_list, tenant_id=tenant_id)
        await _check_customer(request.customer_id, tenant_id=tenant_id)
        draft = await _priced(request, price_list_id, tenant_id=tenant_id)
        order = await _insert(
            draft, customer_id=request.customer_id, price_list_id=price_list_id,
            idempotency_key=request.idempotency_key, request_hash=digest, tenant_id=tenant_id,
        )
        await inventory_tables.reserve(
            order.id, [(line.variant_id, line.quantity) for line in draft.lines],
            tenant_id=tenant_id, meta=meta,
        )
        order = await _numbered(order.id, tenant_id=tenant_id)
        await outbox.append(
            [events.draft("order.created", order.id, orders.created_payload(order, draft.lines))],
            tenant_id=tenant_id, meta=meta,
        )
    return order


async def _priced(
    request: orders.OrderRequest, price_list_id: UUID | None, *, tenant_id: UUID
) -> orders.OrderDraft:
    """The lines at today's prices: a snapshot that later price changes do not touch."""
    ids = [line.variant_id for line in request.lines if line.variant_id is not None]
    skus = [line.sku for line in request.lines if line.sku is not None]
    by_id = await catalog_tables.get_variants(ids, tenant_id=tenant_id) if ids else {}
    by_sku = await catalog_tables.variants_by_sku(skus, tenant_id=tenant_id) if skus else {}
    variants = orders.resolve_lines(request, by_id, by_sku)
    products = await catalog_tables.get_products(
        list({v.product_id for v in variants}), tenant_id=tenant_id
    )
    quotes = await pricing_tables.quotes(
        [v.id for v in variants], tenant_id=tenant_id, price_list_id=price_list_id
    )
    orders.check_on_sale(request, variants, products)
    currency, priced = orders.price_lines(request, variants, products, quotes)
    return orders.draft_order(currency, priced, request.discount)


INSERT = """
    with made as (
        insert into orders (id, tenant_id, customer_id, status, currency, price_list_id, subtotal,
                            discount_total, tax_total, total, external_ref, idempotency_key,
                            request_hash, created_at, updated_at)
        values ($1, $2, $3, 'pending', $4, $5, $6, $7, $8, $9, $10, $11, $12,
                clock_timestamp(), clock_timestamp())
        returning *
    ), lines as (
        insert into order_lines (id, tenant_id, order_id, variant_id, sku, title, quantity,
                                 unit_price, discount, line_total, currency, position)
        select gen_random_uuid(), $2, made.id, line.variant_id, line.sku, line.title, line.quantity,
               line.unit_price, line.discount, line.line_total, made.currency, line.position
        from made, unnest($13::uuid[], $14::text[], $15::text[], $16::int[], $17::bigint[],
                          $18::bigint[], $19::bigint[], $20::int[])
            as line (variant_id, sku, title, quantity, unit_price, discount, line_total, position)
    )
    select * from made
"""


async def _insert(
    draft: orders.OrderDraft,
    *,
    customer_id: UUID | None,
    tenant_id: UUID,
    price_list_id: UUID | None = None,
    external_ref: str | None = None,
    idempotency_key: str | None = None,
    request_hash: str | None = None,
) -> orders.Order:
    """A new order, not yet numbered (see _numbered), with its lines: one statement."""
    lines, totals = draft.lines, draft.totals
    async with db.transaction(tenant_id=tenant_id) as tx:
        row = await tx.connection.fetchrow(
            INSERT, uuid4(), tenant_id, customer_id, totals.currency, price_list_id, totals.subtotal,
            totals.discount_total, totals.tax_total, totals.total, external_ref, idempotency_key,
            request_hash,
            [line.variant_id for line in lines], [line.sku for line in lines],
            [line.title[:400] for line in lines], [line.quantity for line in lines],
            [line.unit_price for line in lines], [line.discount for line in lines],
            [line.line_total for line in lines], [line.position for line in lines],
        )
    return _order(row)


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


async def _by_idempotency_key(key: str, *, tenant_id: UUID) -> orders.Order | None:
    async with db.transaction(tenant_id=tenant_id):
        row = await OrderTable.select().where(
            OrderTable.tenant_id == tenant_id, OrderTable.idempotency_key == key
        ).first()
    return None if row is None else _order(row)


async def import_order(
    request: orders.ImportRequest,
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
        existing = await OrderTable.select().where(
            OrderTable.tenant_id == tenant_id, OrderTable.external_ref == request.external_ref
        ).first()
        if existing is not None:
            return _order(existing), False
        await _check_customer(request.customer_id, tenant_id=tenant_id)
        draft = await _imported(request, tenant_id=tenant_id)
        order = await _insert(
            draft, customer_id=request.customer_id, external_ref=request.external_ref, tenant_id=tenant_id
        )
        await move_stock(order, draft.lines)
        buyer = None if customer is None else await customer()
        order = await _numbered(order.id, buyer, tenant_id=tenant_id)
        payload = {**orders.created_payload(order, draft.lines), "externalRef": request.external_ref}
        created = events.draft("order.created", order.id, payload)
        await outbox.append([created], tenant_id=tenant_id, meta=meta)
    return order, True


NUMBERING = """
    update orders set number = tg_next_order_number($1), customer_id = coalesce($3, customer_id)
    where tenant_id = $1 and id = $2
    returning *
"""


async def _numbered(order_id: UUID, customer_id: UUID | None = None, *, tenant_id: UUID) -> orders.Order:
    """Number a new order (and set its customer, when given), the last step before its events:
    an order refused earlier (short stock, a bad line) takes no number. Numbers come from the
    tenant's sequence, which makes no order wait for another (migration 2026-11-22T01:00)."""
    async with db.transaction(tenant_id=tenant_id) as tx:
        row = await tx.connection.fetchrow(NUMBERING, tenant_id, order_id, customer_id)
    return _order(row)


async def next_number(*, tenant_id: UUID) -> int:
    """An order number of the tenant's, for an order written by other means (tests, imports)."""
    async with db.transaction(tenant_id=tenant_id) as tx:
        return int(await tx.connection.fetchval("select tg_next_order_number($1)", tenant_id))


async def _imported(request: orders.ImportRequest, *, tenant_id: UUID) -> orders.OrderDraft:
    skus = sorted({line.sku for line in request.lines})
    variants, products = await catalog_tables.variants_by_sku_with_products(skus, tenant_id=tenant_id)
    unknown = {
        f"{request.path}.items[{i}].sku": "unknown sku"
        for i, line in enumerate(request.lines) if line.sku not in variants
    }
    if unknown:
        raise Invalid("unknown sku", fields=unknown)
    if request.listed_prices and not orders.at_base_prices(request, variants):
        ids = [variant.id for variant in variants.values()]
        listed = await pricing_tables.prices_of(ids, tenant_id=tenant_id)
        orders.check_listed_prices(request, variants, listed)
    return orders.imported_draft(request, variants, products)


async def lock(order_id: UUID, *, tenant_id: UUID) -> orders.Order:
    """The order, its row locked until the caller's transaction ends: changes of one order
    (status, payments) run one at a time."""
    async with db.transaction(tenant_id=tenant_id):
        row = await OrderTable.select().where(
            OrderTable.tenant_id == tenant_id, OrderTable.id == order_id
        ).lock_rows().first()
    if row is None:
        raise NotFound("order not found")
    return _order(row)


async def change_status(
    order_id: UUID, to: orders.OrderStatus, *, tenant_id: UUID, meta: events.WriteMeta
) -> orders.Order:
    async with db.transaction(tenant_id=tenant_id):
        current = await lock(order_id, tenant_id=tenant_id)
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
    rows = await OrderTable.update({
        OrderTable.status: to.value, OrderTable.updated_at: datetime.now(UTC),
    }).where(
        OrderTable.tenant_id == tenant_id, OrderTable.id == current.id
    ).returning(*OrderTable.all_columns())
    order = _order(rows[0])
    changed = events.draft("order.status_changed", order.id, orders.status_payload(order, current.status))
    await outbox.append([*preceding, changed], tenant_id=tenant_id, meta=meta)
    return order
