"""Sales figures and custom metrics summed in SQL, each scoped to one tenant."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from domain import metrics
from extensions.banban import fashion
from extensions.banban import tables as fashion_tables
from tables import events as outbox
from tables import metrics as metrics_tables
from tests.documents import META
from tests.sales import at, fashion_stock, make_product, march_sales, place_order, put_stock

MARCH = metrics.Window(start=at("2026-03-01T00:00:00"), end=at("2026-04-02T00:00:00"))
DAY = metrics.Granularity.DAY


def seller(found: metrics.TopSeller, variants: dict[str, Any]) -> tuple[str, str, int, int]:
    """(sku or product title marker, currency, units, revenue) for readable assertions."""
    names = {v.id: sku for sku, v in variants.items()}
    products = {v.product_id: sku.split("-")[0] for sku, v in variants.items()}
    name = names[found.variant_id] if found.variant_id else products[found.product_id]
    return name, found.currency, found.units, found.revenue


async def test_sales_per_day_and_currency_count_only_sold_and_refunded_orders(tenant_a: Any) -> None:
    await march_sales(tenant_a.id)

    rows = await metrics_tables.sales(tenant_id=tenant_a.id, window=MARCH, granularity=DAY)

    assert [(r.bucket.date().isoformat(), r.currency, r.orders, r.revenue, r.units, r.refunded)
            for r in rows] == [
        ("2026-03-02", "EUR", 2, 2555, 3, 0),
        ("2026-03-03", "USD", 1, 2100, 3, 0),
        ("2026-03-08", "EUR", 0, 0, 0, 1),
        ("2026-04-01", "EUR", 1, 2001, 3, 0),
    ]


async def test_sales_per_week_start_on_monday(tenant_a: Any) -> None:
    await march_sales(tenant_a.id)

    rows = await metrics_tables.sales(
        tenant_id=tenant_a.id, window=MARCH, granularity=metrics.Granularity.WEEK
    )

    assert [(r.bucket.date().isoformat(), r.currency, r.orders, r.revenue, r.refunded) for r in rows] == [
        ("2026-03-02", "EUR", 2, 2555, 1),
        ("2026-03-02", "USD", 1, 2100, 0),
        ("2026-03-30", "EUR", 1, 2001, 0),
    ]


async def test_top_variants_by_units_then_revenue(tenant_a: Any) -> None:
    variants = await march_sales(tenant_a.id)

    found = await metrics_tables.top_sellers(
        tenant_id=tenant_a.id, window=MARCH, group=metrics.TopGroup.VARIANT,
        by=metrics.TopBy.UNITS, limit=10, currency=None,
    )

    assert [seller(f, variants) for f in found] == [
        ("TEE-M", "USD", 3, 2100),
        ("MUG-1", "EUR", 3, 1555),
        ("TEE-S", "EUR", 2, 2000),
        ("TEE-M", "EUR", 1, 1001),
    ]
    assert found[0].sku == "TEE-M"


async def test_top_variants_by_revenue_in_one_currency_with_a_limit(tenant_a: Any) -> None:
    variants = await march_sales(tenant_a.id)

    found = await metrics_tables.top_sellers(
        tenant_id=tenant_a.id, window=MARCH, group=metrics.TopGroup.VARIANT,
        by=metrics.TopBy.REVENUE, limit=2, currency="EUR",
    )

    assert [seller(f, variants) for f in found] == [("TEE-S", "EUR", 2, 2000), ("MUG-1", "EUR", 3, 1555)]


async def test_top_products_add_up_their_variants(tenant_a: Any) -> None:
    variants = await march_sales(tenant_a.id)

    found = await metrics_tables.top_sellers(
        tenant_id=tenant_a.id, window=MARCH, group=metrics.TopGroup.PRODUCT,
        by=metrics.TopBy.UNITS, limit=10, currency=None,
    )

    assert [seller(f, variants) for f in found] == [
        ("TEE", "EUR", 3, 3001), ("TEE", "USD", 3, 2100), ("MUG", "EUR", 3, 1555)
    ]
    assert all(f.variant_id is None and f.sku is None for f in found)


async def test_revenue_by_season_sums_line_totals(tenant_a: Any) -> None:
    await march_sales(tenant_a.id)

    found = await metrics_tables.revenue_by_product_attribute("season", tenant_id=tenant_a.id, window=MARCH)

    assert [(b.dimension, b.value, b.currency, b.revenue, b.units) for b in found] == [
        ("season", "AW25", "EUR", 1555, 3),
        ("season", "SS26", "EUR", 3001, 3),
        ("season", "SS26", "USD", 2100, 3),
    ]


async def sell_through(tenant: Any, by: fashion.SellThroughBy) -> list[tuple[str | None, int, int, float]]:
    found = await fashion_tables.sell_through(by, tenant_id=tenant.id, window=MARCH)
    return [(s.value, s.units_sold, s.on_hand, s.rate) for s in found]


async def test_sell_through_by_season_and_collection(tenant_a: Any) -> None:
    await fashion_stock(tenant_a.id)

    assert await sell_through(tenant_a, fashion.SellThroughBy.SEASON) == [
        ("AW25", 6, 18, 0.25), ("SS25", 7, 9, 0.4375)
    ]
    assert await sell_through(tenant_a, fashion.SellThroughBy.COLLECTION) == [
        ("Alpine", 5, 15, 0.25), ("Riviera", 7, 9, 0.4375), (None, 1, 3, 0.25)
    ]


async def test_sell_through_by_size_and_colour(tenant_a: Any) -> None:
    await fashion_stock(tenant_a.id)

    assert await sell_through(tenant_a, fashion.SellThroughBy.SIZE) == [
        ("L", 0, 12, 0.0), ("M", 10, 6, 0.625), ("OS", 1, 3, 0.25), ("S", 2, 6, 0.25)
    ]
    assert await sell_through(tenant_a, fashion.SellThroughBy.COLOUR) == [
        ("black", 5, 15, 0.25), ("blue", 4, 0, 1.0), ("red", 1, 3, 0.25), ("white", 3, 9, 0.25)
    ]


async def record(tenant: Any, name: str, value: str, when: str, **dimensions: str) -> metrics.MetricPoint:
    draft = metrics.MetricDraft(
        name=name, value=Decimal(value), dimensions=list(dimensions.items()), recorded_at=at(when)
    )
    return await metrics_tables.record(draft, tenant_id=tenant.id, meta=META)


async def test_recorded_metric_appends_metrics_updated_event(tenant_a: Any) -> None:
    point = await record(tenant_a, "visits", "12.5", "2026-03-02T10:00:00", channel="web")

    found = await outbox.list_events(tenant_id=tenant_a.id, types=["metrics.updated"])

    assert [(e.aggregate_type, e.aggregate_id) for e in found] == [("metrics", "visits")]
    assert found[0].payload == {
        "id": str(point.id), "name": "visits", "value": "12.500000", "dimensions": {"channel": "web"},
        "recordedAt": "2026-03-02T10:00:00+00:00",
    }


async def test_metric_rows_aggregate_per_bucket_with_dimension_filter(tenant_a: Any) -> None:
    await record(tenant_a, "visits", "1.5", "2026-03-02T10:00:00", channel="web", country="fr")
    await record(tenant_a, "visits", "3", "2026-03-02T23:00:00", channel="web")
    await record(tenant_a, "visits", "10", "2026-03-03T00:00:00", channel="app")
    await record(tenant_a, "other", "99", "2026-03-02T10:00:00", channel="web")

    every = await metrics_tables.metric_rows(
        "visits", tenant_id=tenant_a.id, window=MARCH, granularity=DAY, dimensions={}
    )
    web = await metrics_tables.metric_rows(
        "visits", tenant_id=tenant_a.id, window=MARCH, granularity=DAY, dimensions={"channel": "web"}
    )

    assert [(r.bucket.date().isoformat(), r.count, r.sum, r.min, r.max) for r in every] == [
        ("2026-03-02", 2, Decimal("4.5"), Decimal("1.5"), Decimal("3")),
        ("2026-03-03", 1, Decimal("10"), Decimal("10"), Decimal("10")),
    ]
    assert [(r.count, r.sum) for r in web] == [(2, Decimal("4.5"))]


async def test_list_points_newest_first_with_filters(tenant_a: Any) -> None:
    first = await record(tenant_a, "visits", "1", "2026-03-01T00:00:00", channel="web")
    second = await record(tenant_a, "visits", "2", "2026-03-02T00:00:00", channel="app")
    await record(tenant_a, "orders", "3", "2026-03-03T00:00:00", channel="web")

    visits = await metrics_tables.list_points(
        tenant_id=tenant_a.id, where=metrics.MetricFilter(name="visits"), after=None, limit=10
    )
    web = await metrics_tables.list_points(
        tenant_id=tenant_a.id, where=metrics.MetricFilter(dimensions={"channel": "web"}),
        after=None, limit=10,
    )
    after = await metrics_tables.list_points(
        tenant_id=tenant_a.id, where=metrics.MetricFilter(name="visits"),
        after=(second.recorded_at, second.id), limit=10,
    )

    assert [p.id for p in visits] == [second.id, first.id]
    assert [p.name for p in web] == ["orders", "visits"]
    assert [p.id for p in after] == [first.id]


async def test_every_sales_and_metrics_query_excludes_another_tenant(tenant_a: Any, tenant_b: Any) -> None:
    await march_sales(tenant_a.id)
    await fashion_stock(tenant_a.id)
    await record(tenant_a, "visits", "5", "2026-03-02T10:00:00", channel="web")
    b = tenant_b.id

    assert await metrics_tables.sales(tenant_id=b, window=MARCH, granularity=DAY) == []
    for group in metrics.TopGroup:
        assert await metrics_tables.top_sellers(
            tenant_id=b, window=MARCH, group=group, by=metrics.TopBy.UNITS, limit=10, currency=None
        ) == []
    assert await metrics_tables.revenue_by_product_attribute("season", tenant_id=b, window=MARCH) == []
    for by in fashion.SellThroughBy:
        assert await sell_through(tenant_b, by) == []
    assert await metrics_tables.metric_rows(
        "visits", tenant_id=b, window=MARCH, granularity=DAY, dimensions={}
    ) == []
    assert await metrics_tables.list_points(
        tenant_id=b, where=metrics.MetricFilter(), after=None, limit=10
    ) == []


async def test_sell_through_of_b_counts_only_b_stock_and_sales(tenant_a: Any, tenant_b: Any) -> None:
    await fashion_stock(tenant_a.id)
    await make_product(tenant_b.id, "B Tee", [("B-1", {"size": "M", "colour": "white"})], {"season": "SS25"})
    await put_stock(tenant_b.id, {"B-1": 1})
    await place_order(tenant_b.id, "2026-03-05T10:00:00", "paid", "EUR", [("B-1", 3, 100)])

    assert await sell_through(tenant_b, fashion.SellThroughBy.SEASON) == [("SS25", 3, 1, 0.75)]
    assert await sell_through(tenant_b, fashion.SellThroughBy.SIZE) == [("M", 3, 1, 0.75)]
