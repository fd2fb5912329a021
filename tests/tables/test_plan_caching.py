"""A planned read is planned once per connection, not at every request (planning was a fifth
of scenario b's statement), and the plan it keeps reads a page through the index, in order."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

import asyncpg

from bench import sql as counted
from resolvers import pagination
from tables import db
from tables import plans as sql
from tests.conftest import TenantHandle

SHAPE = sql.PageShape(
    fields=[("edges", "edges", lambda a: f"json_build_object('number', {a}.number)")],
    cursors=False, typename="OrderConnection",
)
ORDERS = """
insert into orders (id, tenant_id, number, status, currency, subtotal, discount_total, tax_total,
                    total, created_at, updated_at)
select gen_random_uuid(), $1, n, 'paid', 'EUR', 100, 0, 0, 100, now() + n * interval '1 s', now()
from generate_series(1, $2) n
"""


def page(tenant_id: UUID, size: int) -> tuple[str, list[Any]]:
    request = sql.PageRequest(
        sort="created_at", descending=False, after=None, size=size,
        ordering=pagination.ordering("created_at", False), kind=object,
    )
    statement = sql.Statement(tenant_id)
    return sql.data([("orders", sql.page(statement, sql.ORDERS, request, SHAPE))]), statement.params


async def test_a_planned_read_asks_for_one_plan_per_connection(
    owner: asyncpg.Connection, tenant_a: TenantHandle
) -> None:
    tenant_id = tenant_a.tenant.id
    await owner.execute(ORDERS, tenant_id, 60)
    text, params = page(tenant_id, 50)

    with counted.counting() as sent:
        found = json.loads(await sql.fetch(text, params, tenant_id=tenant_id))

    assert [edge["number"] for edge in found["orders"]["edges"]] == list(range(1, 51))
    assert db.GENERIC_PLANS in sent[0]
    assert params == [tenant_id], "the sizes are written into the statement, not bound"


async def test_the_generic_plan_of_a_page_reads_the_index_in_order_and_stops_at_the_page(
    owner: asyncpg.Connection, tenant_a: TenantHandle
) -> None:
    tenant_id = tenant_a.tenant.id
    await owner.execute(ORDERS, tenant_id, 5000)
    await owner.execute("analyze orders")
    text, params = page(tenant_id, 50)

    plan = "\n".join(row[0] for row in await owner.fetch(f"explain (generic_plan) {text}", *params))

    assert "Index Scan using orders_tenant_created_idx" in plan, plan
    assert "Sort" not in plan, plan
    assert "Limit  (cost" in plan and "rows=51 " in plan, plan
