"""Planned reads: a whole query selection as ONE statement whose result is the response JSON.

The GraphQL side (server/plans/) decides what a selection means; this module knows the
tables, their columns and their relations. Every statement filters on the tenant (`$1`) and
runs inside `db.transaction(tenant_id=...)`, so row-level security stays the second wall.

A node is a function of the SQL alias of the row it describes; it returns a SQL expression
of type json. Aliases grow along the path (`o`, `o_l`, `o_l_v`), so nested subqueries never
shadow the row they are correlated with.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from domain import catalog, orders
from tables import db

Node = Callable[[str], str]
TENANT = "$1"


def _isoformat(value: str) -> str:
    """Python's datetime.isoformat() of a timestamptz read by asyncpg (UTC; microseconds
    only when not zero), whatever the session's time zone."""
    utc = f"({value} at time zone 'UTC')"
    return (f"(to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS') || "
            f"case when extract(microseconds from {value})::bigint % 1000000 <> 0 "
            f"then to_char({utc}, '.US') else '' end || '+00:00')")


def _timestamp(name: str) -> str:
    return f"to_json({_isoformat('{a}.' + name)})"


TIMESTAMPS = {"created_at": _timestamp("created_at"), "updated_at": _timestamp("updated_at")}

PRODUCT_COLUMNS = {
    "id": "{a}.id", "handle": "{a}.handle", "title": "{a}.title",
    "description": "{a}.description", "status": "upper({a}.status)", **TIMESTAMPS,
}
VARIANT_COLUMNS = {
    "id": "{a}.id", "product_id": "{a}.product_id", "sku": "{a}.sku", "title": "{a}.title",
    "active": "{a}.active",
}
ORDER_COLUMNS = {
    "id": "{a}.id", "number": "{a}.number", "status": "upper({a}.status)",
    "currency": "{a}.currency", "price_list_id": "{a}.price_list_id", **TIMESTAMPS,
}
LINE_COLUMNS = {
    "id": "{a}.id", "sku": "{a}.sku", "title": "{a}.title", "quantity": "{a}.quantity",
}
DISPLAY_NAME = "concat_ws(' ', nullif({a}.first_name, ''), nullif({a}.last_name, ''))"
"""domain.customers.Customer.name in SQL (tests/tables/test_plan_rules.py holds them equal)."""
CUSTOMER_COLUMNS = {
    "id": "{a}.id", "email": "{a}.email", "first_name": "{a}.first_name",
    "last_name": "{a}.last_name", "phone": "{a}.phone", "name": DISPLAY_NAME,
    "tags": "coalesce(to_json({a}.tags), '[]'::json)", **TIMESTAMPS,
}
# Money fields: (amount column, currency column).
VARIANT_MONEY = {"price": ("price_amount", "currency")}
ORDER_MONEY = {
    "subtotal": ("subtotal", "currency"), "discount_total": ("discount_total", "currency"),
    "tax_total": ("tax_total", "currency"), "total": ("total", "currency"),
}
LINE_MONEY = {
    "unit_price": ("unit_price", "currency"), "discount": ("discount", "currency"),
    "line_total": ("line_total", "currency"),
}


@dataclasses.dataclass(frozen=True)
class Source:
    """A tenant table a connection pages over, and the sort keys its cursors may carry."""

    table: str
    alias: str
    sorts: frozenset[str]


PRODUCTS = Source("products", "p", frozenset(sort.value for sort in catalog.ProductSort))
ORDERS = Source("orders", "o", frozenset(sort.value for sort in orders.OrderSort))


class Statement:
    """The parameters of one statement; `$1` is always the tenant."""

    def __init__(self, tenant_id: UUID) -> None:
        self.params: list[Any] = [tenant_id]

    def bind(self, value: Any) -> str:
        self.params.append(value)
        return f"${len(self.params)}"


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def obj(fields: Sequence[tuple[str, str]]) -> str:
    """json_build_object of (response key, SQL expression) pairs, in order."""
    return "json_build_object(" + ", ".join(f"{literal(k)}, {v}" for k, v in fields) + ")"


