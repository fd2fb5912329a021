"""Trusted documents, for a tenant's administrators: push a manifest, set the mode, find the
stored documents the tenant's current schema no longer accepts."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from uuid import UUID

from domain import audit, documents
from domain.errors import Invalid
from tables import documents as document_tables


@dataclasses.dataclass(frozen=True)
class Checked:
    """What checking a document against a schema found: its operation names, or why not."""

    operation_names: tuple[str, ...] = ()
    error: str | None = None


Check = Callable[[str], Checked]
"""Checks a document against the tenant's schema (built by schema.documents)."""


@dataclasses.dataclass(frozen=True)
class Pushed:
    documents: int
    new_ids: int


@dataclasses.dataclass(frozen=True)
class Broken:
    document: documents.Document
    error: str


async def push(
    entries: Sequence[documents.Entry], check: Check, *, tenant_id: UUID,
    actor: audit.Actor = audit.INTERNAL,
) -> Pushed:
    """Store a manifest's documents, each under its id and its sha256, when every one of them
    validates; otherwise store nothing and name each that failed and why."""
    if not entries:
        raise Invalid("the manifest lists no documents")
    failed: dict[str, str] = {}
    stored: dict[str, document_tables.Stored] = {}
    for entry in entries:
        checked = check(entry.body)
        if checked.error is not None:
            failed[entry.id] = checked.error
            continue
        for key in dict.fromkeys((entry.id, documents.sha256(entry.body))):
            if key in stored and stored[key].body != entry.body:
                failed[key] = "the manifest names two different documents with this id"
            stored[key] = document_tables.Stored(key, entry.body, checked.operation_names)
    if failed:
        raise Invalid(
            f"{len(failed)} of {len(entries)} documents refused, nothing stored: "
            + "; ".join(f"{key}: {error}" for key, error in failed.items()),
            fields=failed,
        )
    new = await document_tables.push(list(stored.values()), tenant_id=tenant_id, actor=actor)
    return Pushed(documents=len(entries), new_ids=new)


async def set_mode(
    mode: str, *, tenant_id: UUID, actor: audit.Actor = audit.INTERNAL
) -> documents.Mode:
    """Set the tenant's mode (off, learn, enforce); returns the previous one."""
    return await document_tables.set_mode(
        documents.check_mode(mode), tenant_id=tenant_id, actor=actor
    )


async def invalid(check: Check, *, tenant_id: UUID) -> list[Broken]:
    """The stored documents that the tenant's schema (as `check` sees it) no longer accepts."""
    broken = []
    for document in await document_tables.list_all(tenant_id=tenant_id):
        error = check(document.body).error
        if error is not None:
            broken.append(Broken(document, error))
    return broken
