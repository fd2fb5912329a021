"""Trusted documents on the request path: Apollo's automatic persisted queries
(`extensions.persistedQuery.sha256Hash`) and each tenant's mode (off, learn, enforce).

A request without `extensions` to a tenant in mode `off` pays two dict lookups here. Stored
documents are remembered per process by (tenant, hash): a hash is a document's content, so
what is remembered never goes stale. A hash found missing is remembered for MISSING_SECONDS,
so unknown documents under `enforce` cost no database trip each. Use counts and last-seen
times are added up in memory and written every FLUSH_SECONDS, one statement per tenant, by
a task of their own; a document not yet stored (learned, or registered by a client) is written
with them, so every write of this module is batched.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from graphql import GraphQLError, OperationDefinitionNode, parse
from starlette.requests import Request
from starlette.responses import Response

from domain import documents, tenancy
from domain.config import Settings
from domain.errors import BadRequest
from server import auth
from tables import documents as document_tables

log = logging.getLogger("tenantgraph.documents")
FLUSH_SECONDS = 5.0
MISSING_SECONDS = 2.0
MAX_REMEMBERED = 10_000
MAX_REMEMBERED_CHARS = 100_000
"""Longer documents are looked up each time rather than held (at most ~1 GB of text held)."""
UNCACHEABLE = "no-store"
VARY = "Authorization, X-Tenant-ID, X-Price-List"


@dataclasses.dataclass
class _Use:
    count: int
    first_seen: datetime
    last_seen: datetime
    body: str | None


def requested(payload: dict[str, Any]) -> bool:
    """Whether the payload names a persisted query (it may then come without its text)."""
    extensions = payload.get("extensions")
    return isinstance(extensions, dict) and "persistedQuery" in extensions


class Documents:
    """The stored documents this process has seen, and the uses it has not written yet."""

    def __init__(self, settings: Settings) -> None:
        self._bypass_platform = settings.trusted_documents_bypass_platform
        self._bypass_admin = settings.trusted_documents_bypass_admin
        self._max_age = settings.persisted_query_max_age
        self._max_tokens = settings.max_tokens
        self._known: dict[tuple[UUID, str], str] = {}
        self._missing: dict[tuple[UUID, str], float] = {}
        self._uses: dict[tuple[UUID, str], _Use] = {}
        self._flushed = time.monotonic()
        self._flushing: asyncio.Task[None] | None = None

    async def admit(self, payload: dict[str, Any], caller: auth.Caller) -> dict[str, Any]:
        """The payload to run: with the stored text when only a hash came. Raises what
        refuses it: an unknown hash, a hash that is not the text's, text under enforce."""
        extensions = payload.get("extensions")
        mode = caller.tenant.settings.get(documents.SETTING)
        if extensions is None and mode is None:
            return payload
        if extensions is not None and not isinstance(extensions, dict):
            raise BadRequest("'extensions' must be an object")
        return await self._admit(payload, caller, documents.mode_of(caller.tenant))

    async def _admit(
        self, payload: dict[str, Any], caller: auth.Caller, mode: documents.Mode
    ) -> dict[str, Any]:
        hash = _hash(payload)
        query = payload.get("query")
        tenant_id = caller.tenant.id
        if hash is None:
            if mode == "off" or not isinstance(query, str):
                return payload
            hash = documents.sha256(query)
        elif not isinstance(query, str) or not query.strip():
            return {**payload, "query": await self._stored(tenant_id, hash)}
        elif documents.sha256(query) != hash:
            raise documents.HashMismatch("provided sha does not match query")
        if mode == "enforce" and await self._body(tenant_id, hash) is None:
            if not self._bypasses(caller.principal):
                raise documents.PersistedQueryNotAllowed(
                    "this tenant runs only its trusted documents: send a stored document's hash "
                    "(extensions.persistedQuery.sha256Hash) or its exact text"
                )
            return payload  # a bypass runs it, but never makes it trusted
        self._use(tenant_id, hash, query)
        return payload

    async def _stored(self, tenant_id: UUID, hash: str) -> str:
        body = await self._body(tenant_id, hash)
        if body is None:
            raise documents.PersistedQueryNotFound()
        self._use(tenant_id, hash, body)
        return body

    def _bypasses(self, principal: tenancy.Principal) -> bool:
        if principal.is_platform:
            return self._bypass_platform
        return self._bypass_admin and tenancy.ADMIN in principal.scopes

    async def _body(self, tenant_id: UUID, hash: str) -> str | None:
        key = (tenant_id, hash)
        found = self._known.get(key)
        if found is not None:
            return found
        if self._missing.get(key, 0.0) > time.monotonic():
            return None
        body = await document_tables.body(hash, tenant_id=tenant_id)
        if body is None:
            _bounded(self._missing)[key] = time.monotonic() + MISSING_SECONDS
        else:
            self._remember(key, body)
        return body

    def _remember(self, key: tuple[UUID, str], body: str) -> None:
        if len(body) <= MAX_REMEMBERED_CHARS:
            _bounded(self._known)[key] = body

    def _use(self, tenant_id: UUID, hash: str, body: str) -> None:
        """Count a use; a document this process has not seen stored is stored with it."""
        key = (tenant_id, hash)
        now = datetime.now(UTC)
        use = self._uses.get(key)
        if use is not None:
            use.count += 1
            use.last_seen = now
        elif len(self._uses) < MAX_REMEMBERED:
            new = key not in self._known
            self._uses[key] = _Use(1, now, now, body if new else None)
            if new:
                self._remember(key, body)
                self._missing.pop(key, None)
        if self._flushing is None and time.monotonic() - self._flushed >= FLUSH_SECONDS:
            self._flushing = asyncio.create_task(self._flush_in_background())

    async def flush(self) -> None:
        """Write the uses counted so far (after a write already under way)."""
        running = self._flushing
        if running is not None and running is not asyncio.current_task():
            await running
        await self._write()

    async def stop(self) -> None:
        await self.flush()

    async def _flush_in_background(self) -> None:
        try:
            await self._write()
        finally:
            self._flushing = None

    async def _write(self) -> None:
        """One statement per tenant; a failure is logged and those counts are lost (they are
        statistics, and a document not stored is sent again with its next use)."""
        uses, self._uses = self._uses, {}
        self._flushed = time.monotonic()
        by_tenant: dict[UUID, list[document_tables.Use]] = defaultdict(list)
        for (tenant_id, hash), use in uses.items():
            names = () if use.body is None else self._names(use.body)
            by_tenant[tenant_id].append(document_tables.Use(
                hash, use.count, use.first_seen, use.last_seen, use.body, names
            ))
        for tenant_id, batch in by_tenant.items():
            try:
                await document_tables.record(batch, tenant_id=tenant_id)
            except Exception:  # noqa: BLE001 - statistics: say so and go on with the next tenant
                log.warning("trusted documents: %d uses not recorded", len(batch), exc_info=True)
                for written in batch:
                    if written.body is not None:
                        self._known.pop((tenant_id, written.hash), None)

    def _names(self, body: str) -> tuple[str, ...]:
        try:
            document = parse(body, max_tokens=self._max_tokens)
        except GraphQLError:
            return ()
        return tuple(
            d.name.value for d in document.definitions
            if isinstance(d, OperationDefinitionNode) and d.name is not None
        )

    def cache_headers(self, request: Request, response: Response) -> None:
        """A GET of a persisted query is what a CDN may keep: per credential and tenant (Vary),
        and only an answer without errors, for PERSISTED_QUERY_MAX_AGE seconds."""
        if request.method != "GET" or "extensions" not in request.query_params:
            return
        response.headers["vary"] = VARY
        cacheable = (
            self._max_age > 0 and response.status_code == 200
            and b'"errors"' not in bytes(response.body)
        )
        response.headers["cache-control"] = (
            f"public, max-age={self._max_age}" if cacheable else UNCACHEABLE
        )


def _hash(payload: dict[str, Any]) -> str | None:
    extensions = payload.get("extensions")
    if not isinstance(extensions, dict) or "persistedQuery" not in extensions:
        return None
    persisted = extensions["persistedQuery"]
    if not isinstance(persisted, dict) or persisted.get("version") != 1:
        raise BadRequest("extensions.persistedQuery: only version 1 is supported")
    hash = persisted.get("sha256Hash")
    if not (isinstance(hash, str) and 0 < len(hash) <= documents.MAX_ID_LENGTH and hash.isprintable()):
        raise BadRequest("extensions.persistedQuery.sha256Hash must be a non-empty string")
    return hash


def _bounded(cache: dict[Any, Any]) -> dict[Any, Any]:
    if len(cache) >= MAX_REMEMBERED:
        cache.clear()
    return cache
