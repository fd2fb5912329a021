"""Units of work: a short transaction on its own connection with the tenant set for RLS.

graphql-core resolves sibling fields concurrently, and a Piccolo transaction pins one asyncpg
connection that cannot be used concurrently. So every unit of work opens its own transaction,
and a nested call joins the enclosing one only when it runs in the same asyncio task for the
same tenant; a concurrently running sibling always gets a connection of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from typing import Any
from uuid import UUID

import asyncpg
from piccolo.engine.postgres import PostgresTransaction

from domain.errors import Invalid
from tables.engine import DB


@dataclasses.dataclass(frozen=True)
class _Unit:
    task: asyncio.Task[Any] | None
    tenant_id: UUID | None
    platform: bool
    transaction: PostgresTransaction


GENERIC_PLANS = ", set_config('plan_cache_mode', 'force_generic_plan', true)"
"""For a transaction of statements whose plans do not depend on their arguments (keys and
arrays of keys, each read through an index): each prepared statement is planned once per
connection instead of at every execution. Left to itself, PostgreSQL kept planning
createOrder's read, lock and write anew at every call (the generic plan's estimate never won),
which cost more than running them."""

Flush = Callable[[PostgresTransaction, list[Any]], Awaitable[None]]
Check = Callable[[PostgresTransaction, UUID | None], Awaitable[None]]
"""Run just before a transaction commits, with the tenant it is scoped to (None: platform)."""

_current: contextvars.ContextVar[_Unit | None] = contextvars.ContextVar("tg_unit", default=None)
log = logging.getLogger("tenantgraph.db")
_check: contextvars.ContextVar[Check | None] = contextvars.ContextVar("tg_check", default=None)


class _Transaction(PostgresTransaction):
    """Piccolo's transaction, with the tenant set in the same round trip as BEGIN, and giving
    its connection back on every path: a task cancelled during BEGIN, COMMIT or ROLLBACK (a
    client went away) must not keep a pool connection."""

    def __init__(
        self, *, tenant_id: UUID | None, platform: bool, generic_plans: bool = False, also: str = ""
    ) -> None:
        super().__init__(engine=DB)
        self.buffers: dict[str, tuple[list[Any], Flush]] = {}
        self.tenant_id = tenant_id
        self.commit_check = _check.get()
        # Literals are safe here: a UUID's text form and a fixed flag; the simple query
        # protocol then takes BEGIN and both settings in one round trip.
        tenant = "" if tenant_id is None else str(UUID(str(tenant_id)))
        flag = "on" if platform else ""
        self._begin = (
            f"begin; select set_config('app.tenant_id', '{tenant}', true), "
            f"set_config('app.platform', '{flag}', true)"
        ) + (GENERIC_PLANS if generic_plans else "") + also

    async def begin(self) -> None:
        await self.connection.execute(self._begin)

    async def commit(self) -> None:
        await self.connection.execute("commit")
        self._committed = True

    async def rollback(self) -> None:
        await self.connection.execute("rollback")
        self._rolled_back = True

    async def __aenter__(self) -> PostgresTransaction:
        # Piccolo leaves get_connection unannotated.
        self.connection = await self.get_connection()  # type: ignore[no-untyped-call]
        try:
            await self.begin()
        except BaseException:
            await self._give_back()
            raise
        self.context = self.engine.current_transaction.set(self)
        return self

    async def __aexit__(self, exception_type: Any, exception: Any, traceback: Any) -> bool:
        try:
            if exception is not None:
                if not self._rolled_back:
                    await self._roll_back_for_error()
            elif not self._committed and not self._rolled_back:
                try:
                    await self._finish()
                except BaseException:
                    await self._roll_back_for_error()
                    raise
                await self.commit()
        finally:
            self.engine.current_transaction.reset(self.context)
            await self._give_back()
        return exception is None

    async def _roll_back_for_error(self) -> None:
        """Roll back for an error already on its way out. When that error took the connection
        with it (PostgreSQL ended its session: the transaction is gone with it), the rollback
        cannot be sent, and the first error is the one to report, not the rollback's."""
        try:
            await self.rollback()
        except Exception as error:  # noqa: BLE001 - the error being handled is the one raised
            log.warning("rollback after an error failed: %r", error)

    async def _finish(self) -> None:
        for items, flush in self.buffers.values():
            if items:
                await flush(self, items)
        if self.commit_check is not None:
            await self.commit_check(self, self.tenant_id)

    async def _give_back(self) -> None:
        # asyncpg's release is shielded and resets (rolls back) a connection left mid-transaction.
        if self.engine.pool is not None:
            await self.engine.pool.release(self.connection)
        else:
            await self.connection.close()


