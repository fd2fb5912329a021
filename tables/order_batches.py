"""Set-based statements for a batch of imported orders (services.purchase_batches): each
kind of row written by one statement for the whole batch, in the caller's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

import asyncpg

from domain import customers, inventory, orders
from domain.errors import Conflict
from tables import customers as customer_tables
from tables import db
from tables import orders as order_tables
from tables.inventory import reservations, rows

IMPORTED = "select external_ref from orders where tenant_id = $1 and external_ref = any($2::text[])"

CUSTOMERS = """
insert into customers (id, tenant_id, email, email_key, first_name, last_name, phone, tags,
                       created_at, updated_at)
select c.id, $1, c.email, c.email_key, c.first_name, c.last_name, '', '{}', now(), now()
from unnest($2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[]) with ordinality
    as c (id, email, email_key, first_name, last_name, position)
order by c.position
returning *
"""

# Numbers are taken in input order: the rows reach the insert in the order of the array.
ORDERS = """
with input as (
    select * from unnest($2::uuid[], $3::uuid[], $4::text[], $5::bigint[], $6::bigint[],
                         $7::bigint[], $8::bigint[], $9::text[]) with ordinality
        as o (id, customer_id, currency, subtotal, discount_total, tax_total, total, external_ref,
              position)
), made as (
    insert into orders (id, tenant_id, number, customer_id, status, currency, subtotal,
                        discount_total, tax_total, total, external_ref, created_at, updated_at)
    select id, $1, tg_next_order_number($1), customer_id, 'pending', currency, subtotal,
           discount_total, tax_total, total, external_ref, clock_timestamp(), clock_timestamp()
    from input order by position
    returning *
), lines as (
    insert into order_lines (id, tenant_id, order_id, variant_id, sku, title, quantity, unit_price,
                             discount, line_total, currency, position)
    select gen_random_uuid(), $1, line.order_id, line.variant_id, line.sku, line.title,
           line.quantity, line.unit_price, line.discount, line.line_total, input.currency,
           line.position
    from unnest($10::uuid[], $11::uuid[], $12::text[], $13::text[], $14::int[], $15::bigint[],
                $16::bigint[], $17::bigint[], $18::int[])
        as line (order_id, variant_id, sku, title, quantity, unit_price, discount, line_total,
                 position)
    join input on input.id = line.order_id
)
select * from made
"""

HOLDS = """
with plan as (
    select * from unnest($2::uuid[], $3::uuid[], $4::uuid[], $5::uuid[], $6::int[])
        with ordinality as p (order_id, level_id, variant_id, location_id, quantity, position)
), levels as (
    update stock_levels s set reserved = s.reserved + taken.quantity, updated_at = clock_timestamp()
    from (select level_id, sum(quantity) as quantity from plan group by level_id) taken
    where s.tenant_id = $1 and s.id = taken.level_id
)
insert into reservations (tenant_id, order_id, variant_id, location_id, quantity, status)
select $1, order_id, variant_id, location_id, quantity, 'active' from plan order by position
"""

Hold = tuple[UUID, inventory.StockLevel, int]
"""(order, level, quantity) of one reservation."""


async def imported(refs: Sequence[str], *, tenant_id: UUID) -> set[str]:
    """Which of these external references name an order the tenant already has."""
    async with db.transaction(tenant_id=tenant_id) as tx:
        found = await tx.connection.fetch(IMPORTED, tenant_id, sorted(set(refs)))
    return {row["external_ref"] for row in found}


async def lock_for_sale(variant_ids: Sequence[UUID], *, tenant_id: UUID) -> list[inventory.StockLevel]:
    """The variants' levels at active locations, locked in the order every writer keeps."""
    if not variant_ids:
        return []
    async with db.transaction(tenant_id=tenant_id) as tx:
        return await rows.lock_levels(
            tx, f"s.variant_id = any({{}}::uuid[]) and {reservations.ACTIVE_LOCATION}",
            sorted(set(variant_ids)), tenant_id=tenant_id,
        )


async def insert_customers(
    made: Sequence[tuple[UUID, customers.CustomerDraft]], *, tenant_id: UUID
) -> dict[UUID, customers.Customer]:
    """New customers with the given ids; an email a concurrent writer took meanwhile fails the
    whole batch (its deliveries are then applied one by one)."""
    if not made:
        return {}
    drafts = [draft for _, draft in made]
    async with db.transaction(tenant_id=tenant_id) as tx:
        try:
            found = await tx.connection.fetch(
                CUSTOMERS, tenant_id, [customer_id for customer_id, _ in made],
                [d.email for d in drafts], [customers.email_key(d.email) for d in drafts],
                [d.first_name for d in drafts], [d.last_name for d in drafts],
            )
        except asyncpg.UniqueViolationError:
            raise Conflict("a concurrent change took one of these emails; apply them one by one") from None
    return {row["id"]: customer_tables._customer(row) for row in found}


async def insert_orders(
    made: Sequence[tuple[UUID, orders.OrderDraft, UUID | None, str]], *, tenant_id: UUID
) -> dict[UUID, orders.Order]:
    """New orders (id, draft, customer, external reference), numbered in the given order, with
    their lines: one statement."""
    totals = [draft.totals for _, draft, _, _ in made]
    lines = [(order_id, line) for order_id, draft, _, _ in made for line in draft.lines]
    async with db.transaction(tenant_id=tenant_id) as tx:
        try:
            found = await tx.connection.fetch(
                ORDERS, tenant_id, [order_id for order_id, _, _, _ in made],
                [customer_id for _, _, customer_id, _ in made], [t.currency for t in totals],
                [t.subtotal for t in totals], [t.discount_total for t in totals],
                [t.tax_total for t in totals], [t.total for t in totals], [ref for *_, ref in made],
                [order_id for order_id, _ in lines], [line.variant_id for _, line in lines],
                [line.sku for _, line in lines], [line.title[:400] for _, line in lines],
                [line.quantity for _, line in lines], [line.unit_price for _, line in lines],
                [line.discount for _, line in lines], [line.line_total for _, line in lines],
                [line.position for _, line in lines],
            )
        except asyncpg.UniqueViolationError:
            raise Conflict("a concurrent import wrote one of these orders; apply them one by one") from None
    return {row["id"]: order_tables._order(row) for row in found}


async def hold(holds: Sequence[Hold], *, tenant_id: UUID) -> None:
    """Reserve the planned quantities of locked levels and record each hold: one statement."""
    if not holds:
        return
    async with db.transaction(tenant_id=tenant_id) as tx:
        try:
            await tx.connection.execute(
                HOLDS, tenant_id, [order_id for order_id, _, _ in holds],
                [level.id for _, level, _ in holds], [level.variant_id for _, level, _ in holds],
                [level.location_id for _, level, _ in holds], [quantity for _, _, quantity in holds],
            )
        except asyncpg.CheckViolationError:
            raise Conflict("stock cannot be reserved beyond what is on hand") from None
