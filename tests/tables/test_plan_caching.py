"""A planned page is served by PostgreSQL's cached plan, not planned again at every request:
planning was a fifth of scenario b's statement when the page size was a bound parameter."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from uuid import UUID, uuid4

import asyncpg
import pytest

from resolvers import pagination
from tables import plans as sql
from tests.conftest import TenantHandle

SHAPE = sql.PageShape(
    fields=[("edges", "edges", lambda a: f"json_build_object('id', {a}.id)")],
    cursors=False, typename="OrderConnection",
)


ORDERS = """
insert into orders (id, tenant_id, number, status, currency, subtotal, discount_total, tax_total,
                    total, created_at, updated_at)
select gen_random_uuid(), $1, n, 'paid', 'EUR', 100, 0, 0, 100, now(), now()
from generate_series(1, $2) n
"""


@pytest.fixture
async def tenant_conn(
    app_dsn: str, owner: asyncpg.Connection, tenant_a: TenantHandle
) -> AsyncIterator[tuple[asyncpg.Connection, UUID]]:
    """An app-role connection inside a transaction under the setting of a tenant with many
    orders (the generic plan's guess at a bound limit grows with the table)."""
    tenant_id = tenant_a.tenant.id
    await owner.execute(ORDERS, tenant_id, 5000)
    await owner.execute("analyze orders")
    connection = await asyncpg.connect(app_dsn)
    transaction = connection.transaction()
    await transaction.start()
    await connection.execute("select set_config('app.tenant_id', $1, true)", str(tenant_id))
    yield connection, tenant_id
    await transaction.rollback()
    await connection.close()


async def test_a_planned_page_is_executed_from_the_cached_generic_plan(
    tenant_conn: tuple[asyncpg.Connection, UUID],
) -> None:
    connection, tenant_id = tenant_conn
    request = sql.PageRequest(
        sort="created_at", descending=False, after=None, size=50,
        ordering=pagination.ordering("created_at", False), kind=object,
    )
    statement = sql.Statement(tenant_id)
    text = sql.data([("orders", sql.page(statement, sql.ORDERS, request, SHAPE))])
    prepared = await connection.prepare(text)

    for _ in range(10):
        page = json.loads(await prepared.fetchval(*statement.params))
        assert len(page["orders"]["edges"]) == 50

    generic = await connection.fetchval(
        "select generic_plans from pg_prepared_statements where name = $1", prepared.get_name()
    )
    assert generic >= 4  # PostgreSQL tries custom plans 5 times, then keeps the cheaper kind


async def test_a_planned_read_by_id_is_executed_from_the_cached_generic_plan(
    tenant_conn: tuple[asyncpg.Connection, UUID],
) -> None:
    connection, tenant_id = tenant_conn
    statement = sql.Statement(tenant_id)
    variants = sql.variants_of_product(lambda a: f"json_build_object('sku', {a}.sku)")
    text = sql.data([("product", sql.product_by_id(
        statement, uuid4(), lambda a: f"json_build_object('id', {a}.id, 'variants', {variants(a)})"
    ))])
    prepared = await connection.prepare(text)

    for _ in range(10):
        assert json.loads(await prepared.fetchval(*statement.params)) == {"product": None}

    generic = await connection.fetchval(
        "select generic_plans from pg_prepared_statements where name = $1", prepared.get_name()
    )
    assert generic >= 4
