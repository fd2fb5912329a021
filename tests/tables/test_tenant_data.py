"""Tenant export, import and deletion: every tenant table from the catalog, a tenant with rows
in each, round trips equal by counts and checksums, deletion complete and contained."""

from __future__ import annotations

import asyncio
import json
import stat
import tarfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from domain.errors import Conflict, Invalid
from tables import webhooks as webhook_tables
from tables.tenant_data import archive, deleting, exporting, importing, walk
from tests import tenant_data
from tests.conftest import TenantHandle
from tests.processes import cli

ALL_TABLES = """
select table_name from information_schema.tables
where table_schema = 'public' and table_type = 'BASE TABLE'
"""


@pytest.fixture
async def full(make_tenant: Any) -> TenantHandle:
    handle: TenantHandle = await make_tenant(modules=tenant_data.ALL_MODULES)
    await tenant_data.fill(handle.tenant)
    return handle


def new_slug() -> str:
    return f"x-{uuid.uuid4().hex[:10]}"


async def test_every_table_is_walked_or_known_to_hold_no_tenant_data(
    owner: asyncpg.Connection,
) -> None:
    walked = {t.name for t in await walk.tenant_tables(owner)}
    every = {row["table_name"] for row in await owner.fetch(ALL_TABLES)}

    assert walked | walk.GLOBAL_TABLES == every
    assert {"tenants", "events", "orders", "shipment_lines", "webhook_inbox"} <= walked


async def test_a_new_table_without_tenant_id_is_an_error_not_skipped(
    owner: asyncpg.Connection,
) -> None:
    transaction = owner.transaction()
    await transaction.start()
    try:
        await owner.execute("create table order_notes (id uuid primary key, "
                            "order_id uuid references orders (id))")
        with pytest.raises(Invalid, match="order_notes"):
            await walk.tenant_tables(owner)
    finally:
        await transaction.rollback()


async def test_the_seeded_tenant_has_rows_in_every_tenant_table(
    full: TenantHandle, owner: asyncpg.Connection
) -> None:
    counts = await tenant_data.counts(owner, full.id)

    assert [name for name, rows in counts.items() if rows == 0] == []


async def test_a_copy_under_a_new_slug_equals_the_original_after_mapping_its_fresh_ids(
    full: TenantHandle, owner: asyncpg.Connection, tmp_path: Path
) -> None:
    exported = await exporting.export(owner, slug=full.slug, out=tmp_path / "a.tar")
    copy = new_slug()

    done = await importing.load(owner, tmp_path / "a.tar", as_slug=copy, id_map=tmp_path / "ids.csv")
    await exporting.export(owner, slug=copy, out=tmp_path / "b.tar")

    ids = tenant_data.id_map(tmp_path / "ids.csv")
    no_keys = importing.CREDENTIALS
    assert done.fresh_ids and done.tenant_id != full.id
    assert tenant_data.contents(tmp_path / "b.tar", ids, slug=full.slug, skip=no_keys) == (
        tenant_data.contents(tmp_path / "a.tar", skip=no_keys))
    copied = await tenant_data.counts(owner, done.tenant_id)
    assert copied == {t.name: 0 if t.name in no_keys else t.rows for t in exported.tables}
    assert not set(ids) & set(ids.values()), "every id of the copy is new"
    old_ids = tenant_data.uuids(tmp_path / "a.tar", skip=no_keys)
    assert str(full.id) in old_ids
    assert not tenant_data.uuids(tmp_path / "b.tar", skip=no_keys) & old_ids, (
        "no reference to the original is left, in JSON payloads neither")


async def test_an_import_into_a_fresh_database_keeps_the_ids_and_every_row(
    full: TenantHandle, owner: asyncpg.Connection, second_dsn: str, tmp_path: Path
) -> None:
    await exporting.export(owner, slug=full.slug, out=tmp_path / "a.tar")
    target = await asyncpg.connect(second_dsn)
    try:
        done = await importing.load(target, tmp_path / "a.tar")
        await exporting.export(target, slug=full.slug, out=tmp_path / "b.tar")
        with pytest.raises(Conflict, match="already exists"):
            await importing.load(target, tmp_path / "a.tar")
    finally:
        await target.close()

    assert done.tenant_id == full.id and not done.fresh_ids
    assert tenant_data.contents(tmp_path / "b.tar") == tenant_data.contents(tmp_path / "a.tar")


