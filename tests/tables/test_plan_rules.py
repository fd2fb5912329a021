"""The rules the planner restates in SQL (tables.plans) give what their one definition in
Python gives: a customer's display name, the compare-at price shown, and cursors. A rule
changed on one side only fails here."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import uuid4

import asyncpg
import pytest

from domain import catalog, customers, pricing
from resolvers import catalog as resolve_catalog
from resolvers import orders as resolve_orders
from resolvers import pagination
from tables import plans as sql

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


@pytest.fixture
async def connection(owner_dsn: str) -> AsyncIterator[asyncpg.Connection]:
    opened = await asyncpg.connect(owner_dsn)
    yield opened
    await opened.close()


@pytest.mark.parametrize(("first", "last"), [
    ("Ada", "Lovelace"), ("Ada", ""), ("", "Lovelace"), ("", ""), ("Jean Luc", "Picard"),
])
async def test_the_display_name(connection: asyncpg.Connection, first: str, last: str) -> None:
    customer = customers.Customer(
        id=uuid4(), email="a@example.com", first_name=first, last_name=last, phone="", tags=(),
        created_at=NOW, updated_at=NOW,
    )

    found = await connection.fetchval(
        f"select {sql.DISPLAY_NAME.format(a='c')} from (select $1::text as first_name, "
        "$2::text as last_name) c", first, last,
    )

    assert found == customer.name


@pytest.mark.parametrize(("price", "compare_at"), [
    (1000, 2000), (1000, 1001), (1000, 1000), (1000, 10), (1000, None),
])
async def test_the_compare_at_price_shown(
    connection: asyncpg.Connection, price: int, compare_at: int | None
) -> None:
    quote = pricing.Quote(
        variant_id=uuid4(), price=catalog.Money(price, "EUR"), price_list_id=None,
        compare_at=None if compare_at is None else catalog.Money(compare_at, "EUR"),
    )
    node = sql.compare_at([("amount", "amount"), ("currency", "currency")])

    found = await connection.fetchval(
        f"select {node('v')}::text from (select $1::bigint as price_amount, "
        "$2::bigint as compare_at_amount, 'EUR'::text as currency) v", price, compare_at,
    )

    shown = quote.shown_compare_at
    assert (None if found is None else json.loads(found)) == (
        None if shown is None else {"amount": shown.amount, "currency": shown.currency}
    )


@pytest.mark.parametrize(("kind", "column", "value"), [
    (datetime, "timestamptz", NOW),
    (datetime, "timestamptz", NOW.replace(microsecond=120)),
    (datetime, "timestamptz", datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2)))),
    (int, "bigint", 0),
    (int, "bigint", 12_345_678_901),
    (str, "text", "tee-shirt"),
    (str, "text", 'a "quoted" handle'),
])
@pytest.mark.parametrize("descending", [False, True])
async def test_a_cursor(
    connection: asyncpg.Connection, kind: type, column: str, value: Any, descending: bool
) -> None:
    row_id = uuid4()
    ordering = pagination.ordering("sorted_by", descending)
    request = sql.PageRequest(
        sort="sorted_by", descending=descending, after=None, size=1, ordering=ordering, kind=kind
    )

    found = await connection.fetchval(
        f"select {sql.cursor_of('p', request)} from (select $1::{column} as sorted_by, "
        "$2::uuid as id) p", value, row_id,
    )

    read = value.astimezone(UTC) if isinstance(value, datetime) else value  # as asyncpg reads it
    assert found == pagination.encode(ordering, read, row_id)
    assert pagination.decode(found, ordering, kind) == (value, row_id)


def test_the_sort_kinds_are_the_types_of_the_sorted_attributes() -> None:
    assert resolve_orders.SORT_KINDS == {"created_at": datetime, "number": int, "total": int}
    assert resolve_catalog.SORT_KINDS == {"created_at": datetime, "title": str, "handle": str}
    assert sql.ORDERS.sorts == set(resolve_orders.SORT_KINDS)
    assert sql.PRODUCTS.sorts == set(resolve_catalog.SORT_KINDS)