def column(template: str) -> Node:
    return lambda alias: template.format(a=alias)


def constant(text: str) -> Node:
    return lambda alias: literal(text)


def money(amount: str, currency: str, fields: Sequence[tuple[str, str]]) -> Node:
    """A Money object; `fields` are (response key, 'amount' | 'currency' | '__typename')."""
    def node(alias: str) -> str:
        values = {"amount": f"{alias}.{amount}", "currency": f"{alias}.{currency}",
                  "__typename": literal("Money")}
        return obj([(key, values[name]) for key, name in fields])

    return node


def compare_at(fields: Sequence[tuple[str, str]]) -> Node:
    """A variant's compare-at price, shown only while above its base price: domain.pricing's
    Quote.shown_compare_at in SQL (tests/tables/test_plan_rules.py holds them equal)."""
    shown = money("compare_at_amount", "currency", fields)
    return lambda a: f"(case when {a}.compare_at_amount > {a}.price_amount then {shown(a)} end)"


def variants_of_product(node: Node) -> Node:
    return _many("variants", "v", "product_id", ("position", "sku"), node)


def lines_of_order(node: Node) -> Node:
    return _many("order_lines", "l", "order_id", ("position", "id"), node)


def variant_of_line(node: Node) -> Node:
    return _one("variants", "v", "variant_id", node)


def customer_of_order(node: Node) -> Node:
    return _one("customers", "c", "customer_id", node)


def _many(table: str, suffix: str, parent: str, order: Sequence[str], node: Node) -> Node:
    """The rows of `table` whose `parent` column is this row's id, as a JSON array."""
    def expr(alias: str) -> str:
        many = f"{alias}_{suffix}"
        ordered = ", ".join(f"{many}.{column}" for column in order)
        return (f"coalesce((select json_agg({node(many)} order by {ordered}) from {table} {many} "
                f"where {many}.tenant_id = {TENANT} and {many}.{parent} = {alias}.id), '[]'::json)")

    return expr


def _one(table: str, suffix: str, key: str, node: Node) -> Node:
    def expr(alias: str) -> str:
        one = f"{alias}_{suffix}"
        return (f"(select {node(one)} from {table} {one} "
                f"where {one}.tenant_id = {TENANT} and {one}.id = {alias}.{key})")

    return expr


def product_by_id(statement: Statement, product_id: UUID, node: Node) -> str:
    return _by_id(statement, "products", "p", product_id, node)


def order_by_id(statement: Statement, order_id: UUID, node: Node) -> str:
    return _by_id(statement, "orders", "o", order_id, node)


def _by_id(statement: Statement, table: str, alias: str, row_id: UUID, node: Node) -> str:
    return (f"(select {node(alias)} from {table} {alias} "
            f"where {alias}.tenant_id = {TENANT} and {alias}.id = {statement.bind(row_id)})")


@dataclasses.dataclass(frozen=True)
class PageRequest:
    """One keyset page: `size` rows strictly after `after` = (sort value, id), or, `backward`,
    strictly before it (read in reverse, shown in order); their cursors are made for
    `ordering` and carry sort values of type `kind`."""

    sort: str
    descending: bool
    after: tuple[Any, UUID] | None
    size: int
    ordering: str
    kind: type
    backward: bool = False


@dataclasses.dataclass(frozen=True)
class PageShape:
    """What a connection selects: (response key, part) pairs, parts being 'edges' with an edge
    node, 'pageInfo' with its fields, or '__typename'."""

    fields: Sequence[tuple[str, str, Any]]
    cursors: bool
    typename: str


