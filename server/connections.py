"""Live connections (WebSocket and SSE) open in this process, capped per credential and per
tenant, so that one key, or one tenant, cannot hold every file descriptor and every megabyte
of the process that all tenants share.

The counts are per process, on purpose: what runs out is this process's open files and
memory, a check costs nothing, and a Redis outage can neither refuse every connection nor
lift every cap. With N processes behind a balancer a credential may hold up to N times its
cap (see the README)."""

from __future__ import annotations

import collections
from collections.abc import Hashable
from typing import TypeVar
from uuid import UUID

from domain.errors import DomainError
from server import auth

K = TypeVar("K", bound=Hashable)
RETRY_AFTER_SECONDS = 5
"""What a refused client is told to wait: connections come and go, so a short while."""


class TooManyConnections(DomainError):
    code = "TOO_MANY_CONNECTIONS"
    http_status = 429


def credential_of(caller: auth.Caller) -> Hashable:
    """What one credential is: a key or a token subject, within its own tenant (two tenants'
    tokens may share a subject; a platform key's connections count together)."""
    return caller.principal.tenant_id, caller.principal.subject


class Slot:
    """One counted connection; `release` gives it back (once, whatever the path)."""

    __slots__ = ("_connections", "_credential", "_tenant")

    def __init__(self, connections: Connections, tenant: UUID, credential: Hashable) -> None:
        self._connections: Connections | None = connections
        self._tenant = tenant
        self._credential = credential

    def release(self) -> None:
        connections, self._connections = self._connections, None
        if connections is not None:
            connections.release(self._tenant, self._credential)


class Connections:
    def __init__(self, *, per_credential: int, per_tenant: int) -> None:
        self.per_credential = per_credential
        self.per_tenant = per_tenant
        self._tenants: collections.Counter[UUID] = collections.Counter()
        self._credentials: collections.Counter[Hashable] = collections.Counter()

    def open(self, caller: auth.Caller) -> Slot:
        """A slot for one more connection of `caller`; TooManyConnections naming the cap
        when its tenant or its credential holds as many as allowed."""
        tenant, credential = caller.tenant.id, credential_of(caller)
        if self._tenants[tenant] >= self.per_tenant:
            raise _refused("tenant", self.per_tenant)
        if self._credentials[credential] >= self.per_credential:
            raise _refused("credential", self.per_credential)
        self._tenants[tenant] += 1
        self._credentials[credential] += 1
        return Slot(self, tenant, credential)

    def release(self, tenant: UUID, credential: Hashable) -> None:
        _decrement(self._tenants, tenant)
        _decrement(self._credentials, credential)

    def counts(self) -> dict[str, int]:
        """Open connections, and how many tenants and credentials hold them."""
        return {"connections": sum(self._tenants.values()), "tenants": len(self._tenants),
                "credentials": len(self._credentials)}


def _refused(holder: str, cap: int) -> TooManyConnections:
    return TooManyConnections(
        f"too many live connections: at most {cap} per {holder} on this server",
        details={"limit": cap, "retryAfter": RETRY_AFTER_SECONDS},
    )


def _decrement(counter: collections.Counter[K], key: K) -> None:
    counter[key] -= 1
    if counter[key] <= 0:
        del counter[key]
