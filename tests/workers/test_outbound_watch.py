"""Webhooks out, what the dispatcher looks at: only tenants with enabled endpoints (a tenant
without one never even gets a cursor row, however many events it writes), endpoint changes
made by any process reach it through NOTIFY (here with a poll interval too long to matter), a
tenant's endpoint gets exactly the events committed after it was enabled, and two dispatchers
fan each event out once."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from uuid import UUID

from saq import Queue

from domain import outbound_delivery as delivery
from tests import outbound as out
from workers.outbound import Dispatcher
from workers.outbound_watch import Watch

NO_POLL = delivery.DeliverySettings(poll_seconds=600, sweep_seconds=600)
"""Nothing but notifications starts a round after the first."""


@contextlib.asynccontextmanager
async def running(dispatcher: Dispatcher) -> AsyncIterator[Dispatcher]:
    task = asyncio.create_task(dispatcher.run())
    try:
        await until(lambda: _loaded(dispatcher))
        yield dispatcher
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _loaded(dispatcher: Dispatcher) -> bool:
    return dispatcher._watch.active is not None


async def until(condition: Callable[[], Awaitable[bool]]) -> None:
    async with asyncio.timeout(30):
        while not await condition():
            await asyncio.sleep(0.05)


async def types_sent(endpoint_id: UUID, tenant_id: UUID) -> list[str]:
    rows = await out.rows("select event_type from outbound_messages where endpoint_id = $1"
                          " order by event_seq", endpoint_id, tenant_id=tenant_id)
    return [r["event_type"] for r in rows]


async def set_enabled(endpoint_id: UUID, enabled: bool, tenant_id: UUID) -> None:
    await out.row("update outbound_endpoints set enabled = $2 where id = $1 returning id",
                  endpoint_id, enabled, tenant_id=tenant_id)


async def test_a_tenant_without_enabled_endpoints_is_never_looked_at(
    queue: Queue, app_dsn: str, make_tenant: Any
) -> None:
    quiet, busy = await make_tenant(), await make_tenant()
    await out.endpoint(quiet.id, "http://127.0.0.1:9/off", ["*"], enabled=False)
    endpoint_id, _ = await out.endpoint(busy.id, "http://127.0.0.1:9/on", ["*"])
    async with running(Dispatcher(queue, app_dsn, NO_POLL)):
        for _ in range(20):
            await out.emit(quiet.id, "product.created")
        await out.emit(busy.id, "product.created")
        await until(lambda: _got(endpoint_id, busy.id, 1))
        await out.emit(busy.id, "product.updated")  # notified after all of quiet's events
        await until(lambda: _got(endpoint_id, busy.id, 2))

    assert await out.rows("select 1 from outbound_cursors", tenant_id=quiet.id) == []
    assert await out.rows("select 1 from outbound_messages", tenant_id=quiet.id) == []


async def _got(endpoint_id: UUID, tenant_id: UUID, count: int) -> bool:
    return len(await types_sent(endpoint_id, tenant_id)) >= count


async def test_an_endpoint_gets_exactly_the_events_committed_while_it_is_enabled(
    queue: Queue, app_dsn: str, make_tenant: Any
) -> None:
    a = await make_tenant()
    endpoint_id, _ = await out.endpoint(a.id, "http://127.0.0.1:9/later", ["*"], enabled=False)
    async with running(Dispatcher(queue, app_dsn, NO_POLL)):
        await out.emit(a.id, "product.created", "customer.created")  # before: not its events
        await set_enabled(endpoint_id, True, a.id)  # in another connection, as the API would
        await out.emit(a.id, "product.updated")
        await until(lambda: _got(endpoint_id, a.id, 1))
        await set_enabled(endpoint_id, False, a.id)
        await out.emit(a.id, "order.created")  # while disabled: never its event
        await set_enabled(endpoint_id, True, a.id)
        await out.emit(a.id, "product.deleted")
        await until(lambda: _got(endpoint_id, a.id, 2))
        await out.emit(a.id, "customer.updated")
        await until(lambda: _got(endpoint_id, a.id, 3))

    assert await types_sent(endpoint_id, a.id) == ["product.updated", "product.deleted",
                                                   "customer.updated"]


async def test_two_dispatchers_fan_each_event_of_each_tenant_out_once(
    queue: Queue, app_dsn: str, make_tenant: Any
) -> None:
    a, b = await make_tenant(), await make_tenant()
    ends = {a.id: (await out.endpoint(a.id, "http://127.0.0.1:9/a", ["*"]))[0],
            b.id: (await out.endpoint(b.id, "http://127.0.0.1:9/b", ["*"]))[0]}
    settings = delivery.DeliverySettings(poll_seconds=0.2)
    async with running(Dispatcher(queue, app_dsn, settings)), \
            running(Dispatcher(queue, app_dsn, settings)):
        await asyncio.gather(*(out.emit(t, "product.updated", "order.created")
                               for _ in range(15) for t in (a.id, b.id)))
        for tenant, endpoint_id in ends.items():
            await until(functools.partial(_got, endpoint_id, tenant, 30))

    for tenant, endpoint_id in ends.items():
        rows = await out.rows("select tenant_id, event_seq from outbound_messages"
                              " where endpoint_id = $1 order by event_seq", endpoint_id, tenant_id=tenant)
        assert [r["event_seq"] for r in rows] == list(range(1, 31))
        assert {r["tenant_id"] for r in rows} == {tenant}


def test_a_change_notified_while_the_set_is_read_keeps_the_next_round_full() -> None:
    watch, quiet, new = Watch(poll_seconds=600), uuid.uuid4(), uuid.uuid4()
    first = watch.full_due()
    assert first is not None
    watch.loaded(frozenset(), first)
    assert watch.full_due() is None and not watch.event(str(quiet))

    watch.changed()  # `new` got its first endpoint
    reading = watch.full_due()
    assert reading is not None
    watch.changed()  # another change, which the set read now may predate
    assert watch.event(str(new))
    watch.loaded(frozenset(), reading)

    assert watch.active is None and watch.full_due() is not None
    assert watch.take() == {new}
