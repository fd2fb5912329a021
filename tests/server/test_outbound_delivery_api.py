"""Webhooks out, `sendTestWebhook` (admin): a signed `test` message through the same path as
events, to a real receiver; audited; refused for a disabled endpoint, another tenant's, or
without the admin scope."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from domain import audit, egress
from domain.config import Settings
from tables import audit as trail
from tests import outbound as out
from tests.conftest import TenantHandle
from tests.workers.test_deliveries import Pipeline, pipeline_for

CREATE = """
mutation Create($input: CreateOutboundEndpointInput!) {
  createOutboundEndpoint(input: $input) { secret endpoint { id } }
}"""
SEND = "mutation Send($id: ID!) { sendTestWebhook(endpointId: $id) { webhookId } }"


@pytest.fixture
async def pipeline(
    settings: Settings, server_env: dict[str, str], app_pool: None, tmp_path: Path
) -> AsyncIterator[Pipeline]:
    loopback = dataclasses.replace(settings, outbound_allow_networks=egress.networks("127.0.0.0/8"))
    async with pipeline_for(loopback, {**server_env, **out.FAST}, tmp_path) as made:
        yield made


async def create(admin: TenantHandle, url: str) -> tuple[str, str]:
    body = await admin.gql(CREATE, {"input": {"url": url, "eventTypes": ["order.*"]}})
    assert "errors" not in body, body
    made = body["data"]["createOutboundEndpoint"]
    return made["endpoint"]["id"], made["secret"]


async def sent(tenant: TenantHandle) -> list[audit.Entry]:
    where = audit.Filter(action="outbound_endpoint.test_sent")
    return await trail.entries(tenant_id=tenant.id, where=where, before_id=None, limit=10)


def code_of(body: dict[str, Any]) -> str:
    assert body["data"] is None, body
    (error,) = body["errors"]
    return str(error["extensions"]["code"])


async def test_a_test_message_reaches_the_endpoint_signed_and_is_audited(
    pipeline: Pipeline, receiver: out.Receiver, make_tenant: Any
) -> None:
    admin = pipeline.as_admin(await make_tenant())
    endpoint_id, secret = await create(admin, receiver.url("/test"))
    await receiver.script("/test", [secret])
    body = await admin.gql(SEND, {"id": endpoint_id})
    assert "errors" not in body, body
    webhook_id = body["data"]["sendTestWebhook"]["webhookId"]
    (got,) = await receiver.until(lambda got: len(got) == 1, log=pipeline.log)
    assert got["msg_id"] == webhook_id and got["verified"] == [True]
    assert got["body"]["type"] == "test" and got["body"]["data"] == {"endpointId": endpoint_id}
    entries = await sent(admin)
    assert [(e.target_id, e.after) for e in entries] == [(endpoint_id, {"webhookId": webhook_id})]


async def test_refusals_write_nothing(tenant_a: TenantHandle, tenant_b: TenantHandle) -> None:
    endpoint_id, _ = await out.endpoint(tenant_a.id, "https://93.184.215.14/hooks", ["*"])
    off, _ = await out.endpoint(tenant_a.id, "https://93.184.215.14/off", ["*"], enabled=False)
    assert code_of(await tenant_b.gql(SEND, {"id": str(endpoint_id)})) == "NOT_FOUND"
    assert code_of(await tenant_a.gql(SEND, {"id": str(off)})) == "CONFLICT"
    assert code_of(await tenant_a.gql(SEND, {"id": "nope"})) == "BAD_USER_INPUT"
    reader = await tenant_a.key_with("catalog:read")
    assert code_of(await tenant_a.gql(SEND, {"id": str(endpoint_id)}, key=reader)) == "FORBIDDEN"
    assert await out.rows("select 1 from outbound_messages", tenant_id=tenant_a.id) == []
    assert await sent(tenant_a) == [] and await sent(tenant_b) == []
