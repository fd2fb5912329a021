"""Savepoints inside a tables.db transaction: one delivery of a batch rolled back alone,
with what it added to the transaction's write buffers."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from piccolo.engine.postgres import PostgresTransaction

from tables import db


class Savepoints:
    """One savepoint at a time, each released by the statement that opens the next (one round
    trip per delivery); COMMIT releases the last."""

    def __init__(self, tx: PostgresTransaction) -> None:
        assert isinstance(tx, db._Transaction), "savepoints need a tables.db transaction"
        self.tx = tx
        self.open = False

    @contextlib.asynccontextmanager
    async def each(self) -> AsyncIterator[None]:
        """Run the block in a savepoint; an exception rolls back to it (and its buffered
        writes) and goes on its way."""
        sizes = {key: len(items) for key, (items, _) in self.tx.buffers.items()}
        opening = "release savepoint delivery; savepoint delivery" if self.open else "savepoint delivery"
        await self.tx.connection.execute(opening)
        self.open = True
        try:
            yield
        except Exception:
            await self.tx.connection.execute("rollback to savepoint delivery")
            for key, (items, _) in self.tx.buffers.items():
                del items[sizes.get(key, 0):]
            raise
