"""Cost budgets over HTTP: 429 THROTTLED with Retry-After and RateLimit headers, refunds down
to the actual cost, plan changes applied on the next request, tenants and their buckets kept
apart, and Redis down (open and closed)."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest
import redis.asyncio as aioredis

from domain.config import Settings
from server.buckets import PREFIX
from server.embedded import free_port
from tables import tenant_limits
from telemetry import metrics
from tests.conftest import TenantHandle

FOUR = "{ a: tenant { slug } b: tenant { slug } c: tenant { slug } d: tenant { slug } }"
"""Costs 4, requested and actual."""
PAGE = "{ products(first: 10) { edges { node { title } } } }"
"""Requests 2 + 10 and, on an empty catalog, costs 2."""
SET_LIMITS = """mutation Set($limits: CostLimitsInput!) {
  setTenantCostLimits(limits: $limits) { limits { bucketSize restoreRate } errors { code } } }"""
LIMITS = "{ costLimits { bucketSize restoreRate credentialBucketSize credentialRestoreRate } }"


@pytest.fixture
def costed(settings: Settings) -> Settings:
    return dataclasses.replace(settings, cost_extensions=True)


async def tenant_with(
    make_tenant: Any, client_for: Any, settings: Settings, **limits: float
) -> TenantHandle:
    made: TenantHandle = await make_tenant()
    if limits:
        made.tenant = await tenant_limits.set_limits(tenant_id=made.id, changes=limits)
    made.client = client_for(settings)
    return made


def cost(body: dict[str, Any]) -> dict[str, Any]:
    assert "errors" not in body, body
    found: dict[str, Any] = body["extensions"]["cost"]
    return found


async def level(redis_client: aioredis.Redis, key: str) -> float:
    return float(await redis_client.hget(PREFIX + key, "level") or "nan")


async def test_a_request_that_does_not_fit_is_429_throttled_with_retry_after_and_ratelimit_headers(
    make_tenant: Any, client_for: Any, costed: Settings
) -> None:
    tenant = await tenant_with(make_tenant, client_for, costed, bucket_size=10, restore_rate=1)
    label = metrics.tenant_label(tenant.slug)
    before = metrics.THROTTLED.labels(label)._value.get()
    first, second = await tenant.gql(FOUR), await tenant.gql(FOUR)

    refused = await tenant.post(FOUR)

    assert cost(first)["throttleStatus"]["currentlyAvailable"] == pytest.approx(6, abs=0.5)
    assert cost(second)["throttleStatus"]["currentlyAvailable"] == pytest.approx(2, abs=0.5)
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/graphql-response+json; charset=utf-8"
    assert refused.headers["retry-after"] in ("1", "2")
    assert '"tenant";q=10;w=10' in refused.headers["ratelimit-policy"]
    assert refused.headers["ratelimit"].startswith('"tenant";r=2;t=')
    body = refused.json()
    [error] = body["errors"]
    assert body.get("data") is None
    assert error["extensions"]["code"] == "THROTTLED"
    assert error["extensions"]["requestedQueryCost"] == 4
    assert error["extensions"]["retryAfter"] == int(refused.headers["retry-after"])
    status = error["extensions"]["throttleStatus"]
    assert status["maximumAvailable"] == 10 and status["restoreRate"] == 1
    assert status["currentlyAvailable"] == pytest.approx(2, abs=0.5)
    assert metrics.THROTTLED.labels(label)._value.get() == before + 1


async def test_the_bucket_restores_at_its_rate(
    make_tenant: Any, client_for: Any, costed: Settings
) -> None:
    tenant = await tenant_with(make_tenant, client_for, costed, bucket_size=4, restore_rate=4)
    await tenant.gql(FOUR)
    assert (await tenant.post(FOUR)).status_code == 429

    await asyncio.sleep(4 / 4 + 0.05)

    assert (await tenant.post(FOUR)).status_code == 200


async def test_what_was_not_used_is_refunded_to_both_buckets(
    make_tenant: Any, client_for: Any, costed: Settings, redis_client: aioredis.Redis
) -> None:
    tenant = await tenant_with(
        make_tenant, client_for, costed, bucket_size=100, restore_rate=0.001,
        credential_bucket_size=50, credential_restore_rate=0.001,
    )

    found = cost(await tenant.gql(PAGE))

    assert (found["requestedQueryCost"], found["actualQueryCost"]) == (12, 2)
    # the credential's bucket is the tightest: 50 - 2 once the 10 unused points are back
    assert found["throttleStatus"] == {
        "maximumAvailable": 50, "currentlyAvailable": pytest.approx(48, abs=0.1), "restoreRate": 0.001,
    }
    keys = [f"cost:{tenant.id}", *[k.decode().removeprefix(PREFIX) for k in await redis_client.keys(
        f"{PREFIX}cost:{tenant.id}:*"
    )]]
    assert len(keys) == 2, keys
    # The process took 12 (its lease) and keeps the 10 unused points until it has been idle
    # for a second; then Redis has them back.
    for _ in range(150):
        if await level(redis_client, keys[0]) > 95:
            break
        await asyncio.sleep(0.02)
    assert await level(redis_client, keys[0]) == pytest.approx(98, abs=0.1)
    assert await level(redis_client, keys[1]) == pytest.approx(48, abs=0.1)


async def test_a_plan_change_applies_on_the_next_request(
    make_tenant: Any, client_for: Any, costed: Settings, platform_key: str
) -> None:
    tenant = await tenant_with(make_tenant, client_for, costed)
    assert cost(await tenant.gql(FOUR))["throttleStatus"]["maximumAvailable"] == 1_000_000

    changed = await tenant.gql(
        SET_LIMITS, {"limits": {"bucketSize": 30, "restoreRate": 2}},
        key=platform_key, headers={"x-tenant-id": tenant.slug},
    )

    assert changed["data"]["setTenantCostLimits"] == {
        "limits": {"bucketSize": 30, "restoreRate": 2}, "errors": []
    }
    status = cost(await tenant.gql(FOUR))["throttleStatus"]
    assert (status["maximumAvailable"], status["restoreRate"]) == (30, 2)
    assert (await tenant.gql(LIMITS))["data"]["costLimits"] == {
        "bucketSize": 30, "restoreRate": 2, "credentialBucketSize": 1_000_000,
        "credentialRestoreRate": 1_000_000,
    }
    reset = await tenant.gql(
        SET_LIMITS, {"limits": {"bucketSize": None}}, key=platform_key,
        headers={"x-tenant-id": tenant.slug},
    )
    assert reset["data"]["setTenantCostLimits"]["limits"]["bucketSize"] == 1_000_000


async def test_only_a_platform_key_changes_limits_and_only_to_positive_numbers(
    make_tenant: Any, client_for: Any, costed: Settings, platform_key: str
) -> None:
    tenant = await tenant_with(make_tenant, client_for, costed)

    refused = await tenant.gql(SET_LIMITS, {"limits": {"bucketSize": 1e9}})
    invalid = await tenant.gql(
        SET_LIMITS, {"limits": {"restoreRate": 0}}, key=platform_key,
        headers={"x-tenant-id": tenant.slug},
    )

    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert invalid["data"]["setTenantCostLimits"]["errors"] == [{"code": "BAD_USER_INPUT"}]
    assert (await tenant.gql(LIMITS))["data"]["costLimits"]["bucketSize"] == 1_000_000


async def test_one_tenant_exhausting_its_bucket_neither_throttles_nor_shows_to_another(
    make_tenant: Any, client_for: Any, costed: Settings
) -> None:
    a = await tenant_with(make_tenant, client_for, costed, bucket_size=8, restore_rate=0.001)
    b = await tenant_with(make_tenant, client_for, costed, bucket_size=9, restore_rate=0.002)
    await a.gql(FOUR)
    await a.gql(FOUR)
    assert (await a.post(FOUR)).status_code == 429

    answers = [await b.post(FOUR) for _ in range(2)]

    assert [r.status_code for r in answers] == [200, 200]
    for response in answers:
        status = cost(response.json())["throttleStatus"]
        assert (status["maximumAvailable"], status["restoreRate"]) == (9, 0.002)
        assert str(a.id) not in response.text and "ratelimit" not in response.headers
    assert (await b.post(FOUR)).json()["errors"][0]["extensions"]["throttleStatus"] == {
        "maximumAvailable": 9, "currentlyAvailable": pytest.approx(1, abs=0.1), "restoreRate": 0.002,
    }


async def test_a_platform_key_has_a_bucket_in_each_tenant_it_acts_for(
    make_tenant: Any, client_for: Any, costed: Settings, platform_key: str
) -> None:
    a = await tenant_with(make_tenant, client_for, costed, credential_bucket_size=4,
                          credential_restore_rate=0.001)
    b = await tenant_with(make_tenant, client_for, costed, credential_bucket_size=4,
                          credential_restore_rate=0.001)
    as_a = {"x-tenant-id": a.slug}

    assert (await a.post(FOUR, key=platform_key, headers=as_a)).status_code == 200
    assert (await a.post(FOUR, key=platform_key, headers=as_a)).status_code == 429
    assert (await b.post(FOUR, key=platform_key, headers={"x-tenant-id": b.slug})).status_code == 200
    assert (await a.post(FOUR)).status_code == 200, "the tenant's own key has its own bucket"


async def test_a_request_larger_than_the_tenants_bucket_is_max_cost_exceeded(
    make_tenant: Any, client_for: Any, costed: Settings
) -> None:
    tenant = await tenant_with(make_tenant, client_for, costed, bucket_size=3, restore_rate=1)

    response = await tenant.post(FOUR)

    assert response.status_code == 400
    extensions = response.json()["errors"][0]["extensions"]
    assert extensions["code"] == "MAX_COST_EXCEEDED"
    assert (extensions["requestedQueryCost"], extensions["maxQueryCost"]) == (4, 3)


async def test_redis_down_fails_open_by_default_with_no_throttle_status(
    make_tenant: Any, client_for: Any, costed: Settings
) -> None:
    down = dataclasses.replace(costed, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    tenant = await tenant_with(make_tenant, client_for, down, bucket_size=4, restore_rate=0.001)
    errors = metrics.REDIS_ERRORS.labels("limits")._value.get()

    answers = [await tenant.post(FOUR) for _ in range(3)]

    assert [r.status_code for r in answers] == [200, 200, 200]
    assert cost(answers[0].json()) == {
        "requestedQueryCost": 4, "actualQueryCost": 4, "throttleStatus": None
    }
    # One failed call: for a second after it the buckets answer without asking Redis again.
    assert metrics.REDIS_ERRORS.labels("limits")._value.get() == errors + 1


async def test_redis_down_with_limits_failing_closed_is_503_never_500(
    make_tenant: Any, client_for: Any, costed: Settings
) -> None:
    down = dataclasses.replace(
        costed, redis_url=f"redis://127.0.0.1:{free_port()}/0", limits_on_redis_error="closed"
    )
    tenant = await tenant_with(make_tenant, client_for, down)

    response = await tenant.post(FOUR)

    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert response.json()["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"


async def test_with_cost_limits_off_nothing_is_taken(
    make_tenant: Any, client_for: Any, costed: Settings
) -> None:
    tenant = await tenant_with(
        make_tenant, client_for, dataclasses.replace(costed, cost_limits=False),
        bucket_size=4, restore_rate=0.001,
    )

    answers = [await tenant.post(FOUR) for _ in range(3)]

    assert [r.status_code for r in answers] == [200, 200, 200]
    assert cost(answers[2].json())["throttleStatus"] is None
