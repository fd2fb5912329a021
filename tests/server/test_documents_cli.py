"""`tenantgraph documents` as a real process: the three manifest formats pushed, a broken
manifest refused whole, the mode set, and documents a module change invalidates reported."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from domain import documents
from tables import documents as document_tables
from tables import tenants
from tests.processes import cli

TENANT = "query Tenant { tenant { slug } }"
CUSTOMERS = "query Customers { customers(first: 1) { edges { node { id } } } }"
MD5 = hashlib.md5(TENANT.encode()).hexdigest()
SHA = documents.sha256(TENANT)
FORMATS = {
    "apollo": ({"format": "apollo-persisted-query-manifest", "version": 1, "operations": [
        {"id": SHA, "name": "Tenant", "type": "query", "body": TENANT}
    ]}, [SHA]),
    "codegen": ({f"{SHA}": TENANT}, [SHA]),
    "relay-md5": ({MD5: TENANT}, sorted([MD5, SHA])),
}


def manifest(tmp_path: Path, content: Any) -> str:
    path = tmp_path / "manifest.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return str(path)


@pytest.mark.parametrize("format", FORMATS)
async def test_push_stores_each_format_under_its_ids_and_the_documents_run_by_them(
    format: str, tenant_a: Any, server_env: dict[str, str], tmp_path: Path
) -> None:
    content, ids = FORMATS[format]

    done = await cli(server_env, "documents", "push", "--tenant", tenant_a.slug, manifest(tmp_path, content))

    assert done.returncode == 0, done.stderr
    stored = await document_tables.list_all(tenant_id=tenant_a.id)
    assert [d.hash for d in stored] == ids
    assert all(d.source == "pushed" and d.operation_names == ("Tenant",) for d in stored)
    for id in ids:
        answer = await tenant_a.client.post("/graphql", json={
            "extensions": {"persistedQuery": {"version": 1, "sha256Hash": id}}
        }, headers={"authorization": f"Bearer {tenant_a.key}"})
        assert answer.json() == {"data": {"tenant": {"slug": tenant_a.slug}}}
    listed = await cli(server_env, "documents", "list", "--tenant", tenant_a.slug)
    assert [line.split("\t")[0] for line in listed.stdout.splitlines()] == ids


@pytest.mark.parametrize("content", [
    {"format": "apollo-persisted-query-manifest", "version": 1, "operations": [
        {"id": "good", "body": TENANT},
        {"id": "unknown-field", "body": "query X { tenant { nope } }"},
        {"id": "syntax", "body": "query {"},
    ]},
    '{"truncated": ',
])
async def test_a_broken_manifest_writes_nothing_and_says_which_failed(
    content: Any, tenant_a: Any, server_env: dict[str, str], tmp_path: Path
) -> None:
    done = await cli(server_env, "documents", "push", "--tenant", tenant_a.slug, manifest(tmp_path, content))

    assert done.returncode == 1
    if isinstance(content, dict):
        assert "unknown-field: Cannot query field" in done.stderr
        assert "syntax: Syntax Error" in done.stderr
        assert "good" not in done.stderr
    else:
        assert "is not JSON" in done.stderr
    assert await document_tables.list_all(tenant_id=tenant_a.id) == []


async def test_mode_prints_and_sets_the_tenants_mode(tenant_a: Any, server_env: dict[str, str]) -> None:
    before = await cli(server_env, "documents", "mode", "--tenant", tenant_a.slug)
    changed = await cli(server_env, "documents", "mode", "--tenant", tenant_a.slug, "learn")

    assert before.stdout.strip() == f"{tenant_a.slug}: off"
    assert changed.stdout.strip() == f"{tenant_a.slug}: learn (was off)"
    assert documents.mode_of(await tenants.get(tenant_a.id)) == "learn"


async def test_set_modules_and_check_report_the_documents_that_no_longer_validate(
    make_tenant: Any, server_env: dict[str, str], tmp_path: Path
) -> None:
    tenant = await make_tenant(("catalog", "customers"))
    both = {documents.sha256(TENANT): TENANT, documents.sha256(CUSTOMERS): CUSTOMERS}
    pushed = await cli(server_env, "documents", "push", "--tenant", tenant.slug, manifest(tmp_path, both))
    assert pushed.returncode == 0, pushed.stderr

    changed = await cli(server_env, "tenant", "set-modules", tenant.slug, "catalog")
    checked = await cli(server_env, "documents", "check", "--tenant", tenant.slug)

    line = f"invalid document {documents.sha256(CUSTOMERS)} (Customers): Cannot query field"
    assert changed.returncode == 0, changed.stderr
    assert line in changed.stdout
    assert checked.returncode == 1
    assert line in checked.stdout
    assert documents.sha256(TENANT) not in checked.stdout
