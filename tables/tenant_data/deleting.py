"""`tenant delete`: a tenant's rows removed children first, in bounded transactions, the
tenant row last."""

from __future__ import annotations

import dataclasses
from typing import Any
from uuid import UUID

from domain import audit
from domain.errors import Conflict
from tables import audit as trail
from tables import credential_changes
from tables.tenant_data import scope, walk

FIRST = "api_keys"
"""Credentials go first, so the tenant stops being reachable before its data thins out."""


@dataclasses.dataclass(frozen=True)
class Deleted:
    tenant_id: UUID
    rows: dict[str, int]
    open_deliveries: list[UUID]
    """Deliveries that were queued or failing: their jobs may still be in the queue."""


async def delete(
    connection: Any, *, slug: str, force: bool = False, batch: int = 1000,
    actor: audit.Actor = audit.INTERNAL,
) -> Deleted:
    """Refused while the tenant has enabled webhook endpoints, unless `force` (which disables
    them first, so that no delivery arrives during the deletion). The tenant's own audit
    trail goes with its data; the deletion is recorded in the platform's, which outlives it."""
    tenant_id, open_deliveries = await _stop_intake(connection, slug, force)
    tables = await walk.tenant_tables(connection)
    children = sorted(reversed(tables[1:]), key=lambda t: t.name != FIRST)
    rows = {table.name: await _delete_all(connection, table, tenant_id, batch) for table in children}
    async with connection.transaction():
        await scope.enter(connection, tenant_id)
        # Rows written by a racing request meanwhile go with the tenant (foreign keys cascade).
        gone = await connection.fetchrow(
            "delete from tenants where id = $1 returning slug, name, modules, extensions", tenant_id
        )
        rows[walk.TENANTS] = 0 if gone is None else 1
        await trail.record(
            connection, actor, "tenant.deleted", "tenant", str(tenant_id), tenant_id=None,
            before=None if gone is None else {
                "slug": gone["slug"], "name": gone["name"], "modules": sorted(gone["modules"]),
                "extensions": sorted(gone["extensions"]),
            },
            after={"rows": rows, "forced": force},
        )
        await connection.execute(f"drop sequence if exists {scope.order_numbers(tenant_id)}")
        await credential_changes.announce(connection)
    return Deleted(tenant_id, rows, open_deliveries)


async def _stop_intake(connection: Any, slug: str, force: bool) -> tuple[UUID, list[UUID]]:
    async with connection.transaction():
        tenant_id = await scope.tenant_id_of(connection, slug)
        flows = await connection.fetch(
            "select flow from webhook_endpoints where tenant_id = $1 and enabled order by flow",
            tenant_id,
        )
        if flows and not force:
            names = ", ".join(row["flow"] for row in flows)
            raise Conflict(f"tenant {slug!r} still has enabled webhook endpoints ({names}): "
                           "disable them first, or pass --force")
        await connection.execute(
            "update webhook_endpoints set enabled = false, updated_at = now() "
            "where tenant_id = $1 and enabled", tenant_id,
        )
        open_ids = await connection.fetch(
            "select id from webhook_inbox where tenant_id = $1 and status in ('queued', 'failed')",
            tenant_id,
        )
    return tenant_id, [UUID(str(row["id"])) for row in open_ids]


async def _delete_all(connection: Any, table: walk.Table, tenant_id: UUID, batch: int) -> int:
    total = 0
    while True:
        async with connection.transaction():
            await scope.enter(connection, tenant_id)
            status = await connection.execute(_batch_sql(table), tenant_id, batch)
            if table.name == FIRST:
                await credential_changes.announce(connection)
        deleted = int(status.split()[-1])
        total += deleted
        if deleted == 0 or (deleted < batch and not table.self_refs):
            return total


def _batch_sql(table: walk.Table) -> str:
    """One batch; in a table referencing itself (a category tree), leaves first."""
    name = scope.ident(table.name)
    leaves = "".join(
        f" and not exists (select from {name} k where "
        + " and ".join(f"k.{scope.ident(c)} = t.{scope.ident(r)}" for c, r in zip(cols, refs, strict=True))
        + ")"
        for cols, refs in table.self_refs
    )
    return (f"delete from {name} where ctid = any(array(select t.ctid from {name} t "
            f"where t.tenant_id = $1{leaves} limit $2))")
