"""Count the SQL round trips a process makes: every statement asyncpg sends (an extended-protocol
query, or a simple-protocol script such as BEGIN with its settings) is one round trip."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from asyncpg import connection


@contextlib.contextmanager
def counting() -> Iterator[list[str]]:
    """The text of each statement sent while inside, in order (a bench tool: it wraps asyncpg's
    Connection for the whole process while it runs)."""
    sent: list[str] = []
    execute, extended = connection.Connection.execute, connection.Connection._execute

    async def simple(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
        if not args:  # with arguments, execute goes through _execute (counted there)
            sent.append(query)
        return await execute(self, query, *args, **kwargs)

    async def prepared(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
        sent.append(query)
        return await extended(self, query, *args, **kwargs)

    connection.Connection.execute = simple  # type: ignore[method-assign]
    connection.Connection._execute = prepared  # type: ignore[method-assign]
    try:
        yield sent
    finally:
        connection.Connection.execute = execute  # type: ignore[method-assign]
        connection.Connection._execute = extended  # type: ignore[method-assign]
