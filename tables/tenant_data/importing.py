"""`tenant import`: an archive checked whole, then loaded in one transaction (all or nothing)."""

from __future__ import annotations

import dataclasses
import tarfile
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg

from domain import audit, tenancy
from domain.errors import Conflict, Invalid
from tables import audit as trail
from tables.tenant_data import archive, remap, scope, walk

CREDENTIALS = frozenset({"api_keys", "idempotency_keys"})
"""A copy under fresh ids does not take the original's API keys (a key names one tenant), nor
the idempotency keys of their requests."""


@dataclasses.dataclass(frozen=True)
class Imported:
    tenant_id: UUID
    slug: str
    rows: dict[str, int]
    fresh_ids: bool


async def load(
    connection: Any, path: Path, *, as_slug: str | None = None, id_map: Path | None = None,
    actor: audit.Actor = audit.INTERNAL,
) -> Imported:
    """Import the archive at `path`; under `as_slug` (another slug than the exported one) the
    tenant is a copy with fresh ids, so it can sit beside the original in one database, and
    `id_map` receives the CSV `old,new` of its ids (for systems that hold the old ones)."""
    tar, manifest = archive.open_verified(path)
    with tar:
        slug = as_slug or manifest.slug
        tenancy.check_slug(slug)
        fresh = slug != manifest.slug
        try:
            async with connection.transaction():
                done = await _load(connection, tar, manifest, slug=slug, fresh=fresh, id_map=id_map)
                await scope.enter(connection, None)
                await trail.record(
                    connection, actor, "tenant.imported", "tenant", str(done.tenant_id), tenant_id=None,
                    after={"slug": slug, "from_slug": manifest.slug, "from_tenant_id": manifest.tenant_id,
                           "fresh_ids": fresh, "file": str(path), "rows": done.rows},
                )
                return done
        except asyncpg.UniqueViolationError as error:
            raise Conflict(f"the target already holds rows of this tenant ({error.constraint_name}); "
                           "import under a new slug with --as for fresh ids") from None


async def _load(
    connection: Any, tar: tarfile.TarFile, manifest: archive.Manifest, *, slug: str, fresh: bool,
    id_map: Path | None,
) -> Imported:
    await scope.enter(connection, None)
    tables = await _check_target(connection, manifest, slug)
    source_id = UUID(manifest.tenant_id)
    for entry in manifest.tables:
        await _stage(connection, tar, entry, tables[entry.name], source_id)
    await connection.execute(f"update {remap.stage(walk.TENANTS)} set slug = $1", slug)
    if fresh:
        await remap.prepare(connection, tables)
        for table in tables.values():
            await remap.apply(connection, table)
    tenant_id = UUID(str(await connection.fetchval(f"select id from {remap.stage(walk.TENANTS)}")))
    await scope.enter(connection, tenant_id)
    rows = {}
    for table in tables.values():
        if not (fresh and table.name in CREDENTIALS):
            rows[table.name] = await _insert(connection, table)
    await _continue_order_numbers(connection, tenant_id)
    if fresh and id_map is not None:
        await connection.copy_from_table(remap.ID_MAP, output=str(id_map), format="csv", header=True)
    return Imported(tenant_id, slug, rows, fresh)


async def _check_target(
    connection: Any, manifest: archive.Manifest, slug: str
) -> dict[str, walk.Table]:
    migration = await scope.latest_migration(connection)
    if migration != manifest.migration:
        raise Invalid(f"the archive is of schema migration {manifest.migration!r}, this database "
                      f"is at {migration!r}: migrate both to the same release first")
    tables = {t.name: t for t in await walk.tenant_tables(connection)}
    listed = {t.name: t for t in manifest.tables}
    if set(listed) != set(tables):
        raise Invalid(f"the archive's tables {sorted(listed)} are not this database's {sorted(tables)}")
    for name, entry in listed.items():
        if entry.columns != archive.describe(tables[name].columns):
            raise Invalid(f"the columns of {name} differ between the archive and this database")
    if await connection.fetchval("select exists (select from tenants where slug = $1)", slug):
        raise Conflict(f"tenant {slug!r} already exists")
    return tables


async def _stage(
    connection: Any, tar: tarfile.TarFile, entry: archive.TableEntry, table: walk.Table,
    source_id: UUID,
) -> None:
    stage = remap.stage(entry.name)
    columns = ", ".join(scope.ident(c) for c in archive.columns_of(entry))
    await connection.execute(
        f"create temp table {stage} on commit drop as "
        f"select {columns} from {scope.ident(entry.name)} with no data"
    )
    status = await connection.copy_to_table(
        stage, source=archive.member(tar, entry.file), columns=archive.columns_of(entry),
        format="csv", header=True,
    )
    copied = int(status.split()[-1])
    if copied != entry.rows:
        raise Invalid(f"{entry.file} holds {copied} rows, its manifest says {entry.rows}")
    others = await connection.fetchval(
        f"select count(*) from {stage} where {table.tenant_column} is distinct from $1", source_id
    )
    if others or (entry.name == walk.TENANTS and copied != 1):
        raise Invalid(f"{entry.file} holds rows of another tenant than the one exported")


async def _insert(connection: Any, table: walk.Table) -> int:
    """Serial ids are the target's own: they are taken afresh, in the exported order."""
    kept = ", ".join(scope.ident(c.name) for c in table.columns if not c.serial)
    status = await connection.execute(
        f"insert into {scope.ident(table.name)} ({kept}) "
        f"select {kept} from {remap.stage(table.name)} order by {table.order_by}"
    )
    return int(status.split()[-1])


async def _continue_order_numbers(connection: Any, tenant_id: UUID) -> None:
    """The tenant's order-number sequence (made by the tenants trigger) goes on after the
    highest imported number."""
    highest = await connection.fetchval(
        "select max(number) from orders where tenant_id = $1", tenant_id
    )
    if highest is not None:
        await connection.execute("select setval($1::regclass, $2)",
                                 scope.order_numbers(tenant_id), highest)
