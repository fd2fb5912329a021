"""Operator commands leave audit records too, as real subprocesses: the actor is `cli:<OS user>`
with one request id per command; the platform's record of a tenant's deletion outlives it."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any
from uuid import UUID

from domain import audit
from server import cli_audit
from tables import audit as trail
from tables import tenants
from tables import webhooks as webhook_tables
from tests import webhooks as hooks
from tests.conftest import TenantHandle
from tests.processes import cli


async def run(env: dict[str, str], *args: str) -> str:
    done = await cli(env, *args)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


async def records(tenant_id: UUID | None, **where: Any) -> list[audit.Entry]:
    return await trail.entries(tenant_id=tenant_id, where=audit.Filter(**where), before_id=None, limit=100)


def operator() -> str:
    return cli_audit.operator().subject


async def test_tenant_and_key_commands_are_recorded_with_the_operator(
    server_env: dict[str, str], app_pool: None
) -> None:
    slug = f"c-{uuid.uuid4().hex[:10]}"
    await run(server_env, "tenant", "create", slug, "--name", "Cli", "--modules", "catalog")
    await run(server_env, "tenant", "set-modules", slug, "catalog,customers")
    token = (await run(server_env, "apikey", "create", "--tenant", slug, "--scopes", "admin")).strip()
    await run(server_env, "apikey", "revoke", token.split("_")[1])
    platform = (await run(server_env, "apikey", "create", "--platform", "--scopes", "platform")).strip()
    tenant = await tenants.get_by_slug(slug)

    about_tenant = await records(None, target_id=str(tenant.id))
    keys = await records(tenant.id, target_id=token.split("_")[1])
    [platform_key] = await records(None, target_id=platform.split("_")[1])

    assert [e.action for e in about_tenant] == ["tenant.modules_changed", "tenant.created"]
    assert about_tenant[1].after == {"slug": slug, "name": "Cli", "modules": ["catalog"], "extensions": []}
    assert about_tenant[0].after is not None and about_tenant[0].after["modules"] == ["catalog", "customers"]
    assert [e.action for e in keys] == ["api_key.revoked", "api_key.created"]
    assert platform_key.action == "api_key.created" and platform_key.tenant_id is None
    everything = [*about_tenant, *keys, platform_key]
    assert {e.actor.subject for e in everything} == {operator()}
    assert all(e.actor.request_id and e.actor.request_id.startswith("cli-") for e in everything)
    assert len({e.actor.request_id for e in everything}) == 5, "one request id per command"
    text = json.dumps([[e.before, e.after] for e in everything])
    assert token.split("_", 2)[2] not in text and platform.split("_", 2)[2] not in text


async def test_webhook_commands_are_recorded_without_their_secrets(
    tenant_a: TenantHandle, server_env: dict[str, str]
) -> None:
    created = await run(server_env, "webhook", "create", tenant_a.slug, "purchase-flow", "--verify-token")
    rotated = await run(server_env, "webhook", "rotate", tenant_a.slug, "purchase-flow")
    stored = await hooks.store(tenant_id=tenant_a.id, flow="purchase-flow", delivery_id="cli-dead",
                               payload={"version": 1}, correlation_id="c")
    await webhook_tables.mark_failed(stored.id, "boom", tenant_id=tenant_a.id, dead=True)
    await run(server_env, "deliveries", "replay", tenant_a.slug, "--id", str(stored.id))

    found = await records(tenant_a.id, actor=operator())

    assert [(e.action, e.target_id) for e in found] == [
        ("webhook_delivery.replayed", str(stored.id)),
        ("webhook_endpoint.secret_rotated", "purchase-flow"),
        ("webhook_endpoint.created", "purchase-flow"),
    ]
    printed = [line.split(": ", 1)[1] for line in (created + rotated).splitlines()
               if line.startswith(("secret:", "previous secret:", "verify token:"))]
    text = json.dumps([[e.before, e.after] for e in found])
    assert len(printed) >= 4 and not any(value in text for value in printed)


async def test_export_import_and_delete_are_in_the_platforms_trail_which_outlives_the_tenant(
    tenant_a: TenantHandle, server_env: dict[str, str], tmp_path: Path
) -> None:
    copy = f"x-{uuid.uuid4().hex[:10]}"
    archive = tmp_path / "a.tar"
    await run(server_env, "tenant", "export", tenant_a.slug, "--out", str(archive))
    await run(server_env, "tenant", "import", str(archive), "--as", copy)
    copy_id = (await tenants.get_by_slug(copy)).id
    await run(server_env, "tenant", "delete", copy, "--confirm", copy)

    [exported] = await records(None, target_id=str(tenant_a.id), action="tenant.exported")
    about_copy = await records(None, target_id=str(copy_id))

    assert exported.after is not None and exported.after["slug"] == tenant_a.slug
    assert exported.after["rows"]["api_keys"] == 1
    assert [e.action for e in about_copy] == ["tenant.deleted", "tenant.imported"]
    deleted, imported = about_copy
    assert imported.after is not None and imported.after["from_slug"] == tenant_a.slug
    assert deleted.before is not None and deleted.before["slug"] == copy
    assert deleted.after is not None and deleted.after["rows"]["tenants"] == 1
    assert {e.actor.subject for e in (exported, *about_copy)} == {operator()}
    assert copy not in {t.slug for t in await tenants.list_all()}
    assert await records(copy_id) == [], "the tenant's own trail went with it"


async def test_refused_commands_leave_no_record(
    tenant_a: TenantHandle, server_env: dict[str, str]
) -> None:
    await hooks.endpoint(tenant_a, "purchase-flow")
    before = await records(None, target_id=str(tenant_a.id))

    refused = [
        await cli(server_env, "tenant", "delete", tenant_a.slug, "--confirm", tenant_a.slug),
        await cli(server_env, "apikey", "revoke", "000000000000"),
        await cli(server_env, "tenant", "set-modules", tenant_a.slug, "orders"),
    ]

    assert [done.returncode for done in refused] == [1, 1, 1], [d.stderr for d in refused]
    assert await records(None, target_id=str(tenant_a.id)) == before
    assert await records(None, actor=operator(), target_id="000000000000") == []
    assert await records(tenant_a.id, actor=operator()) == []


async def test_audit_list_prints_one_json_record_a_line(
    tenant_a: TenantHandle, server_env: dict[str, str]
) -> None:
    await run(server_env, "apikey", "create", "--tenant", tenant_a.slug, "--scopes", "catalog:read")

    lines = (await run(server_env, "audit", "list", "--tenant", tenant_a.slug, "--action", "api_key",
                       "--actor", operator())).splitlines()

    [line] = [json.loads(text) for text in lines]
    assert (line["action"], line["actor"], line["tenant_id"]) == (
        "api_key.created", operator(), str(tenant_a.id))
    assert line["after"]["scopes"] == ["catalog:read"]
