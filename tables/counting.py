"""Counts for connections' totalCount: the rows a list's filters select on every page, in
the tenant's own transaction (row-level security applies as to the list)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from piccolo.table import Table

from tables import db


async def count_rows(table: type[Table], conditions: Sequence[Any], *, tenant_id: UUID) -> int:
    """Rows of a tenant table that meet every condition (Piccolo where clauses)."""
    query = table.count().where(table._meta.get_column_by_name("tenant_id") == tenant_id)
    for condition in conditions:
        query = query.where(condition)
    async with db.transaction(tenant_id=tenant_id):
        return int(await query)


async def count_select(select: str, args: Sequence[Any], *, tenant_id: UUID) -> int:
    """Rows a select statement (its filters, no page) returns; `args` bind its $n."""
    async with db.transaction(tenant_id=tenant_id) as tx:
        return int(await tx.connection.fetchval(f"select count(*) from ({select}) counted", *args))
