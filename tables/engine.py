"""The one Piccolo engine. Configured and connected in a lifespan, never at import."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Generator
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg
import asyncpg.pool
from piccolo.engine.postgres import PostgresEngine

from domain.config import Settings
from domain.errors import Unavailable

APP_ROLE = "tenantgraph_app"
log = logging.getLogger("tenantgraph.db")
CLIENT_MARGIN = 1.0


class Engine(PostgresEngine):
    """PostgresEngine that does not connect when constructed (Piccolo's checks the version)."""

    users = 0
    """Holders sharing the pool in this process (an app's lifespan, a worker, a test session)."""

    async def check_version(self) -> None:
        return None

    async def prep_database(self) -> None:
        return None


DB = Engine(config={})


def configure(dsn: str) -> None:
    DB.config = {"dsn": dsn}


DOWN = (
    OSError,  # asyncio's own, e.g. ConnectionRefusedError, when PostgreSQL is not listening
    TimeoutError,  # connecting, the pool's acquire, or a statement (command_timeout)
    asyncpg.PostgresConnectionError,  # class 08: cannot connect, connection lost
    asyncpg.CannotConnectNowError,  # starting up, shutting down, recovering
    asyncpg.InsufficientResourcesError,  # class 53: too many connections, disk full
    asyncpg.OperatorInterventionError,  # class 57: admin shutdown, statement_timeout
)
"""What a call to PostgreSQL raises when PostgreSQL, not the call, is at fault."""


def _down(error: BaseException) -> bool:
    # asyncpg's InterfaceError for a connection closed under a query or a closing pool (other
    # InterfaceErrors, e.g. two queries at once on one connection, are bugs).
    return isinstance(error, DOWN) or (
        isinstance(error, asyncpg.InterfaceError) and ("closed" in str(error) or "closing" in str(error))
    )


def _raise_if_down(error: Exception) -> None:
    """Unavailable, from `error`, when PostgreSQL failed the call; else the caller raises
    `error` again as it was. (try/except costs nothing until something is raised.)"""
    if _down(error):
        raise Unavailable(f"PostgreSQL failed the call: {type(error).__name__}") from error


class _Connection(asyncpg.Connection):
    """Pooled connections carry no session state (settings and advisory locks are
    transaction-level; LISTEN uses a connection of its own), so release skips asyncpg's reset
    statement; an open transaction is still rolled back. A statement that PostgreSQL failed
    raises Unavailable."""

    def get_reset_query(self) -> str:
        return ""

    async def execute(self, query: str, *args: object, timeout: float | None = None) -> str:
        try:
            return await super().execute(query, *args, timeout=timeout)
        except Exception as error:
            _raise_if_down(error)
            raise

    async def executemany(self, command: str, args: Any, *, timeout: float | None = None) -> None:
        try:
            await super().executemany(command, args, timeout=timeout)
        except Exception as error:
            _raise_if_down(error)
            raise

    async def fetch(
        self, query: str, *args: object, timeout: float | None = None, record_class: Any = None
    ) -> Any:
        try:
            return await super().fetch(query, *args, timeout=timeout, record_class=record_class)
        except Exception as error:
            _raise_if_down(error)
            raise

    async def fetchval(self, query: str, *args: object, column: int = 0, timeout: float | None = None) -> Any:
        try:
            return await super().fetchval(query, *args, column=column, timeout=timeout)
        except Exception as error:
            _raise_if_down(error)
            raise

    async def fetchrow(
        self, query: str, *args: object, timeout: float | None = None, record_class: Any = None
    ) -> Any:
        try:
            return await super().fetchrow(query, *args, timeout=timeout, record_class=record_class)
        except Exception as error:
            _raise_if_down(error)
            raise


@dataclasses.dataclass(frozen=True)
class Timeouts:
    """DB_ACQUIRE_TIMEOUT bounds the wait for a pooled connection (connecting included),
    DB_STATEMENT_TIMEOUT each statement on the server; 0 is no limit."""

    acquire: float = 0.0
    statement: float = 0.0

    @classmethod
    def of(cls, settings: Settings) -> Timeouts:
        return cls(acquire=settings.db_acquire_timeout, statement=settings.db_statement_timeout)


class _Pool(asyncpg.pool.Pool):
    """asyncpg's pool, whose acquire has a default timeout: Piccolo acquires without one, and
    with PostgreSQL stalled a request would otherwise wait for a connection forever."""

    acquire_timeout: float | None = None

    def acquire(self, *, timeout: float | None = None) -> Any:
        if timeout is None and not self._connected_one_free():
            timeout = self.acquire_timeout
        return _Acquire(self, timeout)

    def _connected_one_free(self) -> bool:
        """A connected holder waiting in asyncpg's (private) queue is taken at once: no timeout
        needed, and none paid for (asyncpg wraps a timed acquire in asyncio.wait_for, a task
        per acquire: a planned read cost a third more CPU). Nothing awaits between this check
        and the take, so the holder is still there. The queue hands out its last connected
        holder (LIFO) and a released one goes back to its end: look from there."""
        queue = getattr(self, "_queue", None)
        return queue is not None and any(h.is_connected() for h in reversed(queue._queue))


class _Acquire(asyncpg.pool.PoolAcquireContext):
    """asyncpg's acquire (awaited, or as a context manager), raising Unavailable when
    PostgreSQL cannot be reached or no connection came free in time."""

    __slots__ = ()

    async def __aenter__(self) -> Any:
        try:
            return await super().__aenter__()
        except Exception as error:
            _raise_if_down(error)
            raise

    def __await__(self) -> Generator[Any, None, Any]:
        try:
            return (yield from super().__await__())
        except Exception as error:
            _raise_if_down(error)
            raise


async def start(dsn: str, *, max_size: int, timeouts: Timeouts = Timeouts()) -> None:
    """Open the pool, or join the one already open in this process (same database). It opens
    without a connection, so a process starts while PostgreSQL is not up yet,
    and each query connects as needed, so the pool comes back by itself with the server."""
    DB.users += 1
    if DB.pool is None:
        configure(dsn)
        DB.pool = await _open(dsn, max_size, timeouts)
        try:
            async with DB.pool.acquire() as connection:
                await connection.fetchval("select 1")
        except Exception as error:  # noqa: BLE001 - not up yet: requests answer 503 meanwhile
            log.warning("PostgreSQL is not reachable yet (%s); connecting when it is", error)


async def _open(dsn: str, max_size: int, timeouts: Timeouts) -> _Pool:
    settings = {"statement_timeout": f"{int(timeouts.statement * 1000)}"} if timeouts.statement else {}
    pool = _Pool(
        dsn, init_size=0, min_size=0, max_size=max_size, max_queries=50_000,
        max_inactive_connection_lifetime=300.0, loop=None, connection_class=_Connection,
        record_class=asyncpg.Record, server_settings=settings,
        timeout=timeouts.acquire or 60.0,
        # A stalled server cannot enforce its statement_timeout: the client gives up too.
        command_timeout=timeouts.statement + CLIENT_MARGIN if timeouts.statement else None,
        # Statements stay cached (LRU, 100 per connection) without an expiry timer: each timer
        # holds a copy of the context of the task that prepared the statement, and so that
        # task, its frames and its GraphQL context, for five minutes after it ended.
        max_cached_statement_lifetime=0,
    )
    pool.acquire_timeout = timeouts.acquire or None
    await pool
    return pool


async def stop() -> None:
    """Leave the pool; the last holder closes it."""
    DB.users = max(0, DB.users - 1)
    if DB.users == 0 and DB.pool is not None:
        await DB.close_connection_pool()


def app_dsn(owner_dsn: str, password: str) -> str:
    """The same database reached as the app role, which owns nothing and cannot bypass RLS."""
    parts = urlsplit(owner_dsn)
    host = parts.hostname or ""
    netloc = f"{APP_ROLE}:{quote(password, safe='')}@{host}"
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))

