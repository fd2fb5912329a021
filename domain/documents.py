"""Trusted documents: the GraphQL documents a tenant's clients may send by hash, the mode that
says whether anything else runs, and the manifests clients produce listing them."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal, cast

from domain import tenancy
from domain.errors import BadRequest, DomainError, Forbidden, Invalid

Mode = Literal["off", "learn", "enforce"]
MODES: tuple[Mode, ...] = ("off", "learn", "enforce")
SETTING = "trusted_documents"
"""The key of the mode in a tenant's settings (tables.tenants)."""
Source = Literal["pushed", "learned"]
MAX_ID_LENGTH = 200
APOLLO_FORMAT = "apollo-persisted-query-manifest"


@dataclasses.dataclass(frozen=True)
class Document:
    """A stored document: `hash` is the id clients send (its sha256, or the id a manifest gave)."""

    hash: str
    sha256: str
    body: str
    operation_names: tuple[str, ...]
    source: Source
    first_seen: datetime
    last_seen: datetime | None
    count: int


@dataclasses.dataclass(frozen=True)
class Entry:
    """A document of a manifest, under the id its client will send."""

    id: str
    body: str


class PersistedQueryNotFound(DomainError):
    """Apollo's automatic persisted queries: clients send the query again on this error."""

    code = "PERSISTED_QUERY_NOT_FOUND"
    http_status = 404

    def __init__(self) -> None:
        super().__init__("PersistedQueryNotFound")


class PersistedQueryNotAllowed(Forbidden):
    code = "PERSISTED_QUERY_NOT_ALLOWED"


class HashMismatch(BadRequest):
    code = "PERSISTED_QUERY_HASH_MISMATCH"


def sha256(body: str) -> str:
    return hashlib.sha256(body.encode()).hexdigest()


def mode_of(tenant: tenancy.Tenant) -> Mode:
    mode = tenant.settings.get(SETTING, "off")
    return cast(Mode, mode) if mode in MODES else "off"


def check_mode(mode: str) -> Mode:
    if mode not in MODES:
        raise Invalid(f"mode must be one of {', '.join(MODES)}", fields={"mode": "unknown"})
    return mode


def entries(manifest: Any) -> list[Entry]:
    """The documents of an Apollo persisted-query manifest, a GraphQL Codegen persisted
    documents file or a Relay persisted_queries.json (both `{"<id>": "<document>"}`)."""
    if isinstance(manifest, Mapping) and manifest.get("format") == APOLLO_FORMAT:
        return _apollo(manifest)
    if isinstance(manifest, Mapping) and "format" not in manifest:
        return [_entry(key, body, f"{key!r}") for key, body in manifest.items()]
    raise Invalid(
        "not a manifest: expected Apollo's persisted-query manifest or a JSON object of "
        "{id: document} (GraphQL Codegen, Relay)"
    )


def _apollo(manifest: Mapping[str, Any]) -> list[Entry]:
    if manifest.get("version") != 1:
        raise Invalid(f"{APOLLO_FORMAT}: only version 1 is known")
    operations = manifest.get("operations")
    if not isinstance(operations, list):
        raise Invalid(f"{APOLLO_FORMAT}: 'operations' must be a list")
    found = []
    for index, operation in enumerate(operations):
        where = f"operations[{index}]"
        if not isinstance(operation, Mapping):
            raise Invalid(f"{where} must be an object with id and body")
        found.append(_entry(operation.get("id"), operation.get("body"), where))
    return found


def _entry(key: Any, body: Any, where: str) -> Entry:
    if not isinstance(key, str) or not 0 < len(key) <= MAX_ID_LENGTH or not key.isprintable():
        raise Invalid(f"{where}: the id must be a string of 1 to {MAX_ID_LENGTH} characters")
    if not isinstance(body, str) or not body.strip():
        raise Invalid(f"{where}: the document must be a non-empty string")
    return Entry(id=key, body=body)
