"""Each tenant's trusted documents (persisted queries) and the mode in its settings."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from domain import audit, documents
from domain.errors import Conflict, NotFound
from tables import audit as trail
from tables import credential_changes, db

COLUMNS = "hash, sha256, body, operation_names, source, first_seen, last_seen, count"


@dataclasses.dataclass(frozen=True)
class Stored:
    """A document to store under `hash`, with the operations it names."""

    hash: str
    body: str
    operation_names: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Use:
    """How often a document ran in one process since the last flush; `body` only for one
    the process has not seen stored (it is stored as learned unless it is)."""

    hash: str
    count: int
    first_seen: datetime
    last_seen: datetime
    body: str | None = None
    operation_names: tuple[str, ...] = ()


def _document(row: Any) -> documents.Document:
    return documents.Document(
        hash=row["hash"], sha256=row["sha256"], body=row["body"],
        operation_names=tuple(row["operation_names"]), source=row["source"],
        first_seen=row["first_seen"], last_seen=row["last_seen"], count=row["count"],
    )


async def body(hash: str, *, tenant_id: UUID) -> str | None:
    async with db.transaction(tenant_id=tenant_id) as tx:
        found = await tx.connection.fetchval(
            "select body from trusted_documents where tenant_id = $1 and hash = $2", tenant_id, hash
        )
    return None if found is None else str(found)


async def list_all(*, tenant_id: UUID) -> list[documents.Document]:
    async with db.transaction(tenant_id=tenant_id) as tx:
        rows = await tx.connection.fetch(
            f"select {COLUMNS} from trusted_documents where tenant_id = $1 order by hash", tenant_id
        )
    return [_document(row) for row in rows]


async def push(
    stored: Sequence[Stored], *, tenant_id: UUID, actor: audit.Actor = audit.INTERNAL
) -> int:
    """Store every document as pushed, or none: an id that names another body is a Conflict.
    A learned document pushed becomes pushed. Returns how many ids were new."""
    async with db.transaction(tenant_id=tenant_id) as tx:
        existing = {
            row["hash"]: row["body"] for row in await tx.connection.fetch(
                "select hash, body from trusted_documents where tenant_id = $1 and hash = any($2)",
                tenant_id, [s.hash for s in stored],
            )
        }
        taken = sorted(s.hash for s in stored if existing.get(s.hash, s.body) != s.body)
        if taken:
            raise Conflict(f"already stored with another document: {', '.join(taken)}")
        written = await tx.connection.fetch(
            """
            insert into trusted_documents as t (tenant_id, hash, sha256, body, operation_names, source)
            select $1, u.hash, encode(sha256(convert_to(u.body, 'UTF8')), 'hex'), u.body,
                   string_to_array(u.names, ' '), 'pushed'
            from unnest($2::text[], $3::text[], $4::text[]) as u(hash, body, names)
            on conflict (tenant_id, hash) do update set source = 'pushed'
            where t.body = excluded.body
            returning hash
            """,
            tenant_id, [s.hash for s in stored], [s.body for s in stored],
            [" ".join(s.operation_names) for s in stored],
        )
        if len(written) != len({s.hash for s in stored}):
            raise Conflict("a concurrent push stored another document under one of these ids")
        new = len({s.hash for s in stored} - existing.keys())
        await trail.record(
            tx.connection, actor, "trusted_documents.pushed", "tenant", str(tenant_id),
            tenant_id=tenant_id, after={"documents": len(stored), "new": new},
        )
    return new


async def record(uses: Sequence[Use], *, tenant_id: UUID) -> None:
    """Add counts and last-seen times; documents not stored yet are stored as learned."""
    known = [u for u in uses if u.body is None]
    new = [u for u in uses if u.body is not None]
    async with db.transaction(tenant_id=tenant_id) as tx:
        if known:
            await tx.connection.execute(
                """
                update trusted_documents t
                set count = t.count + u.n, last_seen = greatest(t.last_seen, u.last_seen)
                from unnest($2::text[], $3::bigint[], $4::timestamptz[]) as u(hash, n, last_seen)
                where t.tenant_id = $1 and t.hash = u.hash
                """,
                tenant_id, [u.hash for u in known], [u.count for u in known],
                [u.last_seen for u in known],
            )
        if new:
            await tx.connection.execute(
                """
                insert into trusted_documents as t
                    (tenant_id, hash, sha256, body, operation_names, source, first_seen, last_seen, count)
                select $1, u.hash, u.hash, u.body, string_to_array(u.names, ' '), 'learned',
                       u.first_seen, u.last_seen, u.n
                from unnest($2::text[], $3::text[], $4::text[], $5::bigint[], $6::timestamptz[],
                            $7::timestamptz[]) as u(hash, body, names, n, first_seen, last_seen)
                on conflict (tenant_id, hash) do update
                set count = t.count + excluded.count,
                    last_seen = greatest(t.last_seen, excluded.last_seen)
                """,
                tenant_id, [u.hash for u in new], [u.body for u in new],
                [" ".join(u.operation_names) for u in new], [u.count for u in new],
                [u.first_seen for u in new], [u.last_seen for u in new],
            )


async def set_mode(
    mode: documents.Mode, *, tenant_id: UUID, actor: audit.Actor = audit.INTERNAL
) -> documents.Mode:
    """Set the tenant's mode; returns the one it had. Processes that remember callers (and so
    tenants) hear of it and forget them (tables.credential_changes)."""
    async with db.platform() as tx:
        row = await tx.connection.fetchrow(
            "select settings->>$2 as mode from tenants where id = $1 for update",
            tenant_id, documents.SETTING,
        )
        if row is None:
            raise NotFound("tenant not found")
        await tx.connection.execute(
            "update tenants set updated_at = now(), "
            "settings = coalesce(settings, '{}'::jsonb) || jsonb_build_object($2::text, $3::text) "
            "where id = $1",
            tenant_id, documents.SETTING, mode,
        )
        previous = documents.check_mode(row["mode"]) if row["mode"] in documents.MODES else "off"
        await trail.record(
            tx.connection, actor, "trusted_documents.mode_changed", "tenant", str(tenant_id),
            tenant_id=tenant_id, before={"mode": previous}, after={"mode": mode},
        )
        await credential_changes.announce(tx.connection)
    return previous
