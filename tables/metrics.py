"""Custom metrics recorded by tenants (name, value, dimensions, timestamp), and the sales figures
behind performance KPIs, summed in SQL over orders, order lines and stock levels."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

from piccolo.columns import JSONB, Numeric, Timestamptz, Varchar
from piccolo.columns import UUID as UUIDColumn
from piccolo.query import WhereRaw
from piccolo.table import Table

from domain import events, metrics
from tables import counting, db
from tables import events as outbox
from tables.engine import DB


class MetricTable(Table, tablename="metrics", db=DB):
    id = UUIDColumn(primary_key=True)
    tenant_id = UUIDColumn()
    name = Varchar(length=metrics.MAX_NAME)
    value = Numeric(digits=(20, 6))
    dimensions = JSONB(default={})
    recorded_at = Timestamptz()
    created_at = Timestamptz()


SOLD_ORDERS = """
    select o.id, o.currency, o.total, o.status, o.created_at
    from orders o
    where o.tenant_id = $1 and o.created_at >= $2 and o.created_at < $3
      and o.status = any($4::text[])
"""

SOLD_LINES = """
    from order_lines l
    join orders o on o.tenant_id = l.tenant_id and o.id = l.order_id
    join variants v on v.tenant_id = l.tenant_id and v.id = l.variant_id
    join products p on p.tenant_id = v.tenant_id and p.id = v.product_id
    where l.tenant_id = $1 and o.created_at >= $2 and o.created_at < $3
      and o.status = any($4::text[])
"""


def _point(row: dict[str, Any]) -> metrics.MetricPoint:
    return metrics.MetricPoint(
        id=row["id"],
        name=row["name"],
        value=row["value"],
        dimensions=db.json_field(row["dimensions"]),
        recorded_at=row["recorded_at"],
    )


async def record(
    draft: metrics.MetricDraft, *, tenant_id: UUID, meta: events.WriteMeta
) -> metrics.MetricPoint:
    """Append one value of a custom metric, with its `metrics.updated` event."""
    async with db.transaction(tenant_id=tenant_id):
        rows = await MetricTable.insert(MetricTable(
            tenant_id=tenant_id,
            name=draft.name,
            value=draft.value,
            dimensions=dict(draft.dimensions),
            recorded_at=draft.recorded_at,
        )).returning(*MetricTable.all_columns())
        point = _point(rows[0])
        await outbox.append(
            [events.draft("metrics.updated", point.name, metrics.metric_payload(point))],
            tenant_id=tenant_id, meta=meta,
        )
    return point


async def metric_rows(
    name: str,
    *,
    tenant_id: UUID,
    window: metrics.Window,
    granularity: metrics.Granularity,
    dimensions: dict[str, str],
) -> list[metrics.MetricRow]:
    """Count, sum, min and max of a metric's values per bucket, for values having all the
    given dimension values."""
    async with db.transaction(tenant_id=tenant_id) as tx:
        rows = await tx.connection.fetch(
            """
            select date_trunc($5::text, recorded_at at time zone 'UTC') as bucket,
                   count(*) as count, sum(value) as sum, min(value) as min, max(value) as max
            from metrics
            where tenant_id = $1 and name = $2 and recorded_at >= $3 and recorded_at < $4
              and dimensions @> $6::text::jsonb
            group by 1 order by 1
            """,
            tenant_id, name, window.start, window.end, granularity.value, json.dumps(dimensions),
        )
    return [metrics.MetricRow(**dict(row)) for row in rows]


async def list_points(
    *,
    tenant_id: UUID,
    where: metrics.MetricFilter,
    after: tuple[Any, UUID] | None,
    limit: int,
    descending: bool = True,
) -> list[metrics.MetricPoint]:
    """One keyset page, newest first (unless not `descending`): rows strictly past `after` =
    (recorded_at, id)."""
    query = MetricTable.select().where(MetricTable.tenant_id == tenant_id)
    for condition in _point_filters(where):
        query = query.where(condition)
    if after is not None:
        op = "<" if descending else ">"
        query = query.where(WhereRaw(f"(recorded_at, id) {op} ({{}}, {{}})", after[0], after[1]))
    query = query.order_by(MetricTable.recorded_at, MetricTable.id, ascending=not descending).limit(limit)
    async with db.transaction(tenant_id=tenant_id):
        rows = await query
    return [_point(row) for row in rows]


async def count_points(*, tenant_id: UUID, where: metrics.MetricFilter) -> int:
    """How many points list_points' filters select, every page."""
    return await counting.count_rows(MetricTable, _point_filters(where), tenant_id=tenant_id)


