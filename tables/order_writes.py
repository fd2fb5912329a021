"""What a new order writes once its stock is locked and allocated: the order (numbered), its
lines, the reserved stock and the holds, in one statement (services.orders)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID, uuid4

import asyncpg

from domain import inventory, orders
from domain.errors import Conflict
from tables import db
from tables import orders as order_tables
from tables.inventory import rows

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
    returning s.id, s.variant_id, s.location_id, s.on_hand, s.reserved, s.updated_at, plan.quantity,
              plan.position
), held as (
    insert into reservations (tenant_id, order_id, variant_id, location_id, quantity, status)
    select $2, $1, variant_id, location_id, quantity, 'active' from after order by position
    returning id, variant_id, location_id, status, created_at
)
select made.*, h.* from made left join (
    select after.id as level_id, after.variant_id as level_variant_id,
           after.location_id as level_location_id, after.on_hand, after.reserved,
           after.updated_at as level_updated_at, after.quantity, after.position,
           held.id as held_id, held.status as held_status, held.created_at as held_created_at
    from after join held on held.variant_id = after.variant_id and held.location_id = after.location_id
) h on true
order by h.position
"""

Held = tuple[inventory.StockLevel, inventory.Reservation]


async def place(
    draft: orders.OrderDraft,
    plan: Sequence[tuple[inventory.StockLevel, int]],
    *,
    customer_id: UUID | None,
    price_list_id: UUID | None,
    idempotency_key: str | None,
    request_hash: str,
    tenant_id: UUID,
) -> tuple[orders.Order, list[Held]]:
    """The numbered order with its lines, and the planned quantities of locked levels reserved
    and held for it: (the order, each level after with its reservation). KeyTaken when another
    order holds the idempotency key."""
    lines, totals = draft.lines, draft.totals
    async with db.transaction(tenant_id=tenant_id) as tx:
        try:
            found = await tx.connection.fetch(
                PLACE, uuid4(), tenant_id, customer_id, totals.currency, price_list_id,
                totals.subtotal, totals.discount_total, totals.tax_total, totals.total,
                idempotency_key, request_hash,
                [line.variant_id for line in lines], [line.sku for line in lines],
                [line.title[:400] for line in lines], [line.quantity for line in lines],
                [line.unit_price for line in lines], [line.discount for line in lines],
                [line.line_total for line in lines], [line.position for line in lines],
                [level.id for level, _ in plan], [quantity for _, quantity in plan],
            )
        except asyncpg.UniqueViolationError as error:
            if error.constraint_name != order_tables.IDEMPOTENCY_UNIQUE:
                raise
            raise order_tables.KeyTaken(idempotency_key) from error
        except asyncpg.CheckViolationError:
            raise Conflict("stock cannot be reserved beyond what is on hand") from None
    skus = {level.id: level.sku for level, _ in plan}
    order = order_tables._order(found[0])
    return order, [_held(row, order.id, skus) for row in found if row["level_id"] is not None]


def _held(row: Any, order_id: UUID, skus: dict[UUID, str]) -> Held:
    level = rows.level({
        "id": row["level_id"], "variant_id": row["level_variant_id"], "sku": skus[row["level_id"]],
        "location_id": row["level_location_id"], "on_hand": row["on_hand"],
        "reserved": row["reserved"], "updated_at": row["level_updated_at"],
    })
    held = rows.reservation({
        "id": row["held_id"], "order_id": order_id, "variant_id": row["level_variant_id"],
        "location_id": row["level_location_id"], "quantity": row["quantity"],
        "status": row["held_status"], "created_at": row["held_created_at"],
    })
    return level, held
