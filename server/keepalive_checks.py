"""Keep-alive re-checks of a live connection's credentials, shared by the connections that
send the same credentials."""

from __future__ import annotations

import asyncio

from domain.config import Settings
from domain.errors import DomainError
from server import auth


class KeepAliveChecks:
    """Keep-alive re-checks of credentials, one per credential and REUSE seconds: ten thousand
    connections with one key (a dashboard's) would otherwise check it hundreds of times a
    second. A revoked key is still noticed, at most REUSE seconds later."""

    REUSE = 1.0

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._checks: dict[tuple[str | None, str | None], tuple[float, asyncio.Future[auth.Caller]]] = {}

    async def check(self, authorization: str | None, tenant: str | None) -> auth.Caller:
        """The caller, or the DomainError that authentication raised."""
        now = asyncio.get_running_loop().time()
        key = (authorization, tenant)
        found = self._checks.get(key)
        if found is None or now - found[0] > self.REUSE:
            self._forget_before(now - self.REUSE)
            check = asyncio.ensure_future(auth.authenticate(authorization, tenant, self._settings))
            check.add_done_callback(lambda done: self._settle(key, done))
            found = self._checks[key] = (now, check)
        return await asyncio.shield(found[1])

    def _settle(self, key: tuple[str | None, str | None], check: asyncio.Future[auth.Caller]) -> None:
        """An answer (the caller, or a DomainError) is shared; a failure to find out is not."""
        error = None if check.cancelled() else check.exception()  # also marks it retrieved
        unknown = check.cancelled() or (error is not None and not isinstance(error, DomainError))
        if unknown and key in self._checks and self._checks[key][1] is check:
            del self._checks[key]

    def _forget_before(self, moment: float) -> None:
        if len(self._checks) > 1024:
            self._checks = {k: v for k, v in self._checks.items() if v[0] >= moment}