@contextlib.asynccontextmanager
async def transaction(
    *, tenant_id: UUID | None, platform: bool = False, generic_plans: bool = False, also: str = ""
) -> AsyncIterator[PostgresTransaction]:
    """A transaction scoped to one tenant (or to the platform registry when `platform`).
    `generic_plans` (when this call begins the transaction, not when it joins one): see
    GENERIC_PLANS. `also`: more items of BEGIN's select list (", f(...)"), run in its round
    trip; when this call joins a transaction, in a statement of their own."""
    unit = _current.get()
    task = asyncio.current_task()
    if unit and unit.task is task and unit.tenant_id == tenant_id and unit.platform == platform:
        if also:  # no BEGIN to ride in: a round trip of its own
            await unit.transaction.connection.execute(f"select 1{also}")
        yield unit.transaction
        return
    outer = DB.current_transaction.set(None)
    try:
        async with _Transaction(
            tenant_id=tenant_id, platform=platform, generic_plans=generic_plans, also=also
        ) as tx:
            token = _current.set(_Unit(task, tenant_id, platform, tx))
            try:
                yield tx
            finally:
                _current.reset(token)
    finally:
        DB.current_transaction.reset(outer)


async def unique(query: Any, *, field: str = "input.handle", what: str = "handle") -> list[dict[str, Any]]:
    """Run an insert or update; a unique key lost to a concurrent writer is bad input naming
    the field, not a server error."""
    try:
        return list(await query)
    except asyncpg.UniqueViolationError:
        raise Invalid(f"a concurrent change took this {what}", fields={field: "taken"}) from None


async def check_handle_free(
    table: Any, handle: str, *, tenant_id: UUID, label: str, path: str = "input.handle"
) -> None:
    """Handles are unique per tenant: say so before the insert (and `unique` covers a race)."""
    taken = await table.exists().where(table.tenant_id == tenant_id, table.handle == handle)
    if taken:
        raise Invalid(f"{label} {handle!r} is already used", fields={path: "taken"})


def buffer(tx: PostgresTransaction, key: str, flush: Flush) -> list[Any]:
    """A list kept with the transaction `tx` under `key`: just before `tx` commits, `flush`
    writes what was added to it, in the transaction (several changes, one statement); a
    rollback drops it with everything else."""
    assert isinstance(tx, _Transaction), "buffer needs a tables.db transaction"
    return tx.buffers.setdefault(key, ([], flush))[0]


@contextlib.contextmanager
def checked_before_commit(check: Check) -> Iterator[None]:
    """Every transaction begun within (also in tasks started within) runs `check` as its last
    statement before COMMIT; an error from it rolls the transaction back."""
    token = _check.set(check)
    try:
        yield
    finally:
        _check.reset(token)


def platform() -> contextlib.AbstractAsyncContextManager[PostgresTransaction]:
    """The tenant registry and credentials, read before a tenant is known."""
    return transaction(tenant_id=None, platform=True)


def json_field(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, str):
        loaded = json.loads(value)
        return dict(loaded) if isinstance(loaded, Mapping) else {}
    return dict(value)
