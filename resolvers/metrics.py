"""Metrics resolvers: sales KPIs through the tenant's metrics service, and custom metrics."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from domain import metrics
from domain.errors import require_valid
from resolvers import pagination
from resolvers.context import Context
from tables import metrics as metrics_tables

READ = "metrics:read"
WRITE = "metrics:write"


async def performance(
    ctx: Context, *, start: datetime, end: datetime, granularity: metrics.Granularity
) -> metrics.Performance:
    ctx.require(READ)
    found = metrics.window(start, end, granularity)
    return await ctx.services.metrics.performance(
        metrics_tables, tenant_id=ctx.tenant_id, window=found, granularity=granularity
    )


async def top_sellers(
    ctx: Context,
    found: metrics.Window,
    *,
    group: metrics.TopGroup,
    by: metrics.TopBy,
    limit: int,
    currency: str | None,
) -> list[metrics.TopSeller]:
    ctx.require(READ)
    metrics.check_top(limit)
    return await metrics_tables.top_sellers(
        tenant_id=ctx.tenant_id, window=found, group=group, by=by, limit=limit, currency=currency
    )


async def record_metric(
    ctx: Context,
    *,
    name: str,
    value: Decimal,
    dimensions: Sequence[tuple[str, str]],
    recorded_at: datetime | None,
) -> metrics.MetricPoint:
    ctx.require(WRITE)
    draft = metrics.MetricDraft(
        name=name, value=value, dimensions=dimensions, recorded_at=recorded_at or metrics.now()
    )
    require_valid(metrics.check_metric(draft))
    return await metrics_tables.record(draft, tenant_id=ctx.tenant_id, meta=ctx.meta)


async def metric_series(
    ctx: Context,
    *,
    name: str,
    start: datetime,
    end: datetime,
    granularity: metrics.Granularity,
    dimensions: Sequence[tuple[str, str]],
) -> metrics.MetricSeries:
    ctx.require(READ)
    errors = metrics.check_name(name, "name")
    errors.update(metrics.check_dimensions(dimensions, "dimensions"))
    require_valid(errors)
    found = metrics.window(start, end, granularity)
    rows = await metrics_tables.metric_rows(
        name, tenant_id=ctx.tenant_id, window=found, granularity=granularity,
        dimensions=dict(dimensions),
    )
    return metrics.series(name, rows, found, granularity)


async def metric_points(
    ctx: Context, *, page: pagination.Window, where: metrics.MetricFilter
) -> pagination.Page[metrics.MetricPoint]:
    ctx.require(READ)
    require_valid(metrics.check_dimensions(list(where.dimensions.items()), "filter.dimensions"))
    order = "recorded_at:desc"
    rows = await metrics_tables.list_points(
        tenant_id=ctx.tenant_id, where=where, after=page.key(order), limit=page.size + 1,
        descending=pagination.scan_descending(True, page),
    )
    return pagination.paginate_window(
        rows, page, lambda p: _point_key(order, p),
        lambda: metrics_tables.count_points(tenant_id=ctx.tenant_id, where=where),
    )


def _point_key(order: str, point: metrics.MetricPoint) -> tuple[str, Any, UUID]:
    return order, point.recorded_at, point.id
