"""The outgoing webhook log over /graphql: messages and attempts as keyset connections,
redelivery and recovery (admin scope, audited), and each tenant sees and touches only its own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from saq import Queue

from domain.config import Settings
from services import outbound_delivery as delivery_services
from services import outbound_log as log_services
from tests import outbound_log as rows
from tests.documents import codes, error_codes, payload, payload_errors
from workers.settings import queue as make_queue

MESSAGES = """
query Messages($endpointId: ID, $status: WebhookMessageStatusFilter, $first: Int, $after: String) {
  webhookMessages(endpointId: $endpointId, status: $status, first: $first, after: $after) {
    edges { cursor node { id endpointId webhookId eventType eventSeq cursor status attempts
                          nextAttemptAt lastAttemptAt succeededAt createdAt body } }
    pageInfo { hasNextPage hasPreviousPage endCursor }
  }
}
"""
ATTEMPTS = """
query Attempts($messageId: ID!, $first: Int, $after: String) {
  webhookAttempts(messageId: $messageId, first: $first, after: $after) {
    edges { node { id messageId attemptedAt durationMs responseStatus responseBody error trigger } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
REDELIVER = """
mutation Redeliver($id: ID!) {
  redeliverWebhookMessage(id: $id) { message { id status nextAttemptAt } errors { field message code } }
}
"""
RECOVER = """
mutation Recover($id: ID!, $since: DateTime!) {
  recoverWebhookEndpoint(id: $id, since: $since) { jobId status errors { field message code } }
}
"""


@pytest.fixture
async def jobs(settings: Settings) -> AsyncIterator[Queue]:
    found = make_queue(settings)
    yield found
    await found.disconnect()


def ids(body: dict[str, Any], field: str) -> list[str]:
    assert "errors" not in body, body
    return [edge["node"]["id"] for edge in body["data"][field]["edges"]]


async def test_messages_are_listed_newest_first_in_pages_that_neither_skip_nor_repeat(tenant_a: Any) -> None:
    endpoint = await rows.endpoint(tenant_a.id)
    made = [await rows.message(tenant_a.id, endpoint, age=timedelta(minutes=10 - i)) for i in range(5)]

    seen: list[str] = []
    after = None
    for _ in range(3):
        body = await tenant_a.gql(MESSAGES, {"endpointId": str(endpoint), "first": 2, "after": after})
        seen += ids(body, "webhookMessages")
        info = body["data"]["webhookMessages"]["pageInfo"]
        after = info["endCursor"]
        assert info["hasPreviousPage"] is (len(seen) > 2)
    assert seen == [str(m) for m in reversed(made)]
    assert info["hasNextPage"] is False


async def test_a_message_shows_its_webhook_id_cursor_and_the_body_sent(tenant_a: Any) -> None:
    endpoint = await rows.endpoint(tenant_a.id)
    message = await rows.message(tenant_a.id, endpoint, status="retrying", attempts=2)
    stored = await rows.row(tenant_a.id, message)

    body = await tenant_a.gql(MESSAGES, {"endpointId": str(endpoint)})
    (edge,) = body["data"]["webhookMessages"]["edges"]
    node = edge["node"]
    assert (node["webhookId"], node["eventType"], node["status"], node["attempts"]) == (
        stored["msg_id"], "order.created", "RETRYING", 2
    )
    assert node["cursor"] == str(stored["event_seq"]) == node["body"]["data"]["cursor"]
    assert node["nextAttemptAt"] is not None and node["endpointId"] == str(endpoint)


async def test_the_status_filter_failed_means_retrying_or_exhausted(tenant_a: Any) -> None:
    endpoint = await rows.endpoint(tenant_a.id)
    made = {s: await rows.message(tenant_a.id, endpoint, status=s)
            for s in ("pending", "succeeded", "retrying", "exhausted")}

    async def listed(status: str) -> set[str]:
        return set(ids(await tenant_a.gql(MESSAGES, {"status": status}), "webhookMessages"))

    assert await listed("FAILED") == {str(made["retrying"]), str(made["exhausted"])}
    assert await listed("SUCCEEDED") == {str(made["succeeded"])}
    assert await listed("PENDING") == {str(made["pending"])}
    assert await listed("EXHAUSTED") == {str(made["exhausted"])}


async def test_the_endpoint_filter_lists_that_endpoints_messages_only(tenant_a: Any) -> None:
    one, other = await rows.endpoint(tenant_a.id), await rows.endpoint(tenant_a.id)
    mine = await rows.message(tenant_a.id, one)
    await rows.message(tenant_a.id, other)

    assert ids(await tenant_a.gql(MESSAGES, {"endpointId": str(one)}), "webhookMessages") == [str(mine)]
    assert len(ids(await tenant_a.gql(MESSAGES, {}), "webhookMessages")) == 2


async def test_a_cursor_of_another_connection_or_a_bad_page_size_is_bad_input(tenant_a: Any) -> None:
    endpoint = await rows.endpoint(tenant_a.id)
    message = await rows.message(tenant_a.id, endpoint)
    await rows.attempt(tenant_a.id, message, endpoint, at=datetime.now(UTC))
    attempts = await tenant_a.gql(ATTEMPTS, {"messageId": str(message)})
    foreign = attempts["data"]["webhookAttempts"]["pageInfo"]["endCursor"]

    assert codes(await tenant_a.gql(MESSAGES, {"after": foreign})) == ["BAD_USER_INPUT"]
    assert codes(await tenant_a.gql(MESSAGES, {"first": 1000})) == ["BAD_USER_INPUT"]
    assert codes(await tenant_a.gql(MESSAGES, {"endpointId": "nope"})) == ["BAD_USER_INPUT"]


async def test_attempts_are_listed_newest_first_in_pages(tenant_a: Any) -> None:
    endpoint = await rows.endpoint(tenant_a.id)
    message = await rows.message(tenant_a.id, endpoint, status="retrying")
    start = datetime.now(UTC) - timedelta(hours=1)
    made = [await rows.attempt(tenant_a.id, message, endpoint, at=start + timedelta(minutes=i),
                               status=None if i == 2 else 500) for i in range(3)]

    first = await tenant_a.gql(ATTEMPTS, {"messageId": str(message), "first": 2})
    after = first["data"]["webhookAttempts"]["pageInfo"]["endCursor"]
    rest = await tenant_a.gql(ATTEMPTS, {"messageId": str(message), "first": 2, "after": after})

    assert ids(first, "webhookAttempts") + ids(rest, "webhookAttempts") == [str(a) for a in reversed(made)]
    newest = first["data"]["webhookAttempts"]["edges"][0]["node"]
    assert (newest["responseStatus"], newest["error"], newest["trigger"], newest["durationMs"]) == (
        None, "timeout", "scheduled", 12
    )
    assert rest["data"]["webhookAttempts"]["edges"][0]["node"]["responseBody"] == "nope"


async def test_redeliver_makes_any_message_due_now_as_manual_and_wakes_its_endpoint(
    tenant_a: Any, jobs: Queue
) -> None:
    endpoint = await rows.endpoint(tenant_a.id)
    done = await rows.message(tenant_a.id, endpoint, status="succeeded", attempts=1)
    failed = await rows.message(tenant_a.id, endpoint, status="exhausted", attempts=8)

    answers = [payload(await tenant_a.gql(REDELIVER, {"id": str(m)}), "redeliverWebhookMessage")
               for m in (done, failed)]

    assert [a["message"]["status"] for a in answers] == ["PENDING", "RETRYING"]
    for message in (done, failed):
        stored = await rows.row(tenant_a.id, message)
        assert stored["due"] and stored["next_trigger"] == "manual"
        assert await rows.audit_actions(tenant_a.id, message) == ["outbound_message.redelivered"]
    woken = await jobs.job(delivery_services.job_key(endpoint))
    assert woken is not None and woken.function == "deliver_outbound"
    assert woken.kwargs == {"endpoint_id": str(endpoint), "tenant_id": str(tenant_a.id)}


async def test_redeliver_to_a_disabled_endpoint_says_to_enable_it_and_changes_nothing(tenant_a: Any) -> None:
    endpoint = await rows.endpoint(tenant_a.id, enabled=False)
    message = await rows.message(tenant_a.id, endpoint, status="exhausted")

    (error,) = payload_errors(await tenant_a.gql(REDELIVER, {"id": str(message)}), "redeliverWebhookMessage")

    assert error["code"] == "CONFLICT" and "enable it first" in error["message"]
    stored = await rows.row(tenant_a.id, message)
    assert (stored["status"], stored["due"], stored["next_trigger"]) == ("exhausted", False, "scheduled")
    assert await rows.audit_actions(tenant_a.id, message) == []


async def test_recover_queues_a_job_that_makes_what_failed_since_then_due(tenant_a: Any, jobs: Queue) -> None:
    endpoint = await rows.endpoint(tenant_a.id)
    old = await rows.message(tenant_a.id, endpoint, status="exhausted", age=timedelta(days=3))
    recent = {s: await rows.message(tenant_a.id, endpoint, status=s, age=timedelta(hours=1))
              for s in ("exhausted", "retrying", "succeeded", "pending")}
    since = (datetime.now(UTC) - timedelta(days=1)).isoformat()

    body = await tenant_a.gql(RECOVER, {"id": str(endpoint), "since": since})
    answer = payload(body, "recoverWebhookEndpoint")

    assert answer["status"] == "queued"
    job = await jobs.job(answer["jobId"])
    assert job is not None and job.function == "recover_outbound" and job.kwargs is not None
    assert job.kwargs["endpoint_id"] == str(endpoint) and job.kwargs["tenant_id"] == str(tenant_a.id)
    assert await rows.audit_actions(tenant_a.id, endpoint) == ["outbound_endpoint.recovery_requested"]

    async def enqueue(function: str, key: str, kwargs: Any) -> object:
        return await jobs.enqueue(function, key=key, **kwargs)

    count = await log_services.recover(
        enqueue, endpoint, datetime.fromisoformat(job.kwargs["since"]), tenant_id=tenant_a.id
    )

    assert count == 2
    for status, message in recent.items():
        stored = await rows.row(tenant_a.id, message)
        failed = status in ("exhausted", "retrying")
        assert (stored["due"], stored["next_trigger"]) == (
            (True, "recovery") if failed else (False, "scheduled")
        ), status
        assert stored["status"] == ("retrying" if failed else status)
    assert (await rows.row(tenant_a.id, old))["status"] == "exhausted"
    assert await jobs.job(delivery_services.job_key(endpoint)) is not None


async def test_recover_of_a_disabled_endpoint_says_to_enable_it_first(tenant_a: Any) -> None:
    endpoint = await rows.endpoint(tenant_a.id, enabled=False)
    since = (datetime.now(UTC) - timedelta(days=1)).isoformat()

    (error,) = payload_errors(
        await tenant_a.gql(RECOVER, {"id": str(endpoint), "since": since}), "recoverWebhookEndpoint"
    )

    assert error["code"] == "CONFLICT" and "is disabled: enable it first" in error["message"]
    assert await rows.audit_actions(tenant_a.id, endpoint) == []


async def test_recover_since_a_future_time_is_bad_input(tenant_a: Any) -> None:
    endpoint = await rows.endpoint(tenant_a.id)
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()

    body = await tenant_a.gql(RECOVER, {"id": str(endpoint), "since": future})

    assert error_codes(body, "recoverWebhookEndpoint") == ["BAD_USER_INPUT"]


async def test_the_log_needs_the_admin_scope(tenant_a: Any) -> None:
    endpoint = await rows.endpoint(tenant_a.id)
    message = await rows.message(tenant_a.id, endpoint)
    reader = await tenant_a.key_with("catalog:read")
    since = datetime.now(UTC).isoformat()

    assert codes(await tenant_a.gql(MESSAGES, {}, key=reader)) == ["FORBIDDEN"]
    assert codes(await tenant_a.gql(ATTEMPTS, {"messageId": str(message)}, key=reader)) == ["FORBIDDEN"]
    assert codes(await tenant_a.gql(REDELIVER, {"id": str(message)}, key=reader)) == ["FORBIDDEN"]
    recovered = await tenant_a.gql(RECOVER, {"id": str(endpoint), "since": since}, key=reader)
    assert codes(recovered) == ["FORBIDDEN"]


async def test_another_tenant_never_sees_redelivers_or_recovers_a_tenants_messages(
    tenant_a: Any, tenant_b: Any, jobs: Queue
) -> None:
    endpoint = await rows.endpoint(tenant_a.id)
    message = await rows.message(tenant_a.id, endpoint, status="exhausted")
    await rows.attempt(tenant_a.id, message, endpoint, at=datetime.now(UTC))
    since = (datetime.now(UTC) - timedelta(days=1)).isoformat()

    assert ids(await tenant_b.gql(MESSAGES, {}), "webhookMessages") == []
    assert codes(await tenant_b.gql(MESSAGES, {"endpointId": str(endpoint)})) == ["NOT_FOUND"]
    assert codes(await tenant_b.gql(ATTEMPTS, {"messageId": str(message)})) == ["NOT_FOUND"]
    assert error_codes(await tenant_b.gql(REDELIVER, {"id": str(message)}), "redeliverWebhookMessage") == [
        "NOT_FOUND"
    ]
    recovered = await tenant_b.gql(RECOVER, {"id": str(endpoint), "since": since})
    assert error_codes(recovered, "recoverWebhookEndpoint") == ["NOT_FOUND"]

    stored = await rows.row(tenant_a.id, message)
    assert (stored["status"], stored["due"], stored["next_trigger"]) == ("exhausted", False, "scheduled")
    assert await jobs.job(delivery_services.job_key(endpoint)) is None
    assert await rows.audit_actions(tenant_b.id, message) == []
    assert await rows.audit_actions(tenant_a.id, endpoint) == []
