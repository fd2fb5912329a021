"""Metrics rules: buckets, rounding, ranges and custom metric validation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from domain import metrics
from domain.errors import Invalid

G = metrics.Granularity


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("total", "count", "average"),
    [(2555, 2, 1278), (2554, 2, 1277), (4556, 3, 1519), (1, 3, 0), (2, 3, 1), (0, 0, 0), (5, 2, 3)],
)
def test_average_order_value_rounds_half_up(total: int, count: int, average: int) -> None:
    assert metrics.rounded_average(total, count) == average


def test_weeks_start_on_monday_and_months_roll_over_the_year() -> None:
    window = metrics.Window(utc("2025-11-15T12:00:00"), utc("2026-02-01T00:00:00"))

    assert metrics.truncate(utc("2026-03-08T23:59:59"), G.WEEK) == utc("2026-03-02T00:00:00")
    assert metrics.bucket_starts(window, G.MONTH) == [
        utc("2025-11-01T00:00:00"), utc("2025-12-01T00:00:00"), utc("2026-01-01T00:00:00")
    ]
    assert len(metrics.bucket_starts(window, G.DAY)) == 78


def test_range_times_without_offset_are_utc_and_others_are_converted() -> None:
    paris = timezone(timedelta(hours=1))
    found = metrics.window(datetime(2026, 3, 1), datetime(2026, 3, 2, 1, tzinfo=paris), G.DAY)

    assert found == metrics.Window(utc("2026-03-01T00:00:00"), utc("2026-03-02T00:00:00"))


def test_range_must_be_forward_and_not_too_fine() -> None:
    with pytest.raises(Invalid) as backwards:
        metrics.window(utc("2026-03-02T00:00:00"), utc("2026-03-01T00:00:00"), G.DAY)
    with pytest.raises(Invalid) as too_many:
        metrics.window(utc("2020-01-01T00:00:00"), utc("2026-01-01T00:00:00"), G.DAY)

    assert backwards.value.fields == {"range.to": "not after from"}
    assert too_many.value.fields == {"range": "too many buckets"}
    assert metrics.window(utc("2020-01-01T00:00:00"), utc("2026-01-01T00:00:00"), G.WEEK)


def test_metric_value_name_and_dimensions_are_checked() -> None:
    draft = metrics.MetricDraft(
        name="Bad Name", value=Decimal("1.0000001"),
        dimensions=[("channel", "web"), ("channel", "app"), ("x", "v" * 201)],
        recorded_at=utc("2026-03-01T00:00:00"),
    )

    assert metrics.check_metric(draft) == {
        "input.name": metrics.check_name("Bad Name", "input.name")["input.name"],
        "input.value": "at most 6 decimal places",
        "input.dimensions[1].name": "a distinct lowercase name of at most 64 characters",
        "input.dimensions[2].value": "at most 200 characters",
    }


@pytest.mark.parametrize("value", ["NaN", "Infinity", "100000000000000", "-100000000000000"])
def test_metric_value_is_finite_and_bounded(value: str) -> None:
    draft = metrics.MetricDraft(name="x", value=Decimal(value), dimensions=[], recorded_at=utc("2026-01-01"))

    assert set(metrics.check_metric(draft)) == {"input.value"}


def test_too_many_dimensions() -> None:
    pairs = [(f"d{n}", "v") for n in range(11)]
    assert metrics.check_dimensions(pairs, "input.dimensions") == {
        "input.dimensions": "at most 10 dimensions"
    }


@pytest.mark.parametrize(
    ("start", "end", "granularity"),
    [
        ("2026-03-01T12:00:00", "2026-04-02T00:00:00", G.DAY),
        ("2026-03-01T00:00:00", "2026-04-02T00:00:01", G.DAY),
        ("2026-03-01T00:00:00", "2026-04-06T00:00:00", G.WEEK),
        ("2025-11-15T12:00:00", "2026-02-01T00:00:00", G.MONTH),
        ("2025-11-15T12:00:00", "2026-02-01T00:00:01", G.MONTH),
    ],
)
def test_bucket_limit_counts_the_buckets_exactly(
    start: str, end: str, granularity: metrics.Granularity
) -> None:
    window = metrics.Window(utc(start), utc(end))

    assert metrics._bucket_count(window, granularity) == len(metrics.bucket_starts(window, granularity))


def test_exactly_the_maximum_number_of_buckets_is_allowed() -> None:
    start = utc("2026-01-01T00:00:00")

    assert metrics.window(start, start + timedelta(days=1000), G.DAY)
    with pytest.raises(Invalid):
        metrics.window(start, start + timedelta(days=1000, seconds=1), G.DAY)
