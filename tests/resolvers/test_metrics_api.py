"""Performance metrics through /graphql: KPIs per bucket, custom metrics, banban's fashion
metrics, scopes, and tenant isolation."""

from __future__ import annotations

from typing import Any

import pytest

from tables import events as outbox
from tests.documents import codes, error_codes, error_fields, payload
from tests.sales import MARCH, fashion_stock, march_sales

MODULES = ("catalog", "customers", "inventory", "orders", "metrics")

BUCKET = """
fragment Kpis on PerformanceBucket {
  start end orderCount unitsSold refundedOrderCount returnsRate
  sales {
    currency revenue { amount currency } orderCount averageOrderValue { amount currency }
    unitsSold refundedOrderCount returnsRate
  }
}
"""

PERFORMANCE = BUCKET + """
query Performance($range: TimeRangeInput!, $granularity: Granularity!) {
  performance(range: $range, granularity: $granularity) {
    from to granularity buckets { ...Kpis } total { ...Kpis }
    revenueBreakdowns { dimension value revenue { amount currency } unitsSold }
  }
}
"""

TOP = """
query Top($range: TimeRangeInput!, $by: TopSellerRanking!, $limit: Int!, $currency: String) {
  performance(range: $range) {
    topVariants(by: $by, limit: $limit, currency: $currency) {
      sku unitsSold revenue { amount currency } product { title }
    }
    topProducts(by: $by, limit: $limit, currency: $currency) {
      productId variantId sku unitsSold revenue { amount currency } product { title }
    }
  }
}
"""

RECORD = """
mutation Record($input: MetricInput!) {
  recordMetric(input: $input) {
    metric { id name value dimensions { name value } recordedAt } errors { field message code }
  }
}
"""

SERIES = """
query Series($name: String!, $range: TimeRangeInput!, $granularity: Granularity!,
             $dimensions: [AttributeInput!]) {
  metrics(name: $name, range: $range, granularity: $granularity, dimensions: $dimensions) {
    name
    buckets { start count sum avg min max }
    total { start end count sum avg min max }
  }
}
"""

POINTS = """
query Points($first: Int, $after: String, $filter: MetricPointFilter) {
  metricPoints(first: $first, after: $after, filter: $filter) {
    edges { cursor node { name value dimensions { name value } recordedAt } }
    pageInfo { hasNextPage endCursor }
  }
}
"""

SELL_THROUGH = """
query SellThrough($range: TimeRangeInput!, $by: SellThroughGroup!) {
  fashionSellThrough(range: $range, by: $by) { value unitsSold onHand sellThrough }
}
"""

ROOT_FIELDS = """
query RootFields { __schema { queryType { fields { name } } } }
"""


@pytest.fixture
async def shop(make_tenant: Any) -> Any:
    return await make_tenant(MODULES)


@pytest.fixture
async def other(make_tenant: Any) -> Any:
    return await make_tenant(MODULES)


@pytest.fixture
async def banban(make_tenant: Any) -> Any:
    return await make_tenant(MODULES, ("banban",))


async def data(tenant: Any, query: str, variables: dict[str, Any], key: str | None = None) -> dict[str, Any]:
    body = await tenant.gql(query, variables, key=key)
    assert "errors" not in body, body
    found: dict[str, Any] = body["data"]
    return found


async def performance(tenant: Any, granularity: str) -> dict[str, Any]:
    found = await data(tenant, PERFORMANCE, {"range": MARCH, "granularity": granularity})
    result: dict[str, Any] = found["performance"]
    return result


def sales(
    currency: str, revenue: int, orders: int, average: int, units: int, refunded: int, rate: float
) -> dict[str, Any]:
    return {
        "currency": currency,
        "revenue": {"amount": revenue, "currency": currency},
        "orderCount": orders,
        "averageOrderValue": {"amount": average, "currency": currency},
        "unitsSold": units,
        "refundedOrderCount": refunded,
        "returnsRate": rate,
    }


def bucket(
    start: str, end: str, orders: int, units: int, refunded: int, rate: float, *lines: dict[str, Any]
) -> dict[str, Any]:
    return {
        "start": start, "end": end, "orderCount": orders, "unitsSold": units,
        "refundedOrderCount": refunded, "returnsRate": rate, "sales": list(lines),
    }


def day(date: str) -> str:
    return f"2026-{date}T00:00:00+00:00"


TOTAL = bucket(
    "2026-03-01T00:00:00+00:00", "2026-04-02T00:00:00+00:00", 4, 9, 1, 0.2,
    sales("EUR", 4556, 3, 1519, 6, 1, 0.25),
    sales("USD", 2100, 1, 2100, 3, 0, 0.0),
)


