"""What a new order writes once its stock is locked and allocated: the order (numbered), its
lines, the reserved stock, the holds and its events, in one statement (services.orders)."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

import asyncpg
import orjson

from domain import events, inventory, orders
from domain.errors import Conflict
from tables import db
from tables import orders as order_tables

PLACE = """
with made as (
    insert into orders (id, tenant_id, number, customer_id, status, currency, price_list_id,
                        subtotal, discount_total, tax_total, total, idempotency_key, request_hash,
                        created_at, updated_at)
    values ($1, $2, tg_next_order_number($2), $3, 'pending', $4, $5, $6, $7, $8, $9, $10, $11,
            clock_timestamp(), clock_timestamp())
    returning *
), lines as (
    insert into order_lines (id, tenant_id, order_id, variant_id, sku, title, quantity,
                             unit_price, discount, line_total, currency, position)
    select gen_random_uuid(), $2, made.id, line.variant_id, line.sku, line.title, line.quantity,
           line.unit_price, line.discount, line.line_total, made.currency, line.position
    from made, unnest($12::uuid[], $13::text[], $14::text[], $15::int[], $16::bigint[],
                      $17::bigint[], $18::bigint[], $19::int[])
        as line (variant_id, sku, title, quantity, unit_price, discount, line_total, position)
), plan as (
    select * from unnest($20::uuid[], $21::int[]) with ordinality as p (level_id, quantity, position)
), after as (
    update stock_levels s set reserved = s.reserved + plan.quantity, updated_at = clock_timestamp()
    from plan where s.tenant_id = $2 and s.id = plan.level_id
    returning s.variant_id, s.location_id, plan.quantity, plan.position
), held as (
    insert into reservations (tenant_id, order_id, variant_id, location_id, quantity, status)
    select $2, $1, variant_id, location_id, quantity, 'active' from after order by position
), drafts as (
    select * from unnest($22::text[], $23::text[], $24::text[], $25::text[], $26::bool[])
        with ordinality as d (type, aggregate_type, aggregate_id, payload, numbered, position)
), logged as (
    insert into events (tenant_id, type, aggregate_type, aggregate_id, payload, correlation_id,
                        actor, created_at, traceparent)
    select $2, d.type, d.aggregate_type, d.aggregate_id,
           case when d.numbered then d.payload::jsonb || jsonb_build_object('number', made.number)
                else d.payload::jsonb end,
           $27, $28, now(), $29
    from drafts d, made
    order by d.position
)
select * from made
"""


async def place(
    order_id: UUID,
    draft: orders.OrderDraft,
    plan: Sequence[tuple[inventory.StockLevel, int]],
    *,
    customer_id: UUID | None,
    price_list_id: UUID | None,
    idempotency_key: str | None,
    request_hash: str,
    logged: Sequence[events.Draft],
    created: events.Draft,
    meta: events.WriteMeta,
    tenant_id: UUID,
) -> orders.Order:
    """The numbered order with its lines, the planned quantities of locked levels reserved and
    held for it, and its events: `logged`, then `created` with the order's number added to its
    payload. The events are numbered at commit (events_seq), as every writer's are: numbered
    here, they held the tenant's counter row from this statement to COMMIT, a round trip and
    the app's turn later, and a tenant's orders queued on it (4.3 of 16 connections waiting on
    it at any time in bench (c)). KeyTaken when another order holds the idempotency key."""
    lines, totals, drafts = draft.lines, draft.totals, [*logged, created]
    async with db.transaction(tenant_id=tenant_id) as tx:
        try:
            found = await tx.connection.fetchrow(
                PLACE, order_id, tenant_id, customer_id, totals.currency, price_list_id,
                totals.subtotal, totals.discount_total, totals.tax_total, totals.total,
                idempotency_key, request_hash,
                [line.variant_id for line in lines], [line.sku for line in lines],
                [line.title[:400] for line in lines], [line.quantity for line in lines],
                [line.unit_price for line in lines], [line.discount for line in lines],
                [line.line_total for line in lines], [line.position for line in lines],
                [level.id for level, _ in plan], [quantity for _, quantity in plan],
                [d.type for d in drafts], [d.aggregate_type for d in drafts],
                [d.aggregate_id for d in drafts],
                [orjson.dumps(dict(d.payload), default=str).decode() for d in drafts],
                [d is created for d in drafts], meta.correlation_id, meta.actor, meta.traceparent,
            )
        except asyncpg.UniqueViolationError as error:
            if error.constraint_name != order_tables.IDEMPOTENCY_UNIQUE:
                raise
            raise order_tables.KeyTaken(idempotency_key) from error
        except asyncpg.CheckViolationError:
            raise Conflict("stock cannot be reserved beyond what is on hand") from None
    return order_tables._order(found)
