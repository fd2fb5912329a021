"""Credential changes, announced to every API process that caches who a credential is.

Whatever revokes or rotates a key or changes a tenant's modules or allowed origins calls
`announce` inside its own transaction: PostgreSQL delivers the notification exactly when (and
only if) that transaction commits, whichever process made it (API, worker, CLI). `listen` opens
the connection an API process hears them on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import asyncpg

from tables.engine import DB

CHANNEL = "tg_credentials"


async def announce(connection: Any) -> None:
    await connection.execute(f"select pg_notify('{CHANNEL}', '')")


async def listen(on_change: Callable[[], None], on_lost: Callable[[], None]) -> asyncpg.Connection:
    """A connection of its own (pooled ones carry no session state) calling `on_change` on each
    announcement and `on_lost` when it closes."""
    connection = await asyncpg.connect(DB.config["dsn"])
    try:
        await connection.add_listener(CHANNEL, lambda *_: on_change())
    except BaseException:
        connection.terminate()
        raise
    connection.add_termination_listener(lambda _: on_lost())
    return connection
