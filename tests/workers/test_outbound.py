"""Webhooks out, end to end: events committed to the outbox reach a real receiver process
through a real worker, signed (checked by the `standardwebhooks` library), retried on the
schedule, in order, once per endpoint, never to another tenant's endpoint."""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from domain import modules
from domain import outbound_delivery as delivery
from domain.config import Settings
from tables import db
from tables import events as outbox
from tests import outbound as out
from tests.workers.test_deliveries import Pipeline, pipeline_for
from workers import outbound as outbound_worker

ALL_TYPES = sorted(t for spec in modules.MODULES.values() for t in spec.events)


@pytest.fixture
async def pipeline(
    settings: Settings, server_env: dict[str, str], app_pool: None, tmp_path: Path
) -> AsyncIterator[Pipeline]:
    async with pipeline_for(settings, {**server_env, **out.FAST}, tmp_path, start=False) as made:
        yield made


def verified_once_each(got: list[dict[str, Any]]) -> None:
    assert all(r["verified"] and all(r["verified"]) for r in got), [r["verified"] for r in got]


async def test_every_event_type_reaches_exactly_the_subscribed_endpoints_once_after_retries(
    pipeline: Pipeline, receiver: out.Receiver, make_tenant: Any
) -> None:
    a, b = await make_tenant(), await make_tenant()
    every, _ = await out.endpoint(a.id, receiver.url("/a-every"), ["*"])
    orders, _ = await out.endpoint(a.id, receiver.url("/a-orders"), ["order.*"])
    one, _ = await out.endpoint(a.id, receiver.url("/a-one"), ["product.created"])
    await out.endpoint(a.id, receiver.url("/a-off"), ["*"], enabled=False)
    await out.endpoint(b.id, receiver.url("/b-every"), ["*"])
    secrets = {path: (await out.row("select secrets from outbound_endpoints where url = $1",
                                    receiver.url(path), tenant_id=t.id))["secrets"]
               for path, t in [("/a-every", a), ("/a-orders", a), ("/a-one", a), ("/b-every", b)]}
    for path, entries in secrets.items():
        secret = orjson.loads(entries)[0]["secret"]
        answers = {"/a-every": [{"status": 500}, {"status": 429, "headers": {"Retry-After": "1"}},
                                {"status": 302, "headers": {"location": "http://127.0.0.1:1/"}}],
                   "/a-orders": [{"status": 503}, {"delay": 3}]}.get(path, [])
        await receiver.script(path, [secret], answers)
    pipeline.start_worker()
    await out.emit(a.id, *ALL_TYPES)
    await out.emit(b.id, "order.created", "product.created")

    def done(got: list[dict[str, Any]]) -> bool:
        paths = collections.Counter(r["path"] for r in got)
        return (len({r["msg_id"] for r in got if r["path"] == "/a-every"}) == len(ALL_TYPES)
                and len({r["msg_id"] for r in got if r["path"] == "/a-orders"}) == 2
                and paths["/a-one"] == 1 and paths["/b-every"] == 2)

    got = await receiver.until(done, log=pipeline.log)
    await asyncio.sleep(1.5)  # anything extra would arrive now
    got = await receiver.received()
    verified_once_each(got)
    by_path = collections.defaultdict(list)
    for r in got:
        by_path[r["path"]].append(r)
    assert "/a-off" not in by_path
    assert sorted(r["body"]["type"] for r in by_path["/a-one"]) == ["product.created"]
    assert {r["body"]["type"] for r in by_path["/a-orders"]} == {"order.created", "order.status_changed"}
    assert {r["body"]["type"] for r in by_path["/a-every"]} == set(ALL_TYPES)
    assert sorted(r["body"]["type"] for r in by_path["/b-every"]) == ["order.created", "product.created"]
    # Three failures (500, 429, 302) then successes: the first event arrived four times, same id.
    first = by_path["/a-every"][0]["msg_id"]
    sent = collections.Counter(r["msg_id"] for r in by_path["/a-every"])
    assert sent.pop(first) == 4 and set(sent.values()) == {1}
    assert len(by_path["/a-orders"]) == 2 + 2  # 503, then a timeout: each retried once
    statuses = await out.rows(
        "select status, attempts from outbound_messages where endpoint_id = any($1::uuid[])",
        [every, orders, one], tenant_id=a.id,
    )
    assert {s["status"] for s in statuses} == {"succeeded"}
    errors = await out.rows(
        "select error, response_status from outbound_attempts where endpoint_id = $1 order by attempted_at",
        orders, tenant_id=a.id,
    )
    assert [e["response_status"] for e in errors[:2]] == [503, None]
    assert errors[1]["error"].startswith("timeout")
    for r in got:
        data = r["body"]["data"]
        assert set(data) == {"cursor", "seq", "aggregateType", "aggregateId", "correlationId", "actor",
                             "payload"}
        assert str(a.id) not in str(r["body"]) and str(b.id) not in str(r["body"])
        assert out.TRACEPARENT not in str(r)