@pytest.fixture
async def second_dsn(owner_dsn: str, server_env: dict[str, str]) -> AsyncIterator[str]:
    """Another database of the same server, migrated (by `tenantgraph migrate`: this process's
    engine is the session's pool), as a tenant's new home."""
    name = f"tenantgraph_move_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(owner_dsn)
    await admin.execute(f'create database "{name}"')
    parts = urlsplit(owner_dsn)
    dsn = urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))
    migrated = await cli({**server_env, "DATABASE_URL": dsn}, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    try:
        yield dsn
    finally:
        await admin.execute(f'drop database if exists "{name}" with (force)')
        await admin.close()


async def test_delete_removes_every_row_of_the_tenant_and_nothing_of_another(
    full: TenantHandle, make_tenant: Any, owner: asyncpg.Connection, tmp_path: Path
) -> None:
    other: TenantHandle = await make_tenant(modules=tenant_data.ALL_MODULES)
    await tenant_data.fill(other.tenant)
    await exporting.export(owner, slug=other.slug, out=tmp_path / "before.tar")
    other_before = await tenant_data.counts(owner, other.id)
    await webhook_tables.set_endpoint("purchase-flow", tenant_id=full.id, enabled=False)

    done = await deleting.delete(owner, slug=full.slug, batch=2)

    assert done.rows["events"] > 2, "several batches"
    assert set((await tenant_data.counts(owner, full.id)).values()) == {0}
    sequence = await owner.fetchval("select to_regclass($1)", f"order_numbers_{full.id.hex}")
    assert sequence is None
    await exporting.export(owner, slug=other.slug, out=tmp_path / "after.tar")
    assert await tenant_data.counts(owner, other.id) == other_before
    assert tenant_data.contents(tmp_path / "after.tar") == tenant_data.contents(tmp_path / "before.tar")


async def test_delete_is_refused_while_a_webhook_endpoint_is_enabled(
    full: TenantHandle, owner: asyncpg.Connection
) -> None:
    before = await tenant_data.counts(owner, full.id)

    with pytest.raises(Conflict, match="purchase-flow"):
        await deleting.delete(owner, slug=full.slug)

    assert await tenant_data.counts(owner, full.id) == before
    forced = await deleting.delete(owner, slug=full.slug, force=True)
    assert forced.rows["webhook_endpoints"] == 1
    assert forced.open_deliveries, "its queued delivery is reported, for its job to be aborted"


def rewrite(source: Path, target: Path, change: Any) -> None:
    """Copy an archive, passing each member's bytes through `change(name, data)`."""
    with tarfile.open(source) as old, tarfile.open(target, "w:") as new:
        for info in old.getmembers():
            file = old.extractfile(info)
            assert file is not None
            archive.add_bytes(new, info.name, change(info.name, file.read()))


def manifest_with(**changes: Any) -> Any:
    def change(name: str, data: bytes) -> bytes:
        if name != archive.MANIFEST:
            return data
        return json.dumps({**json.loads(data), **changes}).encode()
    return change


def one_row_more(name: str, data: bytes) -> bytes:
    if name != archive.MANIFEST:
        return data
    body = json.loads(data)
    for table in body["tables"]:
        table["rows"] += table["name"] == "customers"
    return json.dumps(body).encode()


def tampered(name: str, data: bytes) -> bytes:
    return data.replace(b"ada@example.com", b"eve@example.com") if name.endswith("customers.csv") else data


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (tampered, "checksum mismatch in tables/customers.csv"),
        (manifest_with(version=2), "version 2 is not supported"),
        (manifest_with(format="something"), "not a tenant export"),
        (manifest_with(migration="2020-01-01T00:00:00:000000"), "migrate both"),
        (one_row_more, "customers.csv holds 3 rows, its manifest says 4"),
    ],
)
async def test_a_corrupt_or_foreign_archive_is_refused_with_nothing_written(
    full: TenantHandle, owner: asyncpg.Connection, tmp_path: Path, change: Any, says: str
) -> None:
    await exporting.export(owner, slug=full.slug, out=tmp_path / "a.tar")
    rewrite(tmp_path / "a.tar", tmp_path / "bad.tar", change)
    copy = new_slug()

    with pytest.raises(Invalid, match=says):
        await importing.load(owner, tmp_path / "bad.tar", as_slug=copy)

    assert await owner.fetchval("select count(*) from tenants where slug = $1", copy) == 0


