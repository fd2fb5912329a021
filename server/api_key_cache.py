"""Who an API key is, remembered per process so that a request needs no lookup.

Only tenant API keys sent without X-Tenant-ID are remembered; JWTs, platform keys and every
failure take the uncached path (server.auth), which also gives all the errors. A remembered
key stops working as soon as any process revokes a key or changes a tenant's modules: those
writes announce themselves in their own transaction (tables.credential_changes), and hearing one
forgets everything. Without a listening connection nothing is remembered (fail closed); an
expiry date is checked on every use; and entries live at most `ttl` seconds, which keeps the
key's coarse `last_used_at` marking going.

Every lookup, and only a lookup, is within the failed-authentication limits (server.failed_auth):
a key served from memory costs no call to Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime
from typing import Any

from domain import credentials
from domain.config import Settings
from domain.errors import Unauthenticated
from server import auth
from server.failed_auth import FailedAuthentications
from tables import api_keys, credential_changes

log = logging.getLogger("tenantgraph.credentials")
RETRY_SECONDS = 2.0


class ApiKeyCache:
    """Tenant API keys' callers, remembered until a credential change is heard (see above)."""

    def __init__(
        self, settings: Settings, *, ttl: float = 60.0, maxsize: int = 10_000,
        failures: FailedAuthentications | None = None,
    ) -> None:
        self._settings = settings
        self._failures = failures or FailedAuthentications(None, settings)
        self._ttl = ttl
        self._maxsize = maxsize
        self._entries: dict[str, tuple[float, credentials.ApiKey, auth.Caller]] = {}
        self._generation = 0
        self._connection: Any = None
        self._keeper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._keeper = asyncio.create_task(self._keep_listening())

    async def stop(self) -> None:
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keeper
        await self._close()

    @property
    def generation(self) -> int:
        """Moves on whenever what was remembered is forgotten (see server.cors.OriginCache)."""
        return self._generation

    @property
    def listening(self) -> bool:
        return self._connection is not None and not self._connection.is_closed()

    async def authenticate(
        self, authorization: str | None, selected_tenant: str | None, address: str = "unknown"
    ) -> auth.Caller:
        """The caller of a request from the client at `address`."""
        token = _api_key(authorization)
        if token is not None and not selected_tenant and self.listening:
            found = self._entries.get(token)
            if found is not None and time.monotonic() - found[0] < self._ttl and found[1].usable(
                datetime.now(UTC)
            ):
                return found[2]
        async with self._failures.guard(address, authorization):
            if token is None or selected_tenant or not self.listening:
                return await auth.authenticate(authorization, selected_tenant, self._settings)
            return await self._look_up(token, authorization)

    async def _look_up(self, token: str, authorization: str | None) -> auth.Caller:
        now = time.monotonic()
        generation = self._generation
        looked_up = await api_keys.authenticate(token)
        if looked_up is None:
            raise Unauthenticated(auth.BAD_KEY)
        key, tenant = looked_up
        if tenant is None:  # a platform key, which needs X-Tenant-ID: never remembered
            return await auth.authenticate(authorization, None, self._settings)
        caller = auth.Caller(tenant=tenant, principal=auth.key_principal(key))
        # A change heard while looking up may concern this very key: keep nothing then.
        if generation == self._generation and self.listening:
            if len(self._entries) >= self._maxsize:
                self._entries.clear()
            self._entries[token] = (now, key, caller)
        return caller

    def forget(self) -> None:
        self._generation += 1
        self._entries.clear()

    async def _keep_listening(self) -> None:
        while True:
            if not self.listening:
                self.forget()
                await self._close()
                try:
                    self._connection = await credential_changes.listen(self.forget, self.forget)
                except Exception as error:  # noqa: BLE001 - whatever failed, retry and say why
                    log.warning("credential changes unheard (%s); keys are looked up each time", error)
            await asyncio.sleep(RETRY_SECONDS)

    async def _close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and not connection.is_closed():
            with contextlib.suppress(Exception):
                await connection.close(timeout=2)


def _api_key(authorization: str | None) -> str | None:
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token.startswith("tg_") else None
