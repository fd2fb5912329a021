"""Tenant isolation of shipments, twice over: tenant B never sees, ships or moves tenant A's
orders and shipments through the API or through tables/, and under row-level security the app
role reads and writes none of A's shipping rows while B is set. Also: reading shipments costs
a constant number of queries, whatever the page size."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest

from tables import shipping as shipping_tables
from tables.engine import DB
from tests.documents import error_codes, error_fields
from tests.shipments import (
    SHIPMENT,
    SHIPMENTS,
    line_id,
    move,
    open_shipping_shop,
    order_with_shipments,
    paid_order,
    ship,
    ship_lines,
    shipped,
)
from tests.shop import Shop

SET_TENANT = "select set_config('app.tenant_id', $1, true)"
TABLES = ("shipments", "shipment_lines")


@dataclasses.dataclass(frozen=True)
class World:
    a: Shop
    b: Shop
    a_order: dict[str, Any]
    a_shipment: dict[str, Any]
    b_order: dict[str, Any]
    b_shipment: dict[str, Any]


@pytest.fixture
async def world(make_tenant: Any) -> World:
    a = await open_shipping_shop(make_tenant, prefix="A-")
    b = await open_shipping_shop(make_tenant)
    a_order = await paid_order(a, a.line("TEE-S", 2), a.line("MUG", 1))
    a_shipment = (await shipped(a, a_order["id"], ship_lines(a_order, 1, 0)))["shipment"]
    b_order = await paid_order(b, b.line("TEE-S", 2))
    b_shipment = (await shipped(b, b_order["id"], ship_lines(b_order, 1)))["shipment"]
    return World(a, b, a_order, a_shipment, b_order, b_shipment)


async def shipment_ids(shop: Shop, **variables: Any) -> set[str]:
    body = await shop.gql(SHIPMENTS, {"first": 100, **variables})
    assert "errors" not in body, body
    return {edge["node"]["id"] for edge in body["data"]["shipments"]["edges"]}


async def a_state(world: World) -> Any:
    """What A sees of its order, its shipments, its stock and its events."""
    return (
        await order_with_shipments(world.a, world.a_order["id"]),
        await world.a.stock("TEE-S"),
        await world.a.event_types(),
    )


# Through the API


async def test_b_reads_a_shipment_as_null_and_lists_none_of_a(world: World) -> None:
    b_only = {world.b_shipment["id"]}

    assert await world.b.gql(SHIPMENT, {"id": world.a_shipment["id"]}) == {"data": {"shipment": None}}
    assert await shipment_ids(world.b) == b_only
    assert await shipment_ids(world.b, filter={"orderId": world.a_order["id"]}) == set()
    assert await shipment_ids(world.b, filter={"status": "PENDING"}) == b_only
    a_page = await world.a.gql(SHIPMENTS, {"first": 1})
    cursor = a_page["data"]["shipments"]["edges"][0]["cursor"]
    assert await shipment_ids(world.b, after=cursor) <= b_only


async def test_b_cannot_ship_a_order(world: World) -> None:
    before = await a_state(world)

    body = await ship(world.b, world.a_order["id"], ship_lines(world.a_order, 1, 1))

    assert error_codes(body, "createShipment") == ["NOT_FOUND"]
    assert await a_state(world) == before


async def test_b_cannot_ship_a_order_lines_on_its_own_order(world: World) -> None:
    before = await a_state(world)
    a_line = {"orderLineId": line_id(world.a_order, 1), "quantity": 1}

    body = await ship(world.b, world.b_order["id"], [a_line])

    assert error_fields(body, "createShipment") == {"input.lines[0].orderLineId": "not a line of this order"}
    assert await a_state(world) == before
    assert await shipment_ids(world.b) == {world.b_shipment["id"]}


@pytest.mark.parametrize("status", ["SHIPPED", "DELIVERED", "RETURNED", "PENDING"])
async def test_b_cannot_move_a_shipment(world: World, status: str) -> None:
    before = await a_state(world)

    body = await move(world.b, world.a_shipment["id"], status)

    assert error_codes(body, "changeShipmentStatus") == ["NOT_FOUND"]
    assert await a_state(world) == before


# Through tables/


async def test_tables_functions_return_none_of_another_tenants_shipments(world: World) -> None:
    a_id, a_order = uuid.UUID(world.a_shipment["id"]), uuid.UUID(world.a_order["id"])

    assert await shipping_tables.get_shipments([a_id], tenant_id=world.b.id) == {}
    assert await shipping_tables.shipments_of([a_order], tenant_id=world.b.id) == {}
    assert list(await shipping_tables.get_shipments([a_id], tenant_id=world.a.id)) == [a_id]


# Under row-level security, as the app role


@pytest.mark.parametrize("table", TABLES)
async def test_rls_shows_b_none_of_a_shipping_rows(
    world: World, app_conn: asyncpg.Connection, table: str
) -> None:
    async with app_conn.transaction():
        unset = await app_conn.fetchval(f"select count(*) from {table}")
        await app_conn.execute(SET_TENANT, str(world.b.id))
        tenants = {row["tenant_id"] for row in await app_conn.fetch(f"select tenant_id from {table}")}
        a_rows = await app_conn.fetchval(f"select count(*) from {table} where tenant_id = $1", world.a.id)
        changed = await app_conn.execute(f"update {table} set tenant_id = tenant_id where tenant_id = $1",
                                         world.a.id)
        deleted = await app_conn.execute(f"delete from {table} where tenant_id = $1", world.a.id)

    assert unset == 0
    assert tenants == {world.b.id}
    assert (a_rows, changed, deleted) == (0, "UPDATE 0", "DELETE 0")


async def test_rls_refuses_b_writing_a_shipment_row(world: World, app_conn: asyncpg.Connection) -> None:
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
        async with app_conn.transaction():
            await app_conn.execute(SET_TENANT, str(world.b.id))
            await app_conn.execute(
                "insert into shipments (id, tenant_id, order_id, created_at, updated_at)"
                " values ($1, $2, $3, now(), now())",
                uuid.uuid4(), world.a.id, uuid.UUID(world.a_order["id"]),
            )


async def test_b_rows_cannot_point_at_a_order_or_lines(world: World, app_conn: asyncpg.Connection) -> None:
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        async with app_conn.transaction():
            await app_conn.execute(SET_TENANT, str(world.b.id))
            await app_conn.execute(
                "insert into shipments (id, tenant_id, order_id, created_at, updated_at)"
                " values ($1, $2, $3, now(), now())",
                uuid.uuid4(), world.b.id, uuid.UUID(world.a_order["id"]),
            )
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        async with app_conn.transaction():
            await app_conn.execute(SET_TENANT, str(world.b.id))
            await app_conn.execute(
                "insert into shipment_lines (id, tenant_id, shipment_id, order_line_id, quantity)"
                " values ($1, $2, $3, $4, 1)",
                uuid.uuid4(), world.b.id, uuid.UUID(world.b_shipment["id"]),
                uuid.UUID(line_id(world.a_order, 0)),
            )


# Query counts


@pytest.fixture
def query_log(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every statement Piccolo sends, recorded on its way to the real engine."""
    statements: list[str] = []
    run = DB.run_querystring

    async def counting(querystring: Any, in_pool: bool = True) -> Any:
        statements.append(str(querystring))
        return await run(querystring, in_pool)

    monkeypatch.setattr(DB, "run_querystring", counting)
    yield statements