# KPIs


async def test_daily_kpis_are_exact_per_bucket_and_currency(shop: Any) -> None:
    await march_sales(shop.id)

    found = await performance(shop, "DAY")

    by_start = {b["start"]: b for b in found["buckets"]}
    assert len(found["buckets"]) == 32
    assert found["buckets"][0] == bucket(day("03-01"), day("03-02"), 0, 0, 0, 0.0)
    assert by_start[day("03-02")] == bucket(
        day("03-02"), day("03-03"), 2, 3, 0, 0.0, sales("EUR", 2555, 2, 1278, 3, 0, 0.0)
    )
    assert by_start[day("03-03")] == bucket(
        day("03-03"), day("03-04"), 1, 3, 0, 0.0, sales("USD", 2100, 1, 2100, 3, 0, 0.0)
    )
    assert by_start[day("03-08")] == bucket(
        day("03-08"), day("03-09"), 0, 0, 1, 1.0, sales("EUR", 0, 0, 0, 0, 1, 1.0)
    )
    assert by_start[day("03-09")]["sales"] == [] and by_start[day("03-10")]["sales"] == []
    assert by_start[day("04-01")] == bucket(
        day("04-01"), day("04-02"), 1, 3, 0, 0.0, sales("EUR", 2001, 1, 2001, 3, 0, 0.0)
    )
    assert found["total"] == TOTAL
    assert (found["from"], found["to"], found["granularity"]) == (day("03-01"), day("04-02"), "DAY")


async def test_weekly_kpis_start_on_monday(shop: Any) -> None:
    await march_sales(shop.id)

    found = await performance(shop, "WEEK")

    assert [b["start"] for b in found["buckets"]] == [
        day("02-23"), day("03-02"), day("03-09"), day("03-16"), day("03-23"), day("03-30")
    ]
    assert found["buckets"][0] == bucket(day("02-23"), day("03-02"), 0, 0, 0, 0.0)
    assert found["buckets"][1] == bucket(
        day("03-02"), day("03-09"), 3, 6, 1, 0.25,
        sales("EUR", 2555, 2, 1278, 3, 1, 1 / 3),
        sales("USD", 2100, 1, 2100, 3, 0, 0.0),
    )
    assert found["buckets"][5] == bucket(
        day("03-30"), day("04-06"), 1, 3, 0, 0.0, sales("EUR", 2001, 1, 2001, 3, 0, 0.0)
    )
    assert found["total"] == TOTAL


async def test_monthly_kpis(shop: Any) -> None:
    await march_sales(shop.id)

    found = await performance(shop, "MONTH")

    assert found["buckets"] == [
        bucket(
            day("03-01"), day("04-01"), 3, 6, 1, 0.25,
            sales("EUR", 2555, 2, 1278, 3, 1, 1 / 3),
            sales("USD", 2100, 1, 2100, 3, 0, 0.0),
        ),
        bucket(day("04-01"), day("05-01"), 1, 3, 0, 0.0, sales("EUR", 2001, 1, 2001, 3, 0, 0.0)),
    ]
    assert found["total"] == TOTAL
    assert found["revenueBreakdowns"] == []


async def test_top_sellers_by_units_and_by_revenue(shop: Any) -> None:
    await march_sales(shop.id)

    by_units = await data(shop, TOP, {"range": MARCH, "by": "UNITS", "limit": 10})
    by_revenue = await data(shop, TOP, {"range": MARCH, "by": "REVENUE", "limit": 2, "currency": "EUR"})

    assert [(v["sku"], v["unitsSold"], v["revenue"]) for v in by_units["performance"]["topVariants"]] == [
        ("TEE-M", 3, {"amount": 2100, "currency": "USD"}),
        ("MUG-1", 3, {"amount": 1555, "currency": "EUR"}),
        ("TEE-S", 2, {"amount": 2000, "currency": "EUR"}),
        ("TEE-M", 1, {"amount": 1001, "currency": "EUR"}),
    ]
    assert [(p["product"]["title"], p["unitsSold"], p["revenue"]["amount"], p["variantId"], p["sku"])
            for p in by_units["performance"]["topProducts"]] == [
        ("Tee", 3, 3001, None, None), ("Tee", 3, 2100, None, None), ("Mug", 3, 1555, None, None)
    ]
    assert [(v["sku"], v["product"]["title"]) for v in by_revenue["performance"]["topVariants"]] == [
        ("TEE-S", "Tee"), ("MUG-1", "Mug")
    ]
    assert [p["revenue"]["amount"] for p in by_revenue["performance"]["topProducts"]] == [3001, 1555]


