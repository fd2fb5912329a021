"""Leaky buckets in the real Redis: takes, refunds, restoring, several buckets at once, and two
clients (as two processes would be) sharing one bucket."""

from __future__ import annotations

import asyncio
import logging
import math
import uuid
from urllib.parse import urlsplit

import pytest
import redis.asyncio as aioredis

from domain.config import Settings
from server.buckets import PREFIX, QUIET_SECONDS, Bucket, Buckets, LimitsUnavailable, Taken
from server.embedded import free_port
from telemetry import metrics


def known(taken: Taken | None) -> Taken:
    assert taken is not None, "Redis answered, so the buckets are known"
    return taken


def fresh(size: float = 100, rate: float = 10) -> Bucket:
    return Bucket(f"test:{uuid.uuid4()}", size, rate)


async def test_a_take_that_fits_leaves_the_rest_and_one_that_does_not_takes_nothing(
    redis_client: aioredis.Redis,
) -> None:
    buckets, bucket = Buckets(redis_client), fresh(size=100, rate=0.001)

    first = known(await buckets.take([bucket], 70))
    refused = known(await buckets.take([bucket], 40))

    assert first.fits and first.retry_after == 0
    assert first.levels[0].available == pytest.approx(30, abs=0.01)
    assert not refused.fits
    assert refused.levels[0].available == pytest.approx(30, abs=0.01)
    assert refused.retry_after == pytest.approx(10 / 0.001, rel=0.01)


async def test_a_refund_gives_points_back_but_never_above_the_size(
    redis_client: aioredis.Redis,
) -> None:
    buckets, bucket = Buckets(redis_client), fresh(size=100, rate=0.001)
    known(await buckets.take([bucket], 80))

    refunded = known(await buckets.refund([bucket], 50))
    capped = known(await buckets.refund([bucket], 500))

    assert refunded.fits and refunded.levels[0].available == pytest.approx(70, abs=0.01)
    assert capped.levels[0].available == pytest.approx(100)


async def test_a_bucket_restores_at_its_rate(redis_client: aioredis.Redis) -> None:
    buckets, bucket = Buckets(redis_client), fresh(size=100, rate=200)
    known(await buckets.take([bucket], 100))

    await asyncio.sleep(0.25)
    level = (known(await buckets.take([bucket], 0))).levels[0].available

    assert 45 <= level <= 100


async def test_an_amount_must_fit_in_every_bucket_and_is_taken_from_all_or_none(
    redis_client: aioredis.Redis,
) -> None:
    buckets = Buckets(redis_client)
    tenant, credential = fresh(size=1000, rate=0.001), fresh(size=50, rate=0.001)

    refused = known(await buckets.take([tenant, credential], 60))
    taken = known(await buckets.take([tenant, credential], 40))

    assert not refused.fits
    assert refused.tightest.bucket == credential
    assert [level.available for level in taken.levels] == pytest.approx([960, 10], abs=0.01)


async def test_an_amount_larger_than_a_bucket_never_fits(redis_client: aioredis.Redis) -> None:
    buckets = Buckets(redis_client)

    taken = known(await buckets.take([fresh(size=10)], 11))

    assert not taken.fits and taken.retry_after == math.inf


async def test_two_clients_share_one_bucket_and_together_admit_what_it_holds(
    settings: Settings, redis_client: aioredis.Redis
) -> None:
    assert settings.redis_url
    other = aioredis.from_url(settings.redis_url)
    bucket = fresh(size=100, rate=0.001)
    try:
        both = [Buckets(redis_client), Buckets(other)]
        answers = [known(answer) for answer in await asyncio.gather(
            *(both[i % 2].take([bucket], 1) for i in range(150))
        )]
    finally:
        await other.aclose()

    assert sum(answer.fits for answer in answers) == 100


async def test_a_bucket_forgets_itself_in_redis_once_it_is_full_again(
    redis_client: aioredis.Redis,
) -> None:
    buckets, bucket = Buckets(redis_client), fresh(size=10, rate=100)

    known(await buckets.take([bucket], 10))
    ttl = await redis_client.pttl(PREFIX + bucket.key)

    assert 0 < ttl <= 1100