def page(statement: Statement, source: Source, request: PageRequest, shape: PageShape) -> str:
    """A connection as one json object, the same page the resolvers' keyset queries give."""
    if request.sort not in source.sorts:  # it is written into the SQL: only known columns
        raise ValueError(f"{source.table} cannot be sorted by {request.sort!r}")
    a = source.alias
    scan_descending = request.descending != request.backward
    direction = "desc" if scan_descending else "asc"
    order = f"{a}.{request.sort} {direction}, {a}.id {direction}"
    where = f"{a}.tenant_id = {TENANT}"
    if request.after is not None:
        op = "<" if scan_descending else ">"
        value, row_id = request.after
        where += f" and ({a}.{request.sort}, {a}.id) {op} ({statement.bind(value)}, {statement.bind(row_id)})"
    cursor = f", {cursor_of(a, request)} as _cursor" if shape.cursors else ""
    # The sizes are written as numbers, not bound: a generic plan (see fetch) then knows where
    # the page stops instead of guessing a tenth of the table. A size is an int, checked by
    # the resolver.
    size = str(int(request.size))
    rows = (f"select {a}.*, row_number() over (order by {order}) as _rn{cursor} from {source.table} {a} "
            f"where {where} order by {order} limit {int(request.size) + 1}")
    fields = [(key, _page_part(source, part, arg, size, request, shape)) for key, part, arg in shape.fields]
    return f"(select {obj(fields)} from ({rows}) {a})"


def _page_part(
    source: Source, part: str, arg: Any, size: str, request: PageRequest, shape: PageShape
) -> str:
    a = source.alias
    shown = f"order by {a}._rn desc" if request.backward else f"order by {a}._rn"
    if part == "edges":
        return f"coalesce(json_agg({arg(a)} {shown}) filter (where {a}._rn <= {size}), '[]'::json)"
    if part == "pageInfo":
        return obj([(key, _page_info(a, name, size, shown, request)) for key, name in arg])
    if part == "totalCount":
        # Every row of the tenant: a planned page has no filter (filtered lists fall back).
        n = f"{a}_n"
        return f"(select count(*) from {source.table} {n} where {n}.tenant_id = {TENANT})"
    return literal(shape.typename)


def _page_info(a: str, name: str, size: str, shown: str, request: PageRequest) -> str:
    cursors = f"(array_agg({a}._cursor {shown}) filter (where {a}._rn <= {size}))"
    more = f"count(*) > {size}"
    given = "true" if request.after is not None else "false"
    return {
        "hasNextPage": given if request.backward else more,
        "hasPreviousPage": more if request.backward else given,
        "startCursor": f"{cursors}[1]",
        "endCursor": f"{cursors}[least(count(*), {size})]",
        "__typename": literal("PageInfo"),
    }[name]


def edge_part(name: str, typename: str) -> Node:
    """An edge's cursor (the page row's `_cursor`) or its __typename."""
    return column("{a}._cursor") if name == "cursor" else constant(typename)


def cursor_of(a: str, request: PageRequest) -> str:
    """resolvers.pagination.encode in SQL (tests/tables/test_plan_rules.py holds them equal):
    base64url, unpadded, of the compact JSON [ordering, value, id], a timestamp being
    {"t": its Python isoformat in UTC}."""
    value = f"{a}.{request.sort}"
    if request.kind is datetime:
        value = "'{\"t\":\"' || " + _isoformat(value) + " || '\"}'"
    elif request.kind is int:
        value = f"{value}::text"
    else:
        value = f"to_json({value})::text"
    raw = f"'[\"{request.ordering}\",' || {value} || ',\"' || {a}.id::text || '\"]'"
    return f"rtrim(translate(encode(convert_to({raw}, 'UTF8'), 'base64'), E'+/\\n', '-_'), '=')"


def data(roots: Sequence[tuple[str, str]]) -> str:
    # `$1` is bound even when no root reads a table (a lone __typename).
    return f"select {obj(roots)}::text from (select {TENANT}::uuid) as tenant"


async def fetch(sql: str, params: Sequence[Any], *, tenant_id: UUID) -> str:
    """The response data as JSON text, read in one short tenant transaction. Its plan depends
    on no argument (keys, keyset cursors, sizes written as numbers), so it is planned once per
    connection (db.GENERIC_PLANS), whatever the statistics say of a tenant's share."""
    async with db.transaction(tenant_id=tenant_id, generic_plans=True) as tx:
        return str(await tx.connection.fetchval(sql, *params))
