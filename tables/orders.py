"""Orders with price snapshots and their lines: queries and statements (the workflows that
write them are services.orders)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg
from piccolo.columns import UUID as UUIDColumn
from piccolo.columns import BigInt, Integer, Timestamptz, Varchar
from piccolo.query import WhereRaw
from piccolo.table import Table

from domain import orders
from domain.errors import NotFound
from tables import counting, db
from tables.engine import DB

IDEMPOTENCY_UNIQUE = "orders_tenant_id_idempotency_key_key"
HISTORY_HEAD = """
select * from (
    select o.*, row_number() over (
        partition by o.customer_id order by o.created_at {direction}, o.id {direction}
    ) as rank
    from orders o
    where """
HISTORY_TAIL = """
) ranked
where rank <= {}
order by customer_id, rank
"""


class KeyTaken(Exception):
    """Another order holds this idempotency key: a concurrent request won the race, and the
    transaction that raised this must roll back before the winner can be read."""


class OrderTable(Table, tablename="orders", db=DB):
    id = UUIDColumn(primary_key=True)
    tenant_id = UUIDColumn()
    number = BigInt(null=True, default=None)  # given last, see numbered
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


async def count_orders(*, tenant_id: UUID, where: orders.OrderFilter) -> int:
    """How many orders `where` selects (list_orders' filters, every page)."""
    return await counting.count_rows(OrderTable, _filters(where), tenant_id=tenant_id)


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
        shapes[(key.limit, key.after, key.status, key.backward)].append(key)
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
        conditions.append(f"(o.created_at, o.id) {'>' if shape.backward else '<'} ({{}}, {{}})")
        args.extend(shape.after)
    if shape.status is not None:
        conditions.append("o.status = {}")
        args.append(shape.status.value)
    head = HISTORY_HEAD.replace("{direction}", "asc" if shape.backward else "desc")
    return [head + " and ".join(conditions) + HISTORY_TAIL, *args, shape.limit]


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


async def insert(
    draft: orders.OrderDraft,
    *,
    customer_id: UUID | None,
    tenant_id: UUID,
    price_list_id: UUID | None = None,
    external_ref: str | None = None,
    idempotency_key: str | None = None,
    request_hash: str | None = None,
) -> orders.Order:
    """A new order, not yet numbered (see numbered), with its lines: one statement."""
    lines, totals = draft.lines, draft.totals
    async with db.transaction(tenant_id=tenant_id) as tx:
        try:
            row = await tx.connection.fetchrow(
                INSERT, uuid4(), tenant_id, customer_id, totals.currency, price_list_id,
                totals.subtotal, totals.discount_total, totals.tax_total, totals.total, external_ref,
                idempotency_key, request_hash,
                [line.variant_id for line in lines], [line.sku for line in lines],
                [line.title[:400] for line in lines], [line.quantity for line in lines],
                [line.unit_price for line in lines], [line.discount for line in lines],
                [line.line_total for line in lines], [line.position for line in lines],
            )
        except asyncpg.UniqueViolationError as error:
            if error.constraint_name != IDEMPOTENCY_UNIQUE:
                raise
            raise KeyTaken(idempotency_key) from error
    return _order(row)


async def by_idempotency_key(key: str, *, tenant_id: UUID) -> orders.Order | None:
    async with db.transaction(tenant_id=tenant_id):
        row = await OrderTable.select().where(
            OrderTable.tenant_id == tenant_id, OrderTable.idempotency_key == key
        ).first()
    return None if row is None else _order(row)


async def by_external_ref(ref: str, *, tenant_id: UUID) -> orders.Order | None:
    async with db.transaction(tenant_id=tenant_id):
        row = await OrderTable.select().where(
            OrderTable.tenant_id == tenant_id, OrderTable.external_ref == ref
        ).first()
    return None if row is None else _order(row)


NUMBERING = """
    update orders set number = tg_next_order_number($1), customer_id = coalesce($3, customer_id)
    where tenant_id = $1 and id = $2
    returning *
"""


async def numbered(order_id: UUID, customer_id: UUID | None = None, *, tenant_id: UUID) -> orders.Order:
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


async def set_status(order_id: UUID, to: orders.OrderStatus, *, tenant_id: UUID) -> orders.Order:
    """Write an order's new status; the caller checked the move and holds the row's lock."""
    async with db.transaction(tenant_id=tenant_id):
        rows = await OrderTable.update({
            OrderTable.status: to.value, OrderTable.updated_at: datetime.now(UTC),
        }).where(
            OrderTable.tenant_id == tenant_id, OrderTable.id == order_id
        ).returning(*OrderTable.all_columns())
    return _order(rows[0])