async def test_retry_after_is_honoured(
    pipeline: Pipeline, receiver: out.Receiver, make_tenant: Any
) -> None:
    a = await make_tenant()
    _, secret = await out.endpoint(a.id, receiver.url("/later"), ["*"])
    await receiver.script("/later", [secret], [{"status": 429, "headers": {"Retry-After": "2"}}])
    pipeline.start_worker()
    await out.emit(a.id, "product.created")
    got = await receiver.until(lambda got: len(got) == 2, log=pipeline.log)
    gap = out.timestamps(got)[1] - out.timestamps(got)[0]
    assert gap >= timedelta(seconds=1), gap  # whole seconds in the header: 2 s less rounding


async def test_a_healthy_endpoint_gets_events_in_sequence_order(
    pipeline: Pipeline, receiver: out.Receiver, make_tenant: Any
) -> None:
    a = await make_tenant()
    _, secret = await out.endpoint(a.id, receiver.url("/ordered"), ["product.*"])
    await receiver.script("/ordered", [secret])
    pipeline.start_worker()
    for _ in range(6):
        await out.emit(a.id, *["product.created", "product.updated"] * 5)
    got = await receiver.until(lambda got: len(got) >= 60, log=pipeline.log)
    assert out.seqs(got) == sorted(out.seqs(got)) and len(set(out.seqs(got))) == 60
    verified_once_each(got)


async def test_a_failing_message_holds_back_later_ones_for_its_ordered_attempts_only(
    pipeline: Pipeline, receiver: out.Receiver, make_tenant: Any
) -> None:
    a = await make_tenant()
    _, secret = await out.endpoint(a.id, receiver.url("/stuck"), ["*"])
    await receiver.script("/stuck", [secret], [{"status": 500}] * 4)
    pipeline.start_worker()
    await out.emit(a.id, "product.created", "product.updated")
    got = await receiver.until(lambda got: len(got) >= 6, log=pipeline.log)
    await asyncio.sleep(1)
    first, second = sorted(set(out.seqs(await receiver.received())))
    # Three attempts of the first (OUTBOUND_ORDERED_ATTEMPTS) before the second goes at all;
    # then the second goes (and fails once too), and both succeed on their own schedules.
    assert out.seqs(got)[:4] == [first, first, first, second]
    assert sorted(out.seqs(await receiver.received())) == [first] * 4 + [second] * 2


async def test_rotation_signs_with_both_secrets_during_the_grace_period(
    pipeline: Pipeline, receiver: out.Receiver, make_tenant: Any
) -> None:
    a = await make_tenant()
    new, old, expired = out.new_secret(), out.new_secret(), out.new_secret()
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    gone = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    await out.endpoint(a.id, receiver.url("/rotated"), ["*"], secrets=[
        {"secret": new, "expires_at": None}, {"secret": old, "expires_at": later},
        {"secret": expired, "expires_at": gone},
    ], headers={"x-integration": "erp-7"})
    await receiver.script("/rotated", [new, old, expired])
    pipeline.start_worker()
    await out.emit(a.id, "customer.created")
    (got,) = await receiver.until(lambda got: len(got) == 1, log=pipeline.log)
    assert got["verified"] == [True, True, False]
    assert len(got["signatures"]) == 2 and all(s.startswith("v1,") for s in got["signatures"])
    assert got["headers"]["x-integration"] == "erp-7"


async def test_410_disables_the_endpoint_and_tells_the_tenant(
    pipeline: Pipeline, receiver: out.Receiver, make_tenant: Any
) -> None:
    a = await make_tenant()
    endpoint_id, secret = await out.endpoint(a.id, receiver.url("/gone"), ["product.*"])
    await receiver.script("/gone", [secret], [{"status": 410}])
    pipeline.start_worker()
    await out.emit(a.id, "product.created")
    await receiver.until(lambda got: len(got) == 1, log=pipeline.log)
    deadline = time.monotonic() + 10
    while (await out.row("select enabled from outbound_endpoints where id = $1", endpoint_id,
                         tenant_id=a.id))["enabled"]:
        assert time.monotonic() < deadline, pipeline.log()[-4000:]
        await asyncio.sleep(0.1)
    await out.emit(a.id, "product.updated")
    await asyncio.sleep(1.5)
    assert len(await receiver.received()) == 1
    told = await outbox.list_events(tenant_id=a.id, types=[delivery.DISABLED])
    assert [e.payload["endpointId"] for e in told] == [str(endpoint_id)]
    assert "410" in told[0].payload["reason"]


