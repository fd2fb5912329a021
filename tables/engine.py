"""The one Piccolo engine. Configured and connected in a lifespan, never at import."""

from __future__ import annotations

from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg
from piccolo.engine.postgres import PostgresEngine

APP_ROLE = "tenantgraph_app"


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


class _Connection(asyncpg.Connection):
    """Pooled connections carry no session state (settings and advisory locks are
    transaction-level; LISTEN uses a connection of its own), so release skips asyncpg's reset
    statement; an open transaction is still rolled back."""

    def get_reset_query(self) -> str:
        return ""


async def start(dsn: str, *, max_size: int) -> None:
    """Open the pool, or join the one already open in this process (same database)."""
    DB.users += 1
    if DB.pool is None:
        configure(dsn)
        # Statements stay cached (LRU, 100 per connection) without an expiry timer: each timer
        # holds a copy of the context of the task that prepared the statement, and so that
        # task, its frames and its GraphQL context, for five minutes after it ended.
        await DB.start_connection_pool(
            min_size=1, max_size=max_size, connection_class=_Connection,
            max_cached_statement_lifetime=0,
        )


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