async def test_rows_of_another_tenant_in_an_archive_are_refused_even_with_good_checksums(
    full: TenantHandle, tenant_b: TenantHandle, owner: asyncpg.Connection, tmp_path: Path
) -> None:
    await exporting.export(owner, slug=full.slug, out=tmp_path / "a.tar")
    manifest = archive.Manifest.from_json(
        tarfile.open(tmp_path / "a.tar").extractfile(archive.MANIFEST).read()  # type: ignore[union-attr]
    )
    smuggled: dict[str, Any] = {}

    def change(name: str, data: bytes) -> bytes:
        if name.endswith("customers.csv"):
            data = data.replace(str(full.id).encode(), str(tenant_b.id).encode(), 1)
            smuggled["sha"] = archive_sha(data)
        return data

    rewrite(tmp_path / "a.tar", tmp_path / "b.tar", change)
    tables = [{"name": t.name, "file": t.file, "columns": t.columns, "rows": t.rows,
               "sha256": smuggled["sha"] if t.name == "customers" else t.sha256}
              for t in manifest.tables]
    rewrite(tmp_path / "b.tar", tmp_path / "c.tar", manifest_with(tables=tables))
    copy = new_slug()

    with pytest.raises(Invalid, match="another tenant"):
        await importing.load(owner, tmp_path / "c.tar", as_slug=copy)

    assert await owner.fetchval("select count(*) from tenants where slug = $1", copy) == 0


def archive_sha(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


async def test_an_import_under_an_existing_slug_is_refused(
    full: TenantHandle, tenant_b: TenantHandle, owner: asyncpg.Connection, tmp_path: Path
) -> None:
    await exporting.export(owner, slug=full.slug, out=tmp_path / "a.tar")

    with pytest.raises(Conflict, match=f"tenant {tenant_b.slug!r} already exists"):
        await importing.load(owner, tmp_path / "a.tar", as_slug=tenant_b.slug)


async def test_an_export_is_readable_by_its_owner_only_even_over_a_readable_file(
    full: TenantHandle, owner: asyncpg.Connection, tmp_path: Path
) -> None:
    """The archive holds webhook signing secrets and key hashes."""
    leftover = tmp_path / "a.tar.partial"
    leftover.write_bytes(b"")
    leftover.chmod(0o644)

    await exporting.export(owner, slug=full.slug, out=tmp_path / "a.tar")

    assert stat.S_IMODE((tmp_path / "a.tar").stat().st_mode) == 0o600


async def test_an_export_is_one_snapshot_whatever_commits_while_it_runs(
    full: TenantHandle, owner: asyncpg.Connection, owner_dsn: str, tmp_path: Path
) -> None:
    writer = await asyncpg.connect(owner_dsn)
    before = await tenant_data.counts(owner, full.id)
    # The export runs on `owner`; `writer` holds it at shipment_lines, commits, lets it go.
    try:
        held = writer.transaction()
        await held.start()
        await writer.execute("lock table shipment_lines in access exclusive mode")
        export = asyncio.create_task(
            exporting.export(owner, slug=full.slug, out=tmp_path / "a.tar"))
        while not await writer.fetchval(WAITING, "shipment_lines"):
            await asyncio.sleep(0.02)
        shipment = await writer.fetchval(
            "insert into shipments (tenant_id, order_id) select tenant_id, order_id from shipments "
            "where tenant_id = $1 limit 1 returning id", full.id)
        await writer.execute(
            "insert into shipment_lines (tenant_id, shipment_id, order_line_id, quantity) "
            "select tenant_id, $2, order_line_id, 1 from shipment_lines where tenant_id = $1 limit 1",
            full.id, shipment)
        await held.commit()
        manifest = await export
    finally:
        await writer.close()

    rows = {t.name: t.rows for t in manifest.tables}
    assert rows["shipments"] == before["shipments"]
    assert rows["shipment_lines"] == before["shipment_lines"], "a line committed after the start"
    assert (await tenant_data.counts(owner, full.id))["shipment_lines"] == before["shipment_lines"] + 1


WAITING = """
select exists (select from pg_locks where relation = $1::regclass and not granted)
"""
