"""Performance metrics: sales KPIs per time bucket, and custom metrics recorded by tenants.

Sales KPIs count orders by when they were placed (`created_at`, buckets in UTC), per currency:
- revenue: the sum of order totals of orders that are paid or fulfilled (refunded, pending and
  cancelled orders bring none), in minor units;
- order count and units sold: those same orders and the quantities of their lines;
- average order value: revenue / order count, in whole minor units, rounded half up;
- returns rate: refunded orders / (paid + fulfilled + refunded orders).
"""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Protocol
from uuid import UUID

from domain.errors import Invalid

SOLD = ("paid", "fulfilled")
RETURNED = ("refunded",)
MAX_BUCKETS = 1000
MAX_NAME = 100
MAX_TOP = 100
NAME = re.compile(r"[a-z][a-z0-9_.:-]{0,63}")
DIMENSION = re.compile(r"[a-z][a-z0-9_]{0,63}")
MAX_DIMENSIONS = 10
MAX_DIMENSION_VALUE = 200
MAX_VALUE = Decimal(10) ** 14
DECIMALS = 6


class Granularity(enum.Enum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


class TopBy(enum.Enum):
    UNITS = "units"
    REVENUE = "revenue"


class TopGroup(enum.Enum):
    PRODUCT = "product"
    VARIANT = "variant"


@dataclasses.dataclass(frozen=True)
class Window:
    """A time range [start, end) in UTC."""

    start: datetime
    end: datetime


def window(start: datetime, end: datetime, granularity: Granularity, path: str = "range") -> Window:
    """A checked range: start before end, and at most MAX_BUCKETS buckets of the granularity."""
    found = Window(start=_utc(start), end=_utc(end))
    if found.start >= found.end:
        raise Invalid("range: `from` must be before `to`", fields={f"{path}.to": "not after from"})
    if _bucket_count(found, granularity) > MAX_BUCKETS:
        raise Invalid(
            f"range: at most {MAX_BUCKETS} buckets; choose a shorter range or a coarser granularity",
            fields={path: "too many buckets"},
        )
    return found


def truncate(moment: datetime, granularity: Granularity) -> datetime:
    """The start of the bucket holding `moment` (as PostgreSQL's date_trunc, weeks on Monday)."""
    day = _utc(moment).replace(hour=0, minute=0, second=0, microsecond=0)
    if granularity is Granularity.WEEK:
        return day - timedelta(days=day.weekday())
    if granularity is Granularity.MONTH:
        return day.replace(day=1)
    return day


def next_bucket(start: datetime, granularity: Granularity) -> datetime:
    if granularity is Granularity.MONTH:
        return start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
    return start + timedelta(days=7 if granularity is Granularity.WEEK else 1)


def bucket_starts(found: Window, granularity: Granularity) -> list[datetime]:
    starts: list[datetime] = []
    current = truncate(found.start, granularity)
    while current < found.end:
        starts.append(current)
        current = next_bucket(current, granularity)
    return starts


def _bucket_count(found: Window, granularity: Granularity) -> int:
    """How many buckets `bucket_starts` gives, without walking them."""
    first = truncate(found.start, granularity)
    if granularity is Granularity.MONTH:
        last = truncate(found.end, granularity)
        return (last.year - first.year) * 12 + last.month - first.month + int(found.end > last)
    step = timedelta(days=7 if granularity is Granularity.WEEK else 1)
    return -(-(found.end - first) // step)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclasses.dataclass(frozen=True)
class SalesRow:
    """What the store sums for one (bucket, currency)."""

    bucket: datetime
    currency: str
    orders: int
    revenue: int
    units: int
    refunded: int


@dataclasses.dataclass(frozen=True)
class CurrencySales:
    currency: str
    revenue: int
    order_count: int
    units_sold: int
    refunded_count: int

    @property
    def average_order_value(self) -> int:
        return rounded_average(self.revenue, self.order_count)

    @property
    def returns_rate(self) -> float:
        return ratio(self.refunded_count, self.order_count + self.refunded_count)


@dataclasses.dataclass(frozen=True)
class Bucket:
    start: datetime
    end: datetime
    sales: list[CurrencySales]

    @property
    def order_count(self) -> int:
        return sum(s.order_count for s in self.sales)

    @property
    def units_sold(self) -> int:
        return sum(s.units_sold for s in self.sales)

    @property
    def refunded_count(self) -> int:
        return sum(s.refunded_count for s in self.sales)

    @property
    def returns_rate(self) -> float:
        return ratio(self.refunded_count, self.order_count + self.refunded_count)


@dataclasses.dataclass(frozen=True)
class Breakdown:
    """Revenue (sum of line totals) and units of one value of a dimension, e.g. season SS25."""

    dimension: str
    value: str | None
    currency: str
    revenue: int
    units: int


@dataclasses.dataclass(frozen=True)
class Performance:
    window: Window
    granularity: Granularity
    buckets: list[Bucket]
    total: Bucket
    breakdowns: list[Breakdown] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class TopSeller:
    """A product or variant ranked by units sold or by revenue (line totals) in one currency."""

    product_id: UUID
    variant_id: UUID | None
    sku: str | None
    currency: str
    units: int
    revenue: int


def rounded_average(total: int, count: int) -> int:
    """total / count in whole units, halves rounded up (away from zero for non-negatives)."""
    return 0 if count == 0 else (2 * total + count) // (2 * count)


def ratio(part: int, whole: int) -> float:
    return 0.0 if whole == 0 else part / whole


def summarize(rows: Sequence[SalesRow], found: Window, granularity: Granularity) -> Performance:
    """Every bucket of the range, empty ones included, and the total over the range."""
    by_bucket: dict[datetime, list[SalesRow]] = {}
    for row in rows:
        by_bucket.setdefault(_utc(row.bucket), []).append(row)
    buckets = [
        Bucket(start=start, end=next_bucket(start, granularity), sales=_sales(by_bucket.get(start, [])))
        for start in bucket_starts(found, granularity)
    ]
    return Performance(
        window=found,
        granularity=granularity,
        buckets=buckets,
        total=Bucket(start=found.start, end=found.end, sales=_sales(rows)),
    )


def _sales(rows: Sequence[SalesRow]) -> list[CurrencySales]:
    totals: dict[str, list[int]] = {}
    for row in rows:
        sums = totals.setdefault(row.currency, [0, 0, 0, 0])
        for index, value in enumerate((row.revenue, row.orders, row.units, row.refunded)):
            sums[index] += value
    return [CurrencySales(currency, *sums) for currency, sums in sorted(totals.items())]


class SalesStore(Protocol):
    """Where sales figures come from (tables.metrics); services decide what to make of them."""

    async def sales(
        self, *, tenant_id: UUID, window: Window, granularity: Granularity
    ) -> list[SalesRow]: ...

    async def revenue_by_product_attribute(
        self, attribute: str, *, tenant_id: UUID, window: Window
    ) -> list[Breakdown]: ...


class MetricsService(Protocol):
    """The metrics service a tenant extension may override."""

    async def performance(
        self, store: SalesStore, *, tenant_id: UUID, window: Window, granularity: Granularity
    ) -> Performance: ...


class DefaultMetricsService:
    async def performance(
        self, store: SalesStore, *, tenant_id: UUID, window: Window, granularity: Granularity
    ) -> Performance:
        rows = await store.sales(tenant_id=tenant_id, window=window, granularity=granularity)
        return summarize(rows, window, granularity)


def check_top(limit: int, path: str = "limit") -> None:
    if not 1 <= limit <= MAX_TOP:
        raise Invalid(f"limit must be between 1 and {MAX_TOP}", fields={path: "out of range"})


@dataclasses.dataclass(frozen=True)
class MetricDraft:
    name: str
    value: Decimal
    dimensions: Sequence[tuple[str, str]]
    recorded_at: datetime


@dataclasses.dataclass(frozen=True)
class MetricPoint:
    id: UUID
    name: str
    value: Decimal
    dimensions: Mapping[str, str]
    recorded_at: datetime


@dataclasses.dataclass(frozen=True)
class MetricBucket:
    """Aggregates of the values in one bucket; avg is sum / count to 6 decimals, half up."""

    start: datetime
    end: datetime
    count: int
    sum: Decimal
    min: Decimal | None
    max: Decimal | None

    @property
    def avg(self) -> Decimal | None:
        if self.count == 0:
            return None
        return (self.sum / self.count).quantize(Decimal(1).scaleb(-DECIMALS), ROUND_HALF_UP)


@dataclasses.dataclass(frozen=True)
class MetricRow:
    bucket: datetime
    count: int
    sum: Decimal
    min: Decimal
    max: Decimal


@dataclasses.dataclass(frozen=True)
class MetricSeries:
    name: str
    buckets: list[MetricBucket]
    total: MetricBucket


@dataclasses.dataclass(frozen=True)
class MetricFilter:
    name: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    dimensions: Mapping[str, str] = dataclasses.field(default_factory=dict)


def check_metric(draft: MetricDraft, path: str = "input") -> dict[str, str]:
    errors = check_name(draft.name, f"{path}.name")
    errors.update(check_dimensions(draft.dimensions, f"{path}.dimensions"))
    value = draft.value
    exponent = value.as_tuple().exponent  # a letter for NaN and infinities
    if not value.is_finite() or abs(value) >= MAX_VALUE:
        errors[f"{path}.value"] = "must be a finite number below 10^14 in magnitude"
    elif isinstance(exponent, int) and exponent < -DECIMALS:
        errors[f"{path}.value"] = f"at most {DECIMALS} decimal places"
    return errors


def check_name(name: str, path: str) -> dict[str, str]:
    if NAME.fullmatch(name):
        return {}
    return {path: "1-64 characters: lowercase letters, digits, '_', '.', ':', '-', starting with a letter"}


def check_dimensions(pairs: Sequence[tuple[str, str]], path: str) -> dict[str, str]:
    if len(pairs) > MAX_DIMENSIONS:
        return {path: f"at most {MAX_DIMENSIONS} dimensions"}
    errors: dict[str, str] = {}
    seen: set[str] = set()
    for index, (name, value) in enumerate(pairs):
        if not DIMENSION.fullmatch(name) or name in seen:
            errors[f"{path}[{index}].name"] = "a distinct lowercase name of at most 64 characters"
        if len(value) > MAX_DIMENSION_VALUE:
            errors[f"{path}[{index}].value"] = f"at most {MAX_DIMENSION_VALUE} characters"
        seen.add(name)
    return errors


def series(
    name: str, rows: Sequence[MetricRow], found: Window, granularity: Granularity
) -> MetricSeries:
    """Every bucket of the range, empty ones with count 0, and the aggregates over the range."""
    by_bucket = {_utc(row.bucket): row for row in rows}
    buckets = [
        _metric_bucket(
            start, next_bucket(start, granularity), [by_bucket[start]] if start in by_bucket else []
        )
        for start in bucket_starts(found, granularity)
    ]
    return MetricSeries(name=name, buckets=buckets, total=_metric_bucket(found.start, found.end, rows))


def _metric_bucket(start: datetime, end: datetime, rows: Sequence[MetricRow]) -> MetricBucket:
    return MetricBucket(
        start=start,
        end=end,
        count=sum(row.count for row in rows),
        sum=sum((row.sum for row in rows), Decimal(0).scaleb(-DECIMALS)),
        min=min((row.min for row in rows), default=None),
        max=max((row.max for row in rows), default=None),
    )


def metric_payload(point: MetricPoint) -> dict[str, object]:
    return {
        "id": str(point.id),
        "name": point.name,
        "value": str(point.value),
        "dimensions": dict(point.dimensions),
        "recordedAt": point.recorded_at.isoformat(),
    }


def now() -> datetime:
    return datetime.now(UTC)
