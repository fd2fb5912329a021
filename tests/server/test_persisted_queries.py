"""Trusted documents over HTTP: Apollo's automatic persisted queries (POST and GET), each
tenant's mode (off, learn, enforce), the platform bypass, and one tenant's documents never
serving another."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import asyncpg
import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from domain import documents
from domain.config import Settings
from schema.build import build_schema
from schema.documents import checker
from server.app import create_app
from server.persisted import Documents
from services import documents as document_services
from tables import documents as document_tables
from tables import tenants
from tests.conftest import TenantHandle

TENANT = "query Tenant { tenant { slug } }"
SLUG = "query Slug { tenant { slug modules } }"
SET_MODE = """mutation Mode($mode: TrustedDocumentsMode!) {
  setTrustedDocumentsMode(mode: $mode) { mode errors { message } }
}"""
LISTED = "{ trustedDocuments { hash sha256 source count operationNames firstSeen lastSeen } }"
INVALID = "{ invalidTrustedDocuments { hash operationNames error } }"
CUSTOMERS = "query Customers { customers(first: 1) { edges { node { id } } } }"


@dataclasses.dataclass
class Api:
    """An app (one API process) and the trusted documents it holds in memory."""

    client: httpx.AsyncClient
    documents: Documents


@pytest.fixture
async def open_api(app_pool: None) -> AsyncIterator[Any]:
    opened: list[httpx.AsyncClient] = []

    def make(settings: Settings) -> Api:
        app = create_app(settings)
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://tg.test")
        opened.append(client)
        return Api(client, _documents_of(app))

    yield make
    for client in opened:
        await client.aclose()


@pytest.fixture
async def api(open_api: Any, settings: Settings) -> Api:
    return open_api(settings)


def _documents_of(app: Starlette) -> Documents:
    route = next(r for r in app.routes if isinstance(r, Route) and r.path == "/graphql")
    found = route.endpoint.__self__.persisted  # type: ignore[attr-defined]
    assert isinstance(found, Documents)
    return found


def apq(hash: str, query: str | None = None, **more: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": hash}}, **more}
    if query is not None:
        body["query"] = query
    return body


async def post(api: Api, tenant: TenantHandle, body: dict[str, Any], *, key: str | None = None,
               headers: dict[str, str] | None = None) -> httpx.Response:
    return await api.client.post(
        "/graphql", json=body,
        headers={"authorization": f"Bearer {key or tenant.key}", **(headers or {})},
    )


async def get(api: Api, tenant: TenantHandle, hash: str, **params: Any) -> httpx.Response:
    query = {"extensions": json.dumps({"persistedQuery": {"version": 1, "sha256Hash": hash}})}
    query.update({k: json.dumps(v) if isinstance(v, dict) else v for k, v in params.items()})
    return await api.client.get(
        "/graphql", params=query,
        headers={"authorization": f"Bearer {tenant.key}", "accept": "application/json"},
    )


async def set_mode(api: Api, tenant: TenantHandle, mode: str) -> None:
    answer = await post(api, tenant, {"query": SET_MODE, "variables": {"mode": mode.upper()}})
    assert answer.json()["data"]["setTrustedDocumentsMode"] == {"mode": mode.upper(), "errors": []}


async def push(tenant: TenantHandle, settings: Settings, *bodies: str) -> None:
    fresh = await tenants.get(tenant.id)
    schema = build_schema(fresh.modules, fresh.extensions, settings).schema._schema
    entries = [documents.Entry(documents.sha256(b), b) for b in bodies]
    await document_services.push(entries, checker(schema, settings), tenant_id=tenant.id)


def code(response: httpx.Response) -> str:
    return str(response.json()["errors"][0]["extensions"]["code"])


async def test_an_unknown_hash_alone_is_persisted_query_not_found(api: Api, tenant_a: Any) -> None:
    answer = await post(api, tenant_a, apq(documents.sha256(TENANT)))

    assert answer.status_code == 404
    (error,) = answer.json()["errors"]
    assert error["message"] == "PersistedQueryNotFound"
    assert error["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"


async def test_a_hash_with_its_query_registers_it_for_every_process(
    api: Api, open_api: Any, settings: Settings, tenant_a: Any
) -> None:
    hash = documents.sha256(TENANT)

    registered = await post(api, tenant_a, apq(hash, TENANT))
    by_hash = await post(api, tenant_a, apq(hash))
    await api.documents.flush()
    elsewhere = await post(open_api(settings), tenant_a, apq(hash))

    expected = {"data": {"tenant": {"slug": tenant_a.slug}}}
    assert (registered.status_code, registered.json()) == (200, expected)
    assert (by_hash.status_code, by_hash.json()) == (200, expected)
    assert (elsewhere.status_code, elsewhere.json()) == (200, expected)
    (stored,) = await document_tables.list_all(tenant_id=tenant_a.id)
    assert (stored.hash, stored.sha256, stored.source, stored.count) == (hash, hash, "learned", 2)
    assert stored.operation_names == ("Tenant",)


async def test_a_hash_that_is_not_the_querys_is_refused_and_stores_nothing(
    api: Api, tenant_a: Any
) -> None:
    answer = await post(api, tenant_a, apq(documents.sha256(SLUG), TENANT))
    await api.documents.flush()

    assert answer.status_code == 400
    assert code(answer) == "PERSISTED_QUERY_HASH_MISMATCH"
    assert answer.json().get("data") is None
    assert await document_tables.list_all(tenant_id=tenant_a.id) == []


async def test_a_get_with_the_hash_runs_the_stored_query_with_cdn_headers(
    open_api: Any, settings: Settings, tenant_a: Any
) -> None:
    api = open_api(dataclasses.replace(settings, persisted_query_max_age=30))
    query = "query Named($n: Int) { products(first: $n) { edges { node { id } } } }"
    hash = documents.sha256(query)
    await post(api, tenant_a, apq(hash, query))

    answer = await get(api, tenant_a, hash, variables={"n": 1}, operationName="Named")
    unknown = await get(api, tenant_a, documents.sha256(SLUG))

    assert (answer.status_code, answer.json()) == (200, {"data": {"products": {"edges": []}}})
    assert answer.headers["cache-control"] == "public, max-age=30"
    assert {"Authorization", "X-Tenant-ID"} <= {v.strip() for v in answer.headers["vary"].split(",")}
    assert unknown.status_code == 404
    assert unknown.headers["cache-control"] == "no-store"


async def test_a_get_is_not_cacheable_unless_a_max_age_is_set(api: Api, tenant_a: Any) -> None:
    hash = documents.sha256(TENANT)
    await post(api, tenant_a, apq(hash, TENANT))

    answer = await get(api, tenant_a, hash)

    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store"


async def test_a_stored_mutation_is_refused_over_get(api: Api, tenant_a: Any) -> None:
    mutation = "mutation Off { setTrustedDocumentsMode(mode: OFF) { mode } }"
    hash = documents.sha256(mutation)
    await post(api, tenant_a, apq(hash, mutation))

    answer = await get(api, tenant_a, hash)

    assert answer.status_code == 405
    assert code(answer) == "METHOD_NOT_ALLOWED"


async def test_off_runs_anything_and_records_nothing(api: Api, tenant_a: Any) -> None:
    answer = await post(api, tenant_a, {"query": TENANT})
    await api.documents.flush()

    assert answer.status_code == 200
    assert await document_tables.list_all(tenant_id=tenant_a.id) == []


async def test_learn_records_each_document_with_its_count_and_times(api: Api, tenant_a: Any) -> None:
    await set_mode(api, tenant_a, "learn")
    for _ in range(3):
        assert (await post(api, tenant_a, {"query": TENANT})).status_code == 200
    await api.documents.flush()
    await post(api, tenant_a, {"query": TENANT})
    await api.documents.flush()

    listed = (await post(api, tenant_a, {"query": LISTED})).json()["data"]["trustedDocuments"]
    (learned,) = [d for d in listed if d["operationNames"] == ["Tenant"]]
    assert learned["hash"] == learned["sha256"] == documents.sha256(TENANT)
    assert (learned["source"], learned["count"]) == ("learned", 4)
    assert datetime.fromisoformat(learned["firstSeen"]) < datetime.fromisoformat(learned["lastSeen"])


async def test_enforce_refuses_unknown_text_before_parsing_it_and_runs_nothing(
    api: Api, tenant_a: Any
) -> None:
    await set_mode(api, tenant_a, "enforce")

    unparsable = await post(api, tenant_a, {"query": "{ not graphql"})
    mutation = await post(api, tenant_a, {"query": SET_MODE, "variables": {"mode": "OFF"}})

    for answer in (unparsable, mutation):
        assert answer.status_code == 403
        assert code(answer) == "PERSISTED_QUERY_NOT_ALLOWED"
        assert answer.json().get("data") is None
    assert documents.mode_of(await tenants.get(tenant_a.id)) == "enforce"


async def test_enforce_runs_stored_documents_by_hash_and_by_text(
    api: Api, settings: Settings, tenant_a: Any
) -> None:
    await push(tenant_a, settings, TENANT)
    await set_mode(api, tenant_a, "enforce")

    by_hash = await post(api, tenant_a, apq(documents.sha256(TENANT)))
    by_text = await post(api, tenant_a, {"query": TENANT})
    registering = await post(api, tenant_a, apq(documents.sha256(SLUG), SLUG))
    await api.documents.flush()

    assert by_hash.status_code == by_text.status_code == 200
    assert registering.status_code == 403
    assert code(registering) == "PERSISTED_QUERY_NOT_ALLOWED"
    assert [d.hash for d in await document_tables.list_all(tenant_id=tenant_a.id)] == [
        documents.sha256(TENANT)
    ]


async def test_platform_keys_bypass_enforce_unless_configured_not_to(
    api: Api, open_api: Any, settings: Settings, tenant_a: Any, platform_key: str
) -> None:
    await set_mode(api, tenant_a, "enforce")
    as_platform = {"x-tenant-id": tenant_a.slug}
    strict = open_api(dataclasses.replace(settings, trusted_documents_bypass_platform=False))

    bypassed = await post(api, tenant_a, {"query": TENANT}, key=platform_key, headers=as_platform)
    refused = await post(strict, tenant_a, {"query": TENANT}, key=platform_key, headers=as_platform)
    admin = await post(api, tenant_a, {"query": TENANT})

    assert bypassed.status_code == 200
    assert refused.status_code == 403
    assert admin.status_code == 403


async def test_admin_keys_bypass_enforce_when_configured(
    open_api: Any, settings: Settings, tenant_a: Any
) -> None:
    api = open_api(dataclasses.replace(settings, trusted_documents_bypass_admin=True))
    await set_mode(api, tenant_a, "enforce")
    reader = await tenant_a.key_with("catalog:read")

    admin = await post(api, tenant_a, {"query": TENANT})
    other = await post(api, tenant_a, {"query": TENANT}, key=reader)

    assert admin.status_code == 200
    assert other.status_code == 403


async def test_one_tenants_documents_are_not_trusted_for_another_nor_shown_to_it(
    api: Api, settings: Settings, tenant_a: Any, tenant_b: Any
) -> None:
    await push(tenant_a, settings, TENANT)
    await set_mode(api, tenant_b, "enforce")
    assert (await post(api, tenant_a, apq(documents.sha256(TENANT)))).status_code == 200

    by_hash = await post(api, tenant_b, apq(documents.sha256(TENANT)))
    by_text = await post(api, tenant_b, {"query": TENANT})
    await document_services.set_mode("off", tenant_id=tenant_b.id)
    seen_by_b = (await post(api, tenant_b, {"query": LISTED})).json()["data"]["trustedDocuments"]
    seen_by_a = (await post(api, tenant_a, {"query": LISTED})).json()["data"]["trustedDocuments"]

    assert (by_hash.status_code, code(by_hash)) == (404, "PERSISTED_QUERY_NOT_FOUND")
    assert (by_text.status_code, code(by_text)) == (403, "PERSISTED_QUERY_NOT_ALLOWED")
    assert seen_by_b == []
    assert [d["hash"] for d in seen_by_a] == [documents.sha256(TENANT)]


async def test_a_module_change_lists_the_documents_it_invalidates_and_they_fail_cleanly(
    api: Api, settings: Settings, make_tenant: Any
) -> None:
    tenant = await make_tenant(("catalog", "customers"))
    await push(tenant, settings, TENANT, CUSTOMERS)
    assert (await post(api, tenant, {"query": INVALID})).json()["data"] == {"invalidTrustedDocuments": []}

    await tenants.set_modules(tenant_id=tenant.id, modules=["catalog"])
    invalid = (await post(api, tenant, {"query": INVALID})).json()["data"]["invalidTrustedDocuments"]
    await set_mode(api, tenant, "enforce")
    run = await post(api, tenant, apq(documents.sha256(CUSTOMERS)))

    assert [(d["hash"], d["operationNames"]) for d in invalid] == [
        (documents.sha256(CUSTOMERS), ["Customers"])
    ]
    assert "customers" in invalid[0]["error"]
    assert run.status_code == 200  # a request error, to a client that accepts application/json
    assert code(run) == "GRAPHQL_VALIDATION_FAILED"


async def test_the_mode_and_the_documents_need_the_admin_scope(api: Api, tenant_a: Any) -> None:
    reader = await tenant_a.key_with("catalog:read")

    listed = await post(api, tenant_a, {"query": LISTED}, key=reader)
    changed = await post(api, tenant_a, {"query": SET_MODE, "variables": {"mode": "OFF"}}, key=reader)

    assert code(listed) == code(changed) == "FORBIDDEN"


async def test_a_remembered_document_is_served_without_the_database(
    api: Api, settings: Settings, tenant_a: Any, owner_dsn: str
) -> None:
    hash = documents.sha256(TENANT)
    await push(tenant_a, settings, TENANT)
    assert (await post(api, tenant_a, apq(hash))).status_code == 200
    owner = await asyncpg.connect(owner_dsn)
    try:
        async with owner.transaction():
            await owner.execute("select set_config('app.tenant_id', $1, true)", str(tenant_a.id))
            deleted = await owner.execute("delete from trusted_documents where tenant_id = $1", tenant_a.id)
        assert deleted == "DELETE 1"
    finally:
        await owner.close()

    again = await post(api, tenant_a, apq(hash))

    assert (again.status_code, again.json()) == (200, {"data": {"tenant": {"slug": tenant_a.slug}}})
