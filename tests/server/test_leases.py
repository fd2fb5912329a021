"""Leases on the shared buckets: most requests are admitted from the process's reservoir without
a call to Redis, every point admitted was taken from Redis first (so several processes never
admit more than the bucket gives), unused points come back, and one tenant's reservoir never
admits another's requests."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from domain.config import Settings
from server.buckets import PREFIX, Bucket, Buckets, Taken
from server.leases import Leases


@pytest.fixture
async def buckets(settings: Settings) -> AsyncIterator[Buckets]:
    assert settings.redis_url
    made = Buckets(aioredis.from_url(settings.redis_url))
    yield made
    await made.close()


def pair(size: float = 1000, rate: float = 0.001) -> tuple[Bucket, ...]:
    """A tenant's bucket and its credential's, as server.throttle names them."""
    tenant = uuid.uuid4()
    return (Bucket(f"cost:{tenant}", size, rate), Bucket(f"cost:{tenant}:key:k", size, rate))


async def level(redis_client: aioredis.Redis, bucket: Bucket) -> float:
    return float(await redis_client.hget(PREFIX + bucket.key, "level") or "nan")


def admitted(taken: Taken | None) -> Taken:
    assert taken is not None and taken.fits, taken
    return taken


async def test_one_call_to_redis_leases_points_for_the_next_requests(
    buckets: Buckets, redis_client: aioredis.Redis
) -> None:
    leases = Leases(buckets, fraction=0.05)
    tenant = pair()

    first = admitted(await leases.take(tenant, 3))
    after_one = await level(redis_client, tenant[0])
    for _ in range(15):
        admitted(await leases.take(tenant, 3))
    after_sixteen = await level(redis_client, tenant[0])
    last = admitted(await leases.take(tenant, 3))
    await leases.close()

    assert after_one == pytest.approx(950, abs=0.1), "the first request took a lease of 50"
    assert after_sixteen == after_one, "the next 15 (45 points) came from the lease"
    assert await level(redis_client, tenant[0]) < after_one, "the 17th needed a new lease"
    # What a response reports: Redis's level plus what the process still holds.
    assert first.tightest.available == pytest.approx(997, abs=0.1)
    assert last.tightest.available == pytest.approx(1000 - 17 * 3, abs=0.1)


async def test_two_processes_sharing_a_bucket_never_admit_more_than_it_holds(
    buckets: Buckets, redis_client: aioredis.Redis
) -> None:
    tenant = pair(size=100)
    one, two = Leases(buckets, fraction=0.1), Leases(buckets, fraction=0.1)

    answers = [await (one if n % 2 else two).take(tenant, 3) for n in range(60)]
    admitted_points = 3 * sum(1 for a in answers if a is not None and a.fits)

    assert 100 - 2 * 10 <= admitted_points <= 100, "each process may hold one lease unspent"
    assert not answers[-1] or not answers[-1].fits
    refused = next(a for a in answers if a is not None and not a.fits)
    assert refused.retry_after > 0
    await one.close()
    await two.close()
    assert await level(redis_client, tenant[0]) == pytest.approx(100 - admitted_points, abs=0.5)


async def test_unused_points_go_back_to_the_reservoir_and_to_redis_once_idle(
    buckets: Buckets, redis_client: aioredis.Redis
) -> None:
    leases = Leases(buckets, fraction=0.05, idle=0.2)
    tenant = pair()

    admitted(await leases.take(tenant, 12))
    assert leases.refund(tenant, 10)
    assert await level(redis_client, tenant[0]) == pytest.approx(950, abs=0.1)
    await asyncio.sleep(0.5)

    assert await level(redis_client, tenant[0]) == pytest.approx(998, abs=0.1)
    assert not leases.refund(tenant, 1), "an idle reservoir is gone: refunds go to Redis"
    await leases.close()


async def test_without_a_lease_each_request_asks_redis(
    buckets: Buckets, redis_client: aioredis.Redis
) -> None:
    leases = Leases(buckets, fraction=0)
    tenant = pair()

    admitted(await leases.take(tenant, 3))
    admitted(await leases.take(tenant, 3))

    assert await level(redis_client, tenant[0]) == pytest.approx(994, abs=0.1)
    assert not leases.refund(tenant, 3)
    await leases.close()


async def test_concurrent_requests_short_of_points_share_one_new_lease(
    buckets: Buckets, redis_client: aioredis.Redis
) -> None:
    leases = Leases(buckets, fraction=0.05)
    tenant = pair()

    answers = await asyncio.gather(*(leases.take(tenant, 3) for _ in range(16)))

    assert all(a is not None and a.fits for a in answers)
    assert await level(redis_client, tenant[0]) == pytest.approx(950, abs=0.1), "one lease of 50"
    await leases.close()


async def test_one_tenants_lease_never_admits_another_tenants_request(
    buckets: Buckets, redis_client: aioredis.Redis
) -> None:
    leases = Leases(buckets, fraction=0.05)
    a, b = pair(), pair(size=10)

    admitted(await leases.take(a, 3))
    admitted(await leases.take(b, 6))
    refused = await leases.take(b, 6)

    assert refused is not None and not refused.fits, "B's bucket of 10, whatever A holds"
    assert refused.tightest.bucket.key == b[0].key or refused.tightest.bucket.key == b[1].key
    assert await level(redis_client, a[0]) == pytest.approx(950, abs=0.1)
    await leases.close()
    assert await level(redis_client, a[0]) == pytest.approx(997, abs=0.1), "given back on close"


async def test_a_free_operation_first_of_its_tenant_still_reports_the_buckets(
    buckets: Buckets, redis_client: aioredis.Redis
) -> None:
    leases = Leases(buckets, fraction=0.05)
    tenant = pair()

    free = admitted(await leases.take(tenant, 0))
    again = admitted(await leases.take(tenant, 0))

    assert [level.bucket for level in free.levels] == list(tenant)
    assert free.tightest.available == again.tightest.available == pytest.approx(1000, abs=0.1)
    await leases.close()
