"""Metrics types and root fragments: sales KPIs per time bucket, and custom metrics."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime
from decimal import Decimal
from typing import TypeAlias

import strawberry

from domain import events, metrics
from resolvers import catalog as resolve_catalog
from resolvers import metrics as resolve
from resolvers import subscriptions as live
from schema import catalog, cost, inputs
from schema.common import (
    Attribute,
    AttributeInput,
    BigInt,
    Connection,
    Ctx,
    Money,
    UserError,
    attempt,
    attributes_out,
    parse_id,
    window,
)
from schema.modules import Module
from schema.subscriptions import EventType

Granularity: TypeAlias = metrics.Granularity
strawberry.enum(
    Granularity, name="Granularity", description="Bucket size; buckets start in UTC, weeks on Monday."
)
TopSellerRanking: TypeAlias = metrics.TopBy
strawberry.enum(
    TopSellerRanking, name="TopSellerRanking", description="UNITS: by units sold; REVENUE: by line totals."
)

KPI_RULES = (
    "Orders count by when they were placed; revenue is the sum of order totals of paid and "
    "fulfilled orders (refunded ones excluded), in minor units per currency; average order value "
    "is revenue / orders rounded half up; returns rate is refunded / (paid + fulfilled + refunded)."
)
KPI_WEIGHT = cost.weight(20)
"""A KPI aggregates every order of its range in PostgreSQL: far more work than an object."""


@strawberry.input(description="A time range from `from` (included) to `to` (excluded); UTC if no offset.")
class TimeRangeInput:
    start: datetime = strawberry.field(name="from")
    end: datetime = strawberry.field(name="to")


@strawberry.type(description="Sales in one currency.")
class CurrencySales:
    currency: str
    revenue: Money
    order_count: int
    average_order_value: Money
    units_sold: int
    refunded_order_count: int
    returns_rate: float

    @classmethod
    def from_domain(cls, value: metrics.CurrencySales) -> CurrencySales:
        return cls(
            currency=value.currency,
            revenue=Money(amount=BigInt(value.revenue), currency=value.currency),
            order_count=value.order_count,
            average_order_value=Money(
                amount=BigInt(value.average_order_value), currency=value.currency
            ),
            units_sold=value.units_sold,
            refunded_order_count=value.refunded_count,
            returns_rate=value.returns_rate,
        )


@strawberry.type(description="KPIs of one bucket (or of the whole range). " + KPI_RULES)
class PerformanceBucket:
    start: datetime
    end: datetime
    order_count: int = strawberry.field(description="Paid and fulfilled orders, all currencies")
    units_sold: int
    refunded_order_count: int
    returns_rate: float
    sales: list[CurrencySales] = strawberry.field(description="Per currency, in currency order")

    @classmethod
    def from_domain(cls, value: metrics.Bucket) -> PerformanceBucket:
        return cls(
            start=value.start,
            end=value.end,
            order_count=value.order_count,
            units_sold=value.units_sold,
            refunded_order_count=value.refunded_count,
            returns_rate=value.returns_rate,
            sales=[CurrencySales.from_domain(s) for s in value.sales],
        )


@strawberry.type(description="Revenue (line totals) and units of one value of a dimension.")
class RevenueBreakdown:
    dimension: str
    value: str | None
    revenue: Money
    units_sold: int


@strawberry.type(description="A product or variant ranked among the best sellers, in one currency.")
class TopSeller:
    product_id: strawberry.ID
    variant_id: strawberry.ID | None
    sku: str | None
    units_sold: int
    revenue: Money = strawberry.field(description="Sum of its line totals")

    @classmethod
    def from_domain(cls, value: metrics.TopSeller) -> TopSeller:
        return cls(
            product_id=strawberry.ID(str(value.product_id)),
            variant_id=None if value.variant_id is None else strawberry.ID(str(value.variant_id)),
            sku=value.sku,
            units_sold=value.units,
            revenue=Money(amount=BigInt(value.revenue), currency=value.currency),
        )

    @strawberry.field
    async def product(self, info: Ctx) -> catalog.Product | None:
        found = await resolve_catalog.product(info.context, parse_id(self.product_id, "productId"))
        return None if found is None else catalog.Product.from_domain(found)


@strawberry.type(description="Sales KPIs over a range. " + KPI_RULES)
class Performance:
    start: datetime = strawberry.field(name="from")
    end: datetime = strawberry.field(name="to")
    granularity: Granularity
    buckets: list[PerformanceBucket] = strawberry.field(description="Every bucket, empty ones too")
    total: PerformanceBucket
    revenue_breakdowns: list[RevenueBreakdown] = strawberry.field(
        description="Revenue by further dimensions the tenant's metrics service provides"
    )
    window: strawberry.Private[metrics.Window]

    @classmethod
    def from_domain(cls, value: metrics.Performance) -> Performance:
        return cls(
            start=value.window.start,
            end=value.window.end,
            granularity=value.granularity,
            buckets=[PerformanceBucket.from_domain(b) for b in value.buckets],
            total=PerformanceBucket.from_domain(value.total),
            revenue_breakdowns=[
                RevenueBreakdown(
                    dimension=b.dimension, value=b.value, units_sold=b.units,
                    revenue=Money(amount=BigInt(b.revenue), currency=b.currency),
                )
                for b in value.breakdowns
            ],
            window=value.window,
        )

    @strawberry.field(description="Best-selling products of paid and fulfilled orders.")
    async def top_products(
        self, info: Ctx, by: TopSellerRanking = metrics.TopBy.UNITS,
        limit: int = 10, currency: str | None = None,
    ) -> list[TopSeller]:
        return await self._top(info, metrics.TopGroup.PRODUCT, by, limit, currency)

    @strawberry.field(description="Best-selling variants (SKUs) of paid and fulfilled orders.")
    async def top_variants(
        self, info: Ctx, by: TopSellerRanking = metrics.TopBy.UNITS,
        limit: int = 10, currency: str | None = None,
    ) -> list[TopSeller]:
        return await self._top(info, metrics.TopGroup.VARIANT, by, limit, currency)

    async def _top(
        self, info: Ctx, group: metrics.TopGroup, by: metrics.TopBy, limit: int, currency: str | None
    ) -> list[TopSeller]:
        found = await resolve.top_sellers(
            info.context, self.window, group=group, by=by, limit=limit, currency=currency
        )
        return [TopSeller.from_domain(t) for t in found]


@strawberry.type(description="One recorded value of a custom metric.")
class MetricPoint:
    id: strawberry.ID
    name: str
    value: Decimal
    dimensions: list[Attribute]
    recorded_at: datetime

    @classmethod
    def from_domain(cls, value: metrics.MetricPoint) -> MetricPoint:
        return cls(
            id=strawberry.ID(str(value.id)),
            name=value.name,
            value=value.value,
            dimensions=attributes_out(value.dimensions),
            recorded_at=value.recorded_at,
        )


@strawberry.type(description="Aggregates of a metric's values; avg is sum / count to 6 decimals.")
class MetricAggregate:
    start: datetime
    end: datetime
    count: int
    sum: Decimal
    avg: Decimal | None
    min: Decimal | None
    max: Decimal | None

    @classmethod
    def from_domain(cls, value: metrics.MetricBucket) -> MetricAggregate:
        return cls(
            start=value.start, end=value.end, count=value.count, sum=value.sum, avg=value.avg,
            min=value.min, max=value.max,
        )


@strawberry.type
class MetricSeries:
    name: str
    buckets: list[MetricAggregate] = strawberry.field(description="Every bucket, empty ones too")
    total: MetricAggregate

    @classmethod
    def from_domain(cls, value: metrics.MetricSeries) -> MetricSeries:
        return cls(
            name=value.name,
            buckets=[MetricAggregate.from_domain(b) for b in value.buckets],
            total=MetricAggregate.from_domain(value.total),
        )


@strawberry.input
class MetricInput:
    name: str = inputs.column(metrics.MAX_NAME, description="e.g. storefront.visits")
    value: Decimal = strawberry.field(description="Up to 6 decimals, below 10^14 in magnitude")
    dimensions: list[AttributeInput] = strawberry.field(
        default_factory=list, description="At most 10, distinct names"
    )
    timestamp: datetime | None = strawberry.field(default=None, description="Defaults to now")


@strawberry.input
class MetricPointFilter:
    name: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    dimensions: list[AttributeInput] | None = strawberry.field(
        default=None, description="Points having all these dimension values"
    )

    def to_domain(self) -> metrics.MetricFilter:
        return metrics.MetricFilter(
            name=self.name, since=self.since, until=self.until,
            dimensions={d.name: d.value for d in self.dimensions or []},
        )


@strawberry.type(description="The recorded value, or why it was not recorded.")
class MetricPayload:
    metric: MetricPoint | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class MetricsQuery:
    @strawberry.field(
        description="Sales KPIs per bucket and in total. " + KPI_RULES, metadata=KPI_WEIGHT
    )
    async def performance(
        self, info: Ctx, range: TimeRangeInput,
        granularity: Granularity = metrics.Granularity.DAY,
    ) -> Performance:
        found = await resolve.performance(
            info.context, start=range.start, end=range.end, granularity=granularity
        )
        return Performance.from_domain(found)

    @strawberry.field(description="A custom metric aggregated per bucket over a range.")
    async def metrics(
        self, info: Ctx, name: str, range: TimeRangeInput,
        granularity: Granularity = metrics.Granularity.DAY,
        dimensions: list[AttributeInput] | None = None,
    ) -> MetricSeries:
        found = await resolve.metric_series(
            info.context, name=name, start=range.start, end=range.end, granularity=granularity,
            dimensions=_pairs(dimensions),
        )
        return MetricSeries.from_domain(found)

    @strawberry.field(description="Recorded values of custom metrics, newest first.")
    async def metric_points(
        self, info: Ctx, first: int | None = None, after: str | None = None,
        last: int | None = None, before: str | None = None,
        filter: MetricPointFilter | None = None,
    ) -> Connection[MetricPoint]:
        page = await resolve.metric_points(
            info.context, page=window(info, first, after, last, before),
            where=(filter or MetricPointFilter()).to_domain()
        )
        return Connection.of(page, MetricPoint.from_domain)


@strawberry.type
class MetricsMutation:
    @strawberry.mutation(description="Record one value of a custom metric.")
    async def record_metric(self, info: Ctx, input: MetricInput) -> MetricPayload:
        found, errors = await attempt(resolve.record_metric(
            info.context, name=input.name, value=input.value,
            dimensions=_pairs(input.dimensions), recorded_at=input.timestamp,
        ))
        return MetricPayload(metric=None if found is None else MetricPoint.from_domain(found), errors=errors)


def _pairs(values: list[AttributeInput] | None) -> list[tuple[str, str]]:
    return [(value.name, value.value) for value in values or []]


@strawberry.type
class MetricsSubscription:
    @strawberry.subscription(description="Custom metrics as they are recorded.")
    async def metrics_updated(
        self, info: Ctx, after: str | None = None
    ) -> AsyncGenerator[EventType, None]:
        info.context.require("metrics:read")

        def match(event: events.Event) -> bool:
            return event.type == "metrics.updated"

        async for event in live.stream(info.context, after=after, match=match, field=info.field_name):
            yield EventType.from_domain(event)


MODULE = Module(
    slug="metrics", query=MetricsQuery, mutation=MetricsMutation, subscription=MetricsSubscription
)


__all__ = ["MetricsMutation", "MetricsQuery", "Performance", "TimeRangeInput"]
