"""`tenantgraph tenant export|import|delete` as real subprocesses: exit codes and messages."""

from __future__ import annotations

import io
import tarfile
import uuid
from pathlib import Path
from typing import Any

import pytest

from domain.config import Settings
from tables import tenants
from tables import webhooks as webhook_tables
from tests import tenant_data
from tests.conftest import TenantHandle
from tests.processes import cli


@pytest.fixture
async def full(make_tenant: Any) -> TenantHandle:
    handle: TenantHandle = await make_tenant(modules=tenant_data.ALL_MODULES)
    await tenant_data.fill(handle.tenant)
    return handle


async def run(env: dict[str, str], *args: str) -> tuple[int, str]:
    done = await cli(env, "tenant", *args)
    return done.returncode, done.stdout + done.stderr


async def test_export_import_as_and_delete_succeed_and_say_what_they_did(
    full: TenantHandle, server_env: dict[str, str], tmp_path: Path
) -> None:
    copy = f"x-{uuid.uuid4().hex[:10]}"
    archive = tmp_path / "shop.tar"

    exported = await run(server_env, "export", full.slug, "--out", str(archive))
    imported = await run(server_env, "import", str(archive), "--as", copy)
    deleted = await run(server_env, "delete", copy, "--confirm", copy, "--force")

    assert exported[0] == 0 and f"exported {full.slug}" in exported[1], exported
    assert imported[0] == 0 and f"imported {copy}" in imported[1], imported
    assert "fresh ids, no API keys" in imported[1]
    assert deleted[0] == 0 and f"deleted {copy}" in deleted[1], deleted
    assert copy not in {t.slug for t in await tenants.list_all()}


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["export", "no-such-shop", "--out", "/tmp/never.tar"], "tenant 'no-such-shop' not found"),
        (["delete", "no-such-shop", "--confirm", "other"], "--confirm must repeat the slug"),
        (["import", "/nonexistent/shop.tar"], "is not a readable tar archive"),
    ],
)
async def test_bad_requests_exit_1_and_say_why(
    server_env: dict[str, str], args: list[str], says: str
) -> None:
    code, output = await run(server_env, *args)

    assert code == 1 and says in output, output
    assert "Traceback" not in output


async def test_an_export_to_a_missing_directory_says_so_and_leaves_nothing(
    tenant_a: TenantHandle, server_env: dict[str, str]
) -> None:
    code, output = await run(server_env, "export", tenant_a.slug, "--out", "/nonexistent/d/a.tar")

    assert code == 1 and "No such file or directory" in output and "Traceback" not in output


async def test_a_corrupt_archive_and_a_taken_slug_are_refused(
    full: TenantHandle, server_env: dict[str, str], tmp_path: Path
) -> None:
    await run(server_env, "export", full.slug, "--out", str(tmp_path / "a.tar"))
    with tarfile.open(tmp_path / "a.tar") as old, tarfile.open(tmp_path / "bad.tar", "w:") as new:
        for info in old.getmembers():
            data = old.extractfile(info).read()  # type: ignore[union-attr]
            if info.name.endswith("orders.csv"):
                data = data.replace(b"pending", b"paid\x00\x00")
            info.size = len(data)
            new.addfile(info, io.BytesIO(data))

    corrupt = await run(server_env, "import", str(tmp_path / "bad.tar"), "--as", "x-corrupt")
    taken = await run(server_env, "import", str(tmp_path / "a.tar"))

    assert corrupt[0] == 1 and "checksum mismatch in tables/orders.csv" in corrupt[1], corrupt
    assert taken[0] == 1 and f"tenant {full.slug!r} already exists" in taken[1], taken


async def test_delete_is_refused_with_enabled_webhooks_and_forced_drops_unapplied_deliveries(
    full: TenantHandle, server_env: dict[str, str], settings: Settings
) -> None:
    open_ids = [d.id for d in await webhook_tables.list_deliveries(tenant_id=full.id)]

    refused = await run(server_env, "delete", full.slug, "--confirm", full.slug)
    still = await webhook_tables.list_endpoints(tenant_id=full.id)
    forced = await run(server_env, "delete", full.slug, "--confirm", full.slug, "--force")

    assert refused[0] == 1 and "enabled webhook endpoints (purchase-flow)" in refused[1], refused
    assert [e.enabled for e in still] == [True], "a refused delete changes nothing"
    assert forced[0] == 0 and f"{len(open_ids)} unapplied deliveries dropped" in forced[1], forced
    assert await webhook_tables.list_deliveries(tenant_id=full.id) == []
