"""Trusted documents over graphql-transport-ws, against a real `serve` process: a stored
document runs by its hash, and under `enforce` anything else is refused while the connection
stays."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from domain import documents
from services import documents as document_services
from tables import documents as document_tables
from tests import live
from tests.conftest import TenantHandle

TENANT = "query Tenant { tenant { slug } }"
OTHER = "query Other { tenant { name } }"


@pytest.fixture(scope="module")
async def stack(server_env: dict[str, str], tmp_path_factory: Any) -> AsyncIterator[live.Stack]:
    async with live.stack(server_env, tmp_path_factory.mktemp("ws-persisted"), workers=0) as made:
        yield made


def by_hash(op_id: str, hash: str) -> dict[str, Any]:
    persisted = {"version": 1, "sha256Hash": hash}
    return {"type": "subscribe", "id": op_id, "payload": {"extensions": {"persistedQuery": persisted}}}


async def test_a_stored_document_runs_by_hash_and_enforce_refuses_the_rest(
    stack: live.Stack, tenant_a: TenantHandle
) -> None:
    await document_tables.push(
        [document_tables.Stored(documents.sha256(TENANT), TENANT, ("Tenant",))], tenant_id=tenant_a.id
    )
    await document_services.set_mode("enforce", tenant_id=tenant_a.id)

    async with live.connect(stack.api, tenant=tenant_a.slug, key=tenant_a.key) as socket:
        await socket.send(by_hash("1", documents.sha256(TENANT)))
        [stored] = await socket.results("1", 1)
        await socket.subscribe("2", OTHER)
        refused = await socket.message("2")
        await socket.send(by_hash("3", documents.sha256(OTHER)))
        unknown = await socket.message("3")
        await socket.subscribe("4", TENANT)
        [by_text] = await socket.results("4", 1)

    assert stored == by_text == {"data": {"tenant": {"slug": tenant_a.slug}}}
    assert refused["type"] == unknown["type"] == "error"
    assert refused["payload"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_ALLOWED"
    assert unknown["payload"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
