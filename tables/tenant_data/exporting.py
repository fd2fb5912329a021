"""`tenant export`: one consistent snapshot of a tenant's rows in every tenant table."""

from __future__ import annotations

import os
import tarfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO
from uuid import UUID

from domain import audit
from tables import audit as trail
from tables.tenant_data import archive, scope, walk


async def export(
    connection: Any, *, slug: str, out: Path, actor: audit.Actor = audit.INTERNAL
) -> archive.Manifest:
    """Write the tenant's archive to `out` (atomically: a failed export leaves no file, and
    the file appears only once the platform's audit trail holds the export)."""
    partial = out.with_name(out.name + ".partial")
    try:
        async with connection.transaction(isolation="repeatable_read", readonly=True):
            tenant_id = await scope.tenant_id_of(connection, slug)
            migration = await scope.latest_migration(connection)
            tables = await walk.tenant_tables(connection)
            with _private(partial) as file, tarfile.open(fileobj=file, mode="w:") as tar:
                entries = [await _copy_out(connection, tar, table, tenant_id) for table in tables]
                manifest = archive.Manifest(
                    migration=migration, tenant_id=str(tenant_id), slug=slug,
                    exported_at=datetime.now(UTC).isoformat(), tables=entries,
                )
                archive.add_bytes(tar, archive.MANIFEST, manifest.to_json())
        async with connection.transaction():
            await scope.enter(connection, None)
            await trail.record(
                connection, actor, "tenant.exported", "tenant", manifest.tenant_id, tenant_id=None,
                after={"slug": slug, "migration": migration, "file": str(out),
                       "rows": {t.name: t.rows for t in manifest.tables}},
            )
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    return manifest


def _private(path: Path) -> BinaryIO:
    """The archive holds the tenant's secrets (webhook signing keys, key hashes): owner-only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # a leftover file keeps its mode through O_CREAT
    return os.fdopen(fd, "wb")


async def _copy_out(
    connection: Any, tar: tarfile.TarFile, table: walk.Table, tenant_id: UUID
) -> archive.TableEntry:
    columns = ", ".join(scope.ident(c.name) for c in table.columns)
    query = (f"select {columns} from {scope.ident(table.name)} "
             f"where {table.tenant_column} = $1 order by {table.order_by}")
    spool = archive.Spool()
    with spool.file:
        status = await connection.copy_from_query(
            query, tenant_id, output=spool.write, format="csv", header=True
        )
        entry = archive.TableEntry(
            table.name, archive.describe(table.columns), int(status.split()[-1]),
            spool.hash.hexdigest(),
        )
        size = spool.file.tell()
        spool.file.seek(0)
        archive.add(tar, entry.file, spool.file, size)
    return entry
