"""An event inserted already numbered, as a process from before commit-time numbering does
during a rolling deploy: it takes the next number from the tenant's counter itself."""

from __future__ import annotations

from typing import Any
from uuid import UUID


async def insert_numbered(connection: Any, tenant_id: UUID, aggregate_id: str = "old") -> int:
    """In the caller's transaction: the number it took."""
    seq: int = await connection.fetchval(
        """
        insert into tenant_counters (tenant_id, name, value) values ($1, 'events', 1)
        on conflict (tenant_id, name) do update set value = tenant_counters.value + 1
        returning value
        """,
        tenant_id,
    )
    await connection.execute(
        "insert into events (tenant_id, seq, type, aggregate_type, aggregate_id, payload, created_at)"
        " values ($1, $2, 'test.happened', 'test', $3, '{}', now())", tenant_id, seq, aggregate_id,
    )
    return seq