@pytest.mark.parametrize(
    ("range_", "granularity", "field"),
    [
        ({"from": "2026-03-02T00:00:00Z", "to": "2026-03-01T00:00:00Z"}, "DAY", "range.to"),
        ({"from": "2026-03-01T00:00:00Z", "to": "2026-03-01T00:00:00Z"}, "DAY", "range.to"),
        ({"from": "2020-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "DAY", "range"),
    ],
)
async def test_bad_ranges_are_bad_user_input(
    shop: Any, range_: dict[str, str], granularity: str, field: str
) -> None:
    body = await shop.gql(PERFORMANCE, {"range": range_, "granularity": granularity})

    assert codes(body) == ["BAD_USER_INPUT"]
    assert list(body["errors"][0]["extensions"]["fields"]) == [field]


@pytest.mark.parametrize("limit", [0, 101])
async def test_top_seller_limit_is_bounded(shop: Any, limit: int) -> None:
    body = await shop.gql(TOP, {"range": MARCH, "by": "UNITS", "limit": limit})

    assert set(codes(body)) == {"BAD_USER_INPUT"}


async def test_kpis_and_recording_need_metrics_scopes(shop: Any) -> None:
    catalog_only = await shop.key_with("catalog:read")
    reader = await shop.key_with("metrics:read")
    point = {"input": {"name": "visits", "value": "1"}}

    forbidden = await shop.gql(PERFORMANCE, {"range": MARCH, "granularity": "DAY"}, key=catalog_only)
    allowed = await shop.gql(PERFORMANCE, {"range": MARCH, "granularity": "DAY"}, key=reader)
    record = await shop.gql(RECORD, point, key=reader)
    writer = await shop.gql(RECORD, point, key=await shop.key_with("metrics:write"))

    assert codes(forbidden) == ["FORBIDDEN"]
    assert "errors" not in allowed
    assert codes(record) == ["FORBIDDEN"]
    assert payload(writer, "recordMetric")["metric"]["name"] == "visits"


# Custom metrics


async def record(tenant: Any, name: str, value: str, when: str, **dimensions: str) -> dict[str, Any]:
    dims = [{"name": k, "value": v} for k, v in dimensions.items()]
    body = await tenant.gql(
        RECORD, {"input": {"name": name, "value": value, "dimensions": dims, "timestamp": when}}
    )
    metric: dict[str, Any] = payload(body, "recordMetric")["metric"]
    return metric


async def test_recorded_metric_reads_back_and_appends_its_event(shop: Any) -> None:
    metric = await record(shop, "storefront.visits", "12.25", "2026-03-02T10:00:00Z", channel="web")

    found = await outbox.list_events(tenant_id=shop.id, types=["metrics.updated"])

    assert {k: v for k, v in metric.items() if k != "id"} == {
        "name": "storefront.visits", "value": "12.250000",
        "dimensions": [{"name": "channel", "value": "web"}], "recordedAt": "2026-03-02T10:00:00+00:00",
    }
    assert [(e.aggregate_id, e.payload["id"], e.actor.startswith("key:")) for e in found] == [
        ("storefront.visits", metric["id"], True)
    ]


async def test_invalid_metric_names_each_field_and_records_nothing(shop: Any) -> None:
    body = await shop.gql(RECORD, {"input": {
        "name": "Bad Name", "value": "1.1234567",
        "dimensions": [{"name": "a", "value": "1"}, {"name": "a", "value": "2"}],
    }})

    assert error_codes(body, "recordMetric") == ["BAD_USER_INPUT"]
    assert set(error_fields(body, "recordMetric")) == {
        "input.name", "input.value", "input.dimensions[1].name"
    }
    assert await outbox.list_events(tenant_id=shop.id) == []


async def test_custom_metric_series_aggregates_per_bucket(shop: Any) -> None:
    await record(shop, "visits", "1.5", "2026-03-02T10:00:00Z", channel="web")
    await record(shop, "visits", "2.25", "2026-03-02T11:00:00Z", channel="web")
    await record(shop, "visits", "3", "2026-03-02T23:59:59Z", channel="app")
    await record(shop, "visits", "10", "2026-03-04T00:00:00Z", channel="web")
    await record(shop, "signups", "7", "2026-03-02T10:00:00Z", channel="web")
    range_ = {"from": "2026-03-02T00:00:00Z", "to": "2026-03-05T00:00:00Z"}

    found = await data(shop, SERIES, {"name": "visits", "range": range_, "granularity": "DAY"})

    assert found["metrics"]["buckets"] == [
        {"start": day("03-02"), "count": 3, "sum": "6.750000", "avg": "2.250000",
         "min": "1.500000", "max": "3.000000"},
        {"start": day("03-03"), "count": 0, "sum": "0.000000", "avg": None, "min": None, "max": None},
        {"start": day("03-04"), "count": 1, "sum": "10.000000", "avg": "10.000000",
         "min": "10.000000", "max": "10.000000"},
    ]
    assert found["metrics"]["total"] == {
        "start": day("03-02"), "end": day("03-05"), "count": 4, "sum": "16.750000",
        "avg": "4.187500", "min": "1.500000", "max": "10.000000",
    }


async def test_custom_metric_series_filters_by_dimensions(shop: Any) -> None:
    await record(shop, "visits", "1", "2026-03-02T10:00:00Z", channel="web", country="fr")
    await record(shop, "visits", "2", "2026-03-02T11:00:00Z", channel="web", country="de")
    await record(shop, "visits", "4", "2026-03-02T12:00:00Z", channel="app", country="fr")
    range_ = {"from": "2026-03-01T00:00:00Z", "to": "2026-04-01T00:00:00Z"}

    web = await data(shop, SERIES, {
        "name": "visits", "range": range_, "granularity": "MONTH",
        "dimensions": [{"name": "channel", "value": "web"}],
    })
    web_fr = await data(shop, SERIES, {
        "name": "visits", "range": range_, "granularity": "MONTH",
        "dimensions": [{"name": "channel", "value": "web"}, {"name": "country", "value": "fr"}],
    })

    assert (web["metrics"]["total"]["count"], web["metrics"]["total"]["sum"]) == (2, "3.000000")
    assert (web_fr["metrics"]["total"]["count"], web_fr["metrics"]["total"]["avg"]) == (1, "1.000000")
    assert len(web["metrics"]["buckets"]) == 1


async def test_metric_points_page_newest_first_with_filters(shop: Any) -> None:
    await record(shop, "visits", "1", "2026-03-01T00:00:00Z", channel="web")
    await record(shop, "visits", "2", "2026-03-02T00:00:00Z", channel="app")
    await record(shop, "visits", "3", "2026-03-03T00:00:00Z", channel="web")
    await record(shop, "orders", "4", "2026-03-04T00:00:00Z", channel="web")

    first = await data(shop, POINTS, {"first": 2, "filter": {"name": "visits"}})
    rest = await data(shop, POINTS, {
        "first": 2, "filter": {"name": "visits"},
        "after": first["metricPoints"]["pageInfo"]["endCursor"],
    })
    web_since = await data(shop, POINTS, {"filter": {
        "dimensions": [{"name": "channel", "value": "web"}],
        "since": "2026-03-02T00:00:00Z", "until": "2026-03-04T00:00:00Z",
    }})

    assert [e["node"]["value"] for e in first["metricPoints"]["edges"]] == ["3.000000", "2.000000"]
    assert first["metricPoints"]["pageInfo"]["hasNextPage"] is True
    assert [e["node"]["value"] for e in rest["metricPoints"]["edges"]] == ["1.000000"]
    assert rest["metricPoints"]["pageInfo"]["hasNextPage"] is False
    assert [e["node"]["value"] for e in web_since["metricPoints"]["edges"]] == ["3.000000"]


# The banban extension


async def root_fields(tenant: Any) -> set[str]:
    found = await data(tenant, ROOT_FIELDS, {})
    return {field["name"] for field in found["__schema"]["queryType"]["fields"]}


async def test_only_banban_with_metrics_has_fashion_metrics(make_tenant: Any, banban: Any, shop: Any) -> None:
    banban_without_metrics = await make_tenant(("catalog",), ("banban",))

    assert {"fashionSellThrough", "performance"} <= await root_fields(banban)
    assert "fashionSellThrough" not in await root_fields(banban_without_metrics)
    assert "fashionCollection" in await root_fields(banban_without_metrics)
    assert "fashionSellThrough" not in await root_fields(shop)
    assert "performance" in await root_fields(shop)


async def test_banban_sell_through_per_group(banban: Any) -> None:
    await fashion_stock(banban.id)

    async def sell_through(by: str) -> list[tuple[str | None, int, int, float]]:
        found = await data(banban, SELL_THROUGH, {"range": MARCH, "by": by})
        return [tuple(row.values()) for row in found["fashionSellThrough"]]  # type: ignore[misc]

    assert await sell_through("SEASON") == [("AW25", 6, 18, 0.25), ("SS25", 7, 9, 0.4375)]
    assert await sell_through("COLLECTION") == [
        ("Alpine", 5, 15, 0.25), ("Riviera", 7, 9, 0.4375), (None, 1, 3, 0.25)
    ]
    assert await sell_through("SIZE") == [
        ("L", 0, 12, 0.0), ("M", 10, 6, 0.625), ("OS", 1, 3, 0.25), ("S", 2, 6, 0.25)
    ]
    assert await sell_through("COLOUR") == [
        ("black", 5, 15, 0.25), ("blue", 4, 0, 1.0), ("red", 1, 3, 0.25), ("white", 3, 9, 0.25)
    ]


async def test_banban_metrics_service_breaks_revenue_down_by_season(banban: Any, shop: Any) -> None:
    await march_sales(banban.id)
    await march_sales(shop.id)

    fashion = await performance(banban, "MONTH")
    plain = await performance(shop, "MONTH")

    breakdowns = fashion["revenueBreakdowns"]
    assert [(b["dimension"], b["value"], b["revenue"], b["unitsSold"]) for b in breakdowns] == [
        ("season", "AW25", {"amount": 1555, "currency": "EUR"}, 3),
        ("season", "SS26", {"amount": 3001, "currency": "EUR"}, 3),
        ("season", "SS26", {"amount": 2100, "currency": "USD"}, 3),
    ]
    assert plain["revenueBreakdowns"] == []
    assert fashion["total"] == plain["total"] == TOTAL


async def test_sell_through_needs_metrics_read(banban: Any) -> None:
    body = await banban.gql(
        SELL_THROUGH, {"range": MARCH, "by": "SEASON"}, key=await banban.key_with("catalog:read")
    )

    assert codes(body) == ["FORBIDDEN"]


# Tenant isolation


async def test_b_kpis_and_top_sellers_hold_none_of_a(shop: Any, other: Any) -> None:
    await march_sales(shop.id)

    found = await performance(other, "MONTH")
    top = await data(other, TOP, {"range": MARCH, "by": "UNITS", "limit": 10})

    assert found["total"] == bucket(day("03-01"), day("04-02"), 0, 0, 0, 0.0)
    assert all(b["sales"] == [] for b in found["buckets"])
    assert top["performance"] == {"topVariants": [], "topProducts": []}


async def test_b_custom_metrics_hold_none_of_a(shop: Any, other: Any) -> None:
    await record(shop, "visits", "5", "2026-03-02T10:00:00Z", channel="web")
    await record(shop, "visits", "6", "2026-03-03T10:00:00Z", channel="web")
    await record(other, "visits", "1", "2026-03-02T12:00:00Z", channel="app")
    a_page = await data(shop, POINTS, {"first": 1})
    range_ = {"from": "2026-03-01T00:00:00Z", "to": "2026-04-01T00:00:00Z"}

    series = await data(other, SERIES, {"name": "visits", "range": range_, "granularity": "MONTH"})
    web = await data(other, SERIES, {
        "name": "visits", "range": range_, "granularity": "MONTH",
        "dimensions": [{"name": "channel", "value": "web"}],
    })
    points = await data(other, POINTS, {"filter": {"name": "visits"}})
    web_points = await data(other, POINTS, {"filter": {"dimensions": [{"name": "channel", "value": "web"}]}})
    after_a = await data(other, POINTS, {"after": a_page["metricPoints"]["pageInfo"]["endCursor"]})

    assert (series["metrics"]["total"]["count"], series["metrics"]["total"]["sum"]) == (1, "1.000000")
    assert web["metrics"]["total"]["count"] == 0
    assert [e["node"]["value"] for e in points["metricPoints"]["edges"]] == ["1.000000"]
    assert web_points["metricPoints"]["edges"] == []
    assert [e["node"]["value"] for e in after_a["metricPoints"]["edges"]] == ["1.000000"]
    a_events = await outbox.list_events(tenant_id=shop.id, types=["metrics.updated"])
    b_events = await outbox.list_events(tenant_id=other.id, types=["metrics.updated"])
    assert (len(a_events), len(b_events)) == (2, 1)


async def test_b_sell_through_holds_none_of_a(banban: Any, make_tenant: Any) -> None:
    await fashion_stock(banban.id)
    other_banban = await make_tenant(MODULES, ("banban",))

    for by in ("SEASON", "COLLECTION", "SIZE", "COLOUR"):
        found = await data(other_banban, SELL_THROUGH, {"range": MARCH, "by": by})
        assert found["fashionSellThrough"] == []
