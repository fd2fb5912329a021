"""The trusted-document store: each function sees and changes one tenant's documents only."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from domain import documents
from domain.errors import Conflict
from tables import documents as document_tables

BODY = "query A { tenant { slug } }"
OTHER = "query B { tenant { name } }"


def stored(hash: str, body: str) -> document_tables.Stored:
    return document_tables.Stored(hash, body, ())


async def test_each_tenant_sees_and_counts_only_its_own_documents(tenant_a: Any, tenant_b: Any) -> None:
    hash = documents.sha256(BODY)
    await document_tables.push([stored(hash, BODY)], tenant_id=tenant_a.id)
    now = datetime.now(UTC)

    await document_tables.record([document_tables.Use(hash, 5, now, now)], tenant_id=tenant_b.id)

    assert await document_tables.body(hash, tenant_id=tenant_b.id) is None
    assert await document_tables.list_all(tenant_id=tenant_b.id) == []
    (mine,) = await document_tables.list_all(tenant_id=tenant_a.id)
    assert (mine.count, mine.last_seen, mine.source) == (0, None, "pushed")


async def test_the_same_id_may_name_other_documents_in_other_tenants(tenant_a: Any, tenant_b: Any) -> None:
    await document_tables.push([stored("id-1", BODY)], tenant_id=tenant_a.id)
    await document_tables.push([stored("id-1", OTHER)], tenant_id=tenant_b.id)

    assert await document_tables.body("id-1", tenant_id=tenant_a.id) == BODY
    assert await document_tables.body("id-1", tenant_id=tenant_b.id) == OTHER


async def test_an_id_taken_by_another_body_refuses_the_whole_push(tenant_a: Any) -> None:
    await document_tables.push([stored("id-1", BODY)], tenant_id=tenant_a.id)

    with pytest.raises(Conflict, match="id-1"):
        await document_tables.push([stored("id-2", OTHER), stored("id-1", OTHER)], tenant_id=tenant_a.id)

    assert [d.hash for d in await document_tables.list_all(tenant_id=tenant_a.id)] == ["id-1"]


async def test_uses_add_up_and_a_learned_document_pushed_becomes_pushed(tenant_a: Any) -> None:
    hash = documents.sha256(BODY)
    earlier, later = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)
    learned = document_tables.Use(hash, 2, earlier, earlier, BODY, ("A",))

    await document_tables.record([learned], tenant_id=tenant_a.id)
    await document_tables.record([learned], tenant_id=tenant_a.id)
    await document_tables.record([document_tables.Use(hash, 1, later, later)], tenant_id=tenant_a.id)
    await document_tables.push([stored(hash, BODY)], tenant_id=tenant_a.id)

    (document,) = await document_tables.list_all(tenant_id=tenant_a.id)
    assert (document.count, document.first_seen, document.last_seen) == (5, earlier, later)
    assert (document.source, document.operation_names, document.sha256) == ("pushed", ("A",), hash)


async def test_the_mode_lives_in_the_tenants_settings(tenant_a: Any, tenant_b: Any) -> None:
    previous = await document_tables.set_mode("enforce", tenant_id=tenant_a.id)

    assert previous == "off"
    assert await document_tables.set_mode("learn", tenant_id=tenant_a.id) == "enforce"
    assert await document_tables.set_mode("off", tenant_id=tenant_b.id) == "off"
