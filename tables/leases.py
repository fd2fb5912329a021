"""Leases: one process among many does a periodic task. A lease is a PostgreSQL session
advisory lock held on a connection of its own; the server lets go of it when that connection
ends (the process died, or PostgreSQL restarted), and another process takes it at its next try."""

from __future__ import annotations

import asyncpg

INBOX_SWEEP = 7_220_002
"""Advisory lock key of the inbox sweep (tables.events.RELAY_LOCK is 7_220_001)."""


class Lease:
    """An advisory lock on `key`, taken when free and kept until released or lost."""

    def __init__(self, dsn: str, key: int, *, timeout: float = 5.0) -> None:
        self.dsn = dsn
        self.key = key
        self.timeout = timeout
        self._connection: asyncpg.Connection | None = None
        self._held = False

    async def hold(self) -> bool:
        """Whether this process holds the lease now: when held, its connection is checked alive
        (a lost connection lost the lock); when not, it is tried. A connection found dead is
        replaced at once. Raises when PostgreSQL cannot be asked, holding nothing."""
        if self._connection is not None:
            try:
                return await self._ask()
            except Exception:  # noqa: BLE001 - lost (PostgreSQL restarted): ask on a new one
                self.release()
        try:
            self._connection = await asyncpg.connect(self.dsn, timeout=self.timeout)
            return await self._ask()
        except BaseException:
            self.release()
            raise

    async def _ask(self) -> bool:
        assert self._connection is not None
        if self._held:
            await self._connection.fetchval("select 1", timeout=self.timeout)
        else:
            lock = "select pg_try_advisory_lock($1)"
            self._held = bool(await self._connection.fetchval(lock, self.key, timeout=self.timeout))
        return self._held

    def release(self) -> None:
        """Let go: the session ends, and with it the lock."""
        connection, self._connection, self._held = self._connection, None, False
        if connection is not None and not connection.is_closed():
            connection.terminate()