ORDERS_WITH_SHIPMENTS = """
query Page($first: Int!) {
  orders(first: $first) { edges { node { id shipments { id status lines { sku quantity } } } } }
}
"""
SHIPMENTS_WITH_ORDERS = """
query Page($first: Int!) {
  shipments(first: $first) { edges { node { id lines { sku } order { id status } } } }
}
"""


async def data_statements(shop: Shop, log: list[str], document: str, first: int) -> list[str]:
    """What one query sends, but for the credential's lookup (its cache may have been cleared
    by another test's key or module change)."""
    log.clear()
    body = await shop.gql(document, {"first": first})
    assert "errors" not in body, body
    return [statement for statement in log if "api_keys" not in statement]


@pytest.mark.parametrize("document", [ORDERS_WITH_SHIPMENTS, SHIPMENTS_WITH_ORDERS])
async def test_shipments_cost_the_same_queries_for_one_or_many(
    make_tenant: Any, query_log: list[str], document: str
) -> None:
    shop = await open_shipping_shop(make_tenant, stock=100)
    for _ in range(8):
        order = await paid_order(shop, shop.line("TEE-S", 2), shop.line("MUG", 1))
        await shipped(shop, order["id"], ship_lines(order, 1, 1))
        await shipped(shop, order["id"], ship_lines(order, 1, 0))

    one = await data_statements(shop, query_log, document, 1)
    many = await data_statements(shop, query_log, document, 8)

    assert len(many) == len(one) <= 3