async def test_an_endpoint_failing_too_long_is_disabled(
    settings: Settings, server_env: dict[str, str], app_pool: None, tmp_path: Path,
    receiver: out.Receiver, make_tenant: Any,
) -> None:
    env = {**server_env, **out.FAST, "OUTBOUND_DISABLE_AFTER_SECONDS": "1",
           "OUTBOUND_RETRY_SCHEDULE": "0,0.5,0.5,0.5,0.5,0.5"}
    async with pipeline_for(settings, env, tmp_path) as pipeline:
        a = await make_tenant()
        endpoint_id, secret = await out.endpoint(a.id, receiver.url("/down"), ["*"])
        await receiver.script("/down", [secret], [{"status": 500}] * 20)
        await out.emit(a.id, "product.created")
        deadline = time.monotonic() + 15
        while (await out.row("select enabled from outbound_endpoints where id = $1", endpoint_id,
                             tenant_id=a.id))["enabled"]:
            assert time.monotonic() < deadline, pipeline.log()[-4000:]
            await asyncio.sleep(0.1)
    told = await outbox.list_events(tenant_id=a.id, types=[delivery.DISABLED])
    assert "failing since" in told[0].payload["reason"]
    assert 2 <= len(await receiver.received()) <= 4


async def test_a_worker_killed_mid_delivery_loses_nothing_and_duplicates_keep_their_id(
    pipeline: Pipeline, receiver: out.Receiver, make_tenant: Any
) -> None:
    a = await make_tenant()
    _, secret = await out.endpoint(a.id, receiver.url("/slow"), ["*"])
    await receiver.script("/slow", [secret], [{"delay": 0.3}] * 200)
    worker = pipeline.start_worker()
    await out.emit(a.id, *["product.updated"] * 20)
    await receiver.until(lambda got: len(got) >= 5, log=pipeline.log)
    worker.kill()
    await asyncio.to_thread(worker.wait, 10)
    pipeline.start_worker()
    got = await receiver.until(lambda got: len({r["msg_id"] for r in got}) == 20, timeout=40,
                               log=pipeline.log)
    await asyncio.sleep(1)
    got = await receiver.received()
    counts = collections.Counter(r["msg_id"] for r in got)
    # At most the message in flight when the worker died comes twice (endpoint concurrency 1).
    assert sum(counts.values()) - len(counts) <= 1, counts
    assert out.seqs(got) == sorted(out.seqs(got))
    verified_once_each(got)


async def test_loopback_is_refused_without_the_allow_list(
    settings: Settings, server_env: dict[str, str], app_pool: None, tmp_path: Path,
    receiver: out.Receiver, make_tenant: Any,
) -> None:
    env = {**server_env, **out.FAST, "OUTBOUND_ALLOW_NETWORKS": ""}
    async with pipeline_for(settings, env, tmp_path) as pipeline:
        a = await make_tenant()
        endpoint_id, secret = await out.endpoint(a.id, receiver.url("/private"), ["*"])
        await out.emit(a.id, "product.created")
        deadline = time.monotonic() + 15
        while not (tried := await out.rows(
            "select error, response_status from outbound_attempts where endpoint_id = $1",
            endpoint_id, tenant_id=a.id,
        )):
            assert time.monotonic() < deadline, pipeline.log()[-4000:]
            await asyncio.sleep(0.1)
    assert tried[0]["response_status"] is None and "refused address" in tried[0]["error"]
    assert await receiver.received() == []


async def test_an_endpoint_rate_limit_paces_its_requests(
    pipeline: Pipeline, receiver: out.Receiver, make_tenant: Any
) -> None:
    a = await make_tenant()
    endpoint_id, secret = await out.endpoint(a.id, receiver.url("/paced"), ["*"])
    async with db.transaction(tenant_id=a.id) as tx:
        await tx.connection.execute("update outbound_endpoints set rate_limit = 4 where id = $1", endpoint_id)
    await receiver.script("/paced", [secret])
    pipeline.start_worker()
    await out.emit(a.id, *["product.updated"] * 9)

    # Paced, every message still arrives; how long the pause is, is counted below, not timed.
    await receiver.until(lambda got: len(got) == 9, log=pipeline.log)


@pytest.mark.parametrize(("sent", "rate", "spent", "pause"), [
    (4, 4, 0.0, 1.0),    # a batch of 4 at 4 a second: the next starts a second after this one
    (4, 4, 0.25, 0.75),  # the time the requests took counts towards it
    (1, 4, 0.0, 0.25),
    (4, 4, 1.5, 0.0),    # slower than the rate: no pause
    (9, 20, 0.0, 0.45),
])
def test_a_batch_is_followed_by_the_pause_its_rate_limit_needs(
    sent: int, rate: int, spent: float, pause: float
) -> None:
    assert outbound_worker.pause_after(sent, rate, spent) == pytest.approx(pause)