def _point_filters(where: metrics.MetricFilter) -> list[Any]:
    conditions: list[Any] = []
    if where.name is not None:
        conditions.append(MetricTable.name == where.name)
    if where.since is not None:
        conditions.append(MetricTable.recorded_at >= where.since)
    if where.until is not None:
        conditions.append(MetricTable.recorded_at < where.until)
    if where.dimensions:
        conditions.append(WhereRaw("dimensions @> {}::jsonb", json.dumps(dict(where.dimensions))))
    return conditions


async def sales(
    *, tenant_id: UUID, window: metrics.Window, granularity: metrics.Granularity
) -> list[metrics.SalesRow]:
    """Per (bucket, currency): sold orders, their revenue and units, and refunded orders."""
    async with db.transaction(tenant_id=tenant_id) as tx:
        rows = await tx.connection.fetch(
            f"""
            with o as ({SOLD_ORDERS}),
            units as (
                select l.order_id, sum(l.quantity) as units from order_lines l
                where l.tenant_id = $1 and l.order_id in (select id from o)
                group by l.order_id
            )
            select date_trunc($5::text, o.created_at at time zone 'UTC') as bucket, o.currency,
                   count(*) filter (where o.status <> all($6::text[])) as orders,
                   coalesce(sum(o.total) filter (where o.status <> all($6::text[])), 0) as revenue,
                   coalesce(sum(units.units) filter (where o.status <> all($6::text[])), 0) as units,
                   count(*) filter (where o.status = any($6::text[])) as refunded
            from o
            left join units on units.order_id = o.id
            group by 1, 2 order by 1, 2
            """,
            tenant_id, window.start, window.end, [*metrics.SOLD, *metrics.RETURNED],
            granularity.value, list(metrics.RETURNED),
        )
    return [
        metrics.SalesRow(
            bucket=row["bucket"], currency=row["currency"], orders=row["orders"],
            revenue=int(row["revenue"]), units=int(row["units"]), refunded=row["refunded"],
        )
        for row in rows
    ]


async def top_sellers(
    *,
    tenant_id: UUID,
    window: metrics.Window,
    group: metrics.TopGroup,
    by: metrics.TopBy,
    limit: int,
    currency: str | None,
) -> list[metrics.TopSeller]:
    """Products or variants of sold orders, by units (then revenue) or revenue (then units)."""
    variant = group is metrics.TopGroup.VARIANT
    keys = "v.product_id, v.id, v.sku" if variant else "v.product_id, null::uuid, null::text"
    order = "units desc, revenue desc" if by is metrics.TopBy.UNITS else "revenue desc, units desc"
    async with db.transaction(tenant_id=tenant_id) as tx:
        rows = await tx.connection.fetch(
            f"""
            select {keys}, l.currency, sum(l.quantity) as units, sum(l.line_total) as revenue
            {SOLD_LINES} and ($6::text is null or l.currency = $6)
            group by {keys}, l.currency
            order by {order}, 1, 2, l.currency
            limit $5
            """,
            tenant_id, window.start, window.end, list(metrics.SOLD), limit, currency,
        )
    return [
        metrics.TopSeller(
            product_id=row[0], variant_id=row[1], sku=row[2], currency=row["currency"],
            units=int(row["units"]), revenue=int(row["revenue"]),
        )
        for row in rows
    ]


async def revenue_by_product_attribute(
    attribute: str, *, tenant_id: UUID, window: metrics.Window
) -> list[metrics.Breakdown]:
    """Line totals and units of sold orders per value of a product attribute and currency."""
    async with db.transaction(tenant_id=tenant_id) as tx:
        rows = await tx.connection.fetch(
            f"""
            select p.attributes ->> $5::text as value, l.currency,
                   sum(l.line_total) as revenue, sum(l.quantity) as units
            {SOLD_LINES}
            group by 1, 2 order by 1 nulls last, 2
            """,
            tenant_id, window.start, window.end, list(metrics.SOLD), attribute,
        )
    return [
        metrics.Breakdown(
            dimension=attribute, value=row["value"], currency=row["currency"],
            revenue=int(row["revenue"]), units=int(row["units"]),
        )
        for row in rows
    ]
