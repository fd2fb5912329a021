"""Webhooks out, the pure rules: signatures a Standard Webhooks receiver accepts, the body an
event becomes, the retry schedule and Retry-After."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from uuid import uuid4

import orjson
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from domain import events
from domain import outbound_delivery as delivery
from domain.env import ConfigError
from tests.outbound import new_secret

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
EVENT = events.Event(
    seq=42, type="order.created", aggregate_type="order", aggregate_id="o-1",
    payload={"number": "1001"}, correlation_id="req-1", actor="key:abc", created_at=NOW,
    traceparent="00-" + "1" * 32 + "-" + "2" * 16 + "-01",
)


def test_the_standardwebhooks_library_verifies_each_valid_secret() -> None:
    new, old = new_secret(), new_secret()
    payload = orjson.dumps(delivery.body(EVENT))
    at = datetime.now(UTC)
    headers = delivery.headers({"x-shop": "7"}, [new, old], "msg_1", at, payload)
    assert Webhook(new).verify(payload, headers) == orjson.loads(payload)
    assert Webhook(old).verify(payload, headers) == orjson.loads(payload)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(payload, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new).verify(payload + b" ", headers)
    assert headers["x-shop"] == "7" and headers["webhook-timestamp"] == str(int(at.timestamp()))


def test_the_body_is_what_the_events_subscription_shows_and_nothing_internal() -> None:
    body = delivery.body(EVENT)
    assert body == {
        "type": "order.created", "timestamp": "2026-12-04T12:00:00Z",
        "data": {"cursor": "42", "seq": 42, "aggregateType": "order", "aggregateId": "o-1",
                 "correlationId": "req-1", "actor": "key:abc", "payload": {"number": "1001"}},
    }
    assert "traceparent" not in str(body) and EVENT.traceparent not in str(body)


def test_message_ids_are_stable_per_event_and_endpoint() -> None:
    one, two = uuid4(), uuid4()
    assert delivery.message_id(one, 1) == delivery.message_id(one, 1)
    assert len({delivery.message_id(one, 1), delivery.message_id(one, 2), delivery.message_id(two, 1)}) == 3


def test_the_schedule_with_jitter_then_exhausted() -> None:
    settings = delivery.DeliverySettings()
    failed = delivery.Answer(500)
    rand = random.Random(1)
    delays = [delivery.next_delay(n, failed, settings, rand) for n in range(1, 9)]
    assert delays[-1] is None
    for delay, expected in zip(delays[:-1], delivery.SCHEDULE[1:], strict=True):
        assert delay is not None and expected * 0.9 <= delay <= expected * 1.1


def test_retry_after_pushes_a_retry_back_up_to_the_cap() -> None:
    settings = delivery.DeliverySettings(retry_after_max_seconds=600)
    assert delivery.next_delay(1, delivery.Answer(429, retry_after=120), settings) == 120
    assert delivery.next_delay(1, delivery.Answer(503, retry_after=99_999), settings) == 600
    assert delivery.next_delay(1, delivery.Answer(500, retry_after=120), settings) != 120
    assert delivery.retry_after("30", NOW) == 30
    assert delivery.retry_after("Fri, 04 Dec 2026 12:01:00 GMT", NOW) == 60
    assert delivery.retry_after("soon", NOW) is None


def test_answers() -> None:
    assert delivery.Answer(204).succeeded and not delivery.Answer(302).succeeded
    assert delivery.Answer(410).gone and not delivery.Answer(None, error="timeout").succeeded


def test_settings_from_the_environment() -> None:
    read = delivery.DeliverySettings.from_env({"OUTBOUND_RETRY_SCHEDULE": "0, 1,2.5",
                                               "OUTBOUND_TIMEOUT_SECONDS": "3"})
    assert read.retry_schedule == (0, 1, 2.5) and read.timeout_seconds == 3
    assert delivery.DeliverySettings.from_env({}) == delivery.DeliverySettings()
    with pytest.raises(ConfigError, match="OUTBOUND_RETRY_SCHEDULE"):
        delivery.DeliverySettings.from_env({"OUTBOUND_RETRY_SCHEDULE": "0,-1"})
    with pytest.raises(ConfigError, match="OUTBOUND_CONCURRENCY"):
        delivery.DeliverySettings.from_env({"OUTBOUND_CONCURRENCY": "0"})
