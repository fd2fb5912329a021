"""Live connections (WebSocket and SSE) open in this process, capped per credential and per
tenant, so that one key, or one tenant, cannot hold every file descriptor and every megabyte
of the process that all tenants share.

The counts are per process, on purpose: what runs out is this process's open files and
memory, a check costs nothing, and a Redis outage can neither refuse every connection nor
lift every cap. With N processes behind a balancer a credential may hold up to N times its
cap (see the README).

Once many connections have closed, the process sweeps: the collector runs less often here
(server.app), so what closed connections left in reference cycles would otherwise wait for a
full collection that may not come for hours; then the C heap gives its free pages back."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import ctypes
import gc
import logging
import time
from collections.abc import Callable, Hashable
from typing import TypeVar
from uuid import UUID

from domain.errors import DomainError
from server import auth

log = logging.getLogger("tenantgraph.connections")
K = TypeVar("K", bound=Hashable)
RETRY_AFTER_SECONDS = 5
"""What a refused client is told to wait: connections come and go, so a short while."""
SWEEP_AFTER = 256
"""Connections closed since the last sweep that make another one worth its pause."""
SWEEP_QUIET = 1.0
"""Seconds without a close before sweeping: one sweep after a mass disconnect, not many."""


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
        self._closed = 0
        self._last_close = 0.0
        self._sweep: asyncio.TimerHandle | None = None

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
        self._closed += 1
        self._last_close = time.monotonic()
        if self._closed >= SWEEP_AFTER and self._sweep is None:
            self._schedule_sweep(SWEEP_QUIET)

    def _schedule_sweep(self, delay: float) -> None:
        # An empty context: a timer keeps its context (and what that holds) until it runs.
        self._sweep = asyncio.get_running_loop().call_later(
            delay, self._sweep_when_quiet, context=contextvars.Context()
        )

    def _sweep_when_quiet(self) -> None:
        quiet = time.monotonic() - self._last_close
        if quiet < SWEEP_QUIET:
            self._schedule_sweep(SWEEP_QUIET - quiet)
            return
        closed, self._closed, self._sweep = self._closed, 0, None
        started = time.perf_counter()
        collected = sweep()
        log.info("swept after %d closed connections: %d objects collected in %.0f ms",
                 closed, collected, (time.perf_counter() - started) * 1000)

    def counts(self) -> dict[str, int]:
        """Open connections, and how many tenants and credentials hold them."""
        return {"connections": sum(self._tenants.values()), "tenants": len(self._tenants),
                "credentials": len(self._credentials)}


def sweep() -> int:
    """Collect every generation, then return the C heap's free pages to the system (glibc);
    how many objects were collected."""
    collected = gc.collect()
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)
    return collected


def _malloc_trim() -> Callable[[int], int] | None:
    with contextlib.suppress(OSError, AttributeError):
        trim: Callable[[int], int] = ctypes.CDLL(None).malloc_trim
        return trim
    return None


_MALLOC_TRIM = _malloc_trim()


def _refused(holder: str, cap: int) -> TooManyConnections:
    return TooManyConnections(
        f"too many live connections: at most {cap} per {holder} on this server",
        details={"limit": cap, "retryAfter": RETRY_AFTER_SECONDS},
    )


def _decrement(counter: collections.Counter[K], key: K) -> None:
    counter[key] -= 1
    if counter[key] <= 0:
        del counter[key]
