"""The delivery log with the real engine: a redelivered message reaches the receiver again with
the same webhook-id and is logged as a manual attempt; a recovery sends again what an endpoint
failed; both through GraphQL, the worker and the receiver being real processes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from domain.config import Settings
from tests import outbound as out
from tests.documents import payload
from tests.workers.test_deliveries import Pipeline, pipeline_for

MESSAGES = """
query($endpointId: ID!) { webhookMessages(endpointId: $endpointId) {
  edges { node { id webhookId status attempts } } } }
"""
ATTEMPTS = """
query($messageId: ID!) { webhookAttempts(messageId: $messageId) {
  edges { node { responseStatus trigger } } } }
"""
REDELIVER = "mutation($id: ID!) { redeliverWebhookMessage(id: $id) { message { id } errors { code } } }"
RECOVER = """
mutation($id: ID!, $since: DateTime!) {
  recoverWebhookEndpoint(id: $id, since: $since) { jobId status errors { code message } }
}
"""
EXHAUSTING = {"OUTBOUND_RETRY_SCHEDULE": "0,0.2"}
"""Two attempts in all, so that a message failing twice is exhausted at once."""


@pytest.fixture
async def pipeline(
    settings: Settings, server_env: dict[str, str], app_pool: None, tmp_path: Path
) -> AsyncIterator[Pipeline]:
    env = {**server_env, **out.FAST, **EXHAUSTING}
    async with pipeline_for(settings, env, tmp_path, start=False) as made:
        yield made


async def messages(tenant: Any, endpoint: Any) -> list[dict[str, Any]]:
    body = await tenant.gql(MESSAGES, {"endpointId": str(endpoint)})
    return [edge["node"] for edge in body["data"]["webhookMessages"]["edges"]]


async def triggers(tenant: Any, message_id: str) -> list[tuple[int | None, str]]:
    body = await tenant.gql(ATTEMPTS, {"messageId": message_id})
    return [(e["node"]["responseStatus"], e["node"]["trigger"])
            for e in body["data"]["webhookAttempts"]["edges"]]


async def test_a_redelivered_message_arrives_again_with_the_same_webhook_id_as_manual(
    pipeline: Pipeline, receiver: out.Receiver, tenant_a: Any
) -> None:
    tenant_a = pipeline.as_admin(tenant_a)  # its GraphQL enqueues to the pipeline's worker
    endpoint, secret = await out.endpoint(tenant_a.id, receiver.url("/again"), ["*"])
    await receiver.script("/again", [secret])
    pipeline.start_worker()
    await out.emit(tenant_a.id, "product.created")
    await receiver.until(lambda got: len(got) == 1, log=pipeline.log)
    ((message),) = await messages(tenant_a, endpoint)

    payload(await tenant_a.gql(REDELIVER, {"id": message["id"]}), "redeliverWebhookMessage")
    got = await receiver.until(lambda got: len(got) == 2, log=pipeline.log)

    assert [r["msg_id"] for r in got] == [message["webhookId"]] * 2
    assert all(r["verified"] == [True] for r in got)
    assert got[0]["body"] == got[1]["body"]
    assert await triggers(tenant_a, message["id"]) == [(200, "manual"), (200, "scheduled")]


async def test_a_recovery_sends_again_what_an_endpoint_failed_as_recovery(
    pipeline: Pipeline, receiver: out.Receiver, tenant_a: Any
) -> None:
    tenant_a = pipeline.as_admin(tenant_a)
    endpoint, secret = await out.endpoint(tenant_a.id, receiver.url("/down"), ["*"])
    await receiver.script("/down", [secret], [{"status": 503}, {"status": 503}])
    pipeline.start_worker()
    await out.emit(tenant_a.id, "product.created")

    async def exhausted() -> bool:
        found = await messages(tenant_a, endpoint)
        return bool(found) and found[0]["status"] == "EXHAUSTED"

    await pipeline_until(exhausted)
    since = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    answer = payload(await tenant_a.gql(RECOVER, {"id": str(endpoint), "since": since}),
                     "recoverWebhookEndpoint")
    got = await receiver.until(lambda got: len(got) == 3, log=pipeline.log)

    assert answer["status"] == "queued"
    assert [r["msg_id"] for r in got] == [got[0]["msg_id"]] * 3
    ((message),) = await messages(tenant_a, endpoint)
    assert message["status"] == "SUCCEEDED"
    assert await triggers(tenant_a, message["id"]) == [
        (200, "recovery"), (503, "scheduled"), (503, "scheduled")
    ]


async def pipeline_until(check: Any, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "not reached in time"
        await asyncio.sleep(0.1)