def test_a_bucket_needs_a_positive_size_and_rate() -> None:
    with pytest.raises(ValueError, match="positive"):
        Bucket("x", 0, 1)
    with pytest.raises(ValueError, match="positive"):
        Bucket("x", 1, -1)


async def test_an_unreachable_redis_admits_by_default_and_counts_it() -> None:
    gone = aioredis.from_url(f"redis://127.0.0.1:{free_port()}", socket_connect_timeout=0.2)
    errors = metrics.REDIS_ERRORS.labels("limits")
    before = errors._value.get()
    try:
        taken = await Buckets(gone).take([fresh()], 1)
    finally:
        await gone.aclose()

    assert taken is None
    assert errors._value.get() == before + 1


async def test_failing_open_is_logged_once_and_so_is_the_recovery(
    settings: Settings, caplog: pytest.LogCaptureFixture,
) -> None:
    """Redis behind a port that refuses connections until a proxy to the real one opens there."""
    assert settings.redis_url
    real = urlsplit(settings.redis_url)
    port = free_port()
    client = aioredis.from_url(f"redis://127.0.0.1:{port}/{real.path.lstrip('/') or 0}",
                               socket_connect_timeout=0.2)
    buckets = Buckets(client)
    caplog.set_level(logging.WARNING, logger="tenantgraph.limits")
    try:
        assert await buckets.take([fresh()], 1) is None
        await asyncio.sleep(QUIET_SECONDS)
        assert await buckets.take([fresh()], 1) is None  # asked again: still unreachable
        proxy = await _proxy(port, real.hostname or "127.0.0.1", real.port or 6379)
        await asyncio.sleep(QUIET_SECONDS)
        assert await buckets.take([fresh()], 1) is not None
        proxy.close()
    finally:
        await client.aclose()

    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2, messages
    assert "Redis is unreachable" in messages[0] and "admitted unlimited" in messages[0]
    assert "checked again" in messages[1]


async def _proxy(port: int, host: str, target: int) -> asyncio.Server:
    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        writer.close()

    async def forward(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(host, target)
        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))

    return await asyncio.start_server(forward, "127.0.0.1", port)


async def test_an_unreachable_redis_refuses_when_the_limits_fail_closed() -> None:
    gone = aioredis.from_url(f"redis://127.0.0.1:{free_port()}", socket_connect_timeout=0.2)
    try:
        with pytest.raises(LimitsUnavailable, match="Redis is unreachable"):
            await Buckets(gone, fail_open=False).take([fresh()], 1)
    finally:
        await gone.aclose()


async def test_a_stalled_redis_costs_one_call_its_timeout_and_the_next_ones_nothing() -> None:
    connections = 0

    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await reader.read(-1)

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    stalled = aioredis.from_url(f"redis://127.0.0.1:{port}", socket_timeout=0.3)
    errors = metrics.REDIS_ERRORS.labels("limits")
    before = errors._value.get()
    try:
        buckets = Buckets(stalled)
        first = await buckets.take([fresh()], 1)  # None only once its socket timeout gave up
        asked = connections
        second = await buckets.take([fresh()], 1)
    finally:
        await stalled.aclose()
        server.close()

    assert first is None and second is None
    assert asked >= 1 and connections == asked, "the second call asked the stalled Redis again"
    assert errors._value.get() == before + 1


async def test_a_take_with_most_takes_up_to_most_of_what_every_bucket_holds(
    redis_client: aioredis.Redis,
) -> None:
    buckets = Buckets(redis_client)
    big, small = fresh(size=100, rate=0.001), fresh(size=30, rate=0.001)

    first = known(await buckets.take([big, small], 5, most=20))
    second = known(await buckets.take([big, small], 5, most=20))
    third = known(await buckets.take([big, small], 5, most=20))

    assert (first.fits, first.granted) == (True, 20)
    assert (second.fits, second.granted) == (True, pytest.approx(10, abs=0.01)), "all that was left"
    assert (third.fits, third.granted) == (False, 0)
    assert [round(level.available) for level in third.levels] == [70, 0]
