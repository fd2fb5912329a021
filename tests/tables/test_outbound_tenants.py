"""Webhooks out, which tenants the dispatcher looks at: those with enabled endpoints (and which
of them are behind); a change of a tenant's enabled endpoints is notified with its id, and
enabling an endpoint while the tenant has no other moves only that tenant's cursor past its
committed events."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

import asyncpg

from domain import outbound
from tables import outbound_messages as messages
from tests import outbound as out


async def cursor(tenant_id: UUID) -> int | None:
    row = await out.row("select last_seq from outbound_cursors where tenant_id = $1", tenant_id,
                        tenant_id=tenant_id)
    return None if row is None else int(row["last_seq"])


async def test_active_tenants_are_those_with_enabled_endpoints_and_behind_when_events_wait(
    make_tenant: Any,
) -> None:
    on, off, none = await make_tenant(), await make_tenant(), await make_tenant()
    await out.endpoint(on.id, "http://127.0.0.1:9/on", ["*"])
    await out.endpoint(off.id, "http://127.0.0.1:9/off", ["*"], enabled=False)
    for tenant in (on, off, none):
        await out.emit(tenant.id, "product.created")

    active = await messages.active_tenants()
    assert on.id in active.tenants and on.id in active.behind
    assert not {off.id, none.id} & active.tenants

    await messages.dispatch(tenant_id=on.id, limit=100, match=outbound.matches)
    assert on.id not in (await messages.active_tenants()).behind


async def test_enabling_the_only_enabled_endpoint_moves_only_its_tenants_cursor(
    make_tenant: Any,
) -> None:
    a, b = await make_tenant(), await make_tenant()
    first, _ = await out.endpoint(a.id, "http://127.0.0.1:9/first", ["*"], enabled=False)
    await out.emit(a.id, "product.created", "product.updated")
    await out.emit(b.id, "product.created")
    assert (await cursor(a.id), await cursor(b.id)) == (None, None)

    await out.row("update outbound_endpoints set enabled = true where id = $1 returning id", first,
                  tenant_id=a.id)
    assert (await cursor(a.id), await cursor(b.id)) == (2, None)

    await out.emit(a.id, "product.deleted")
    await out.endpoint(a.id, "http://127.0.0.1:9/second", ["*"])  # a new one: no move
    assert await cursor(a.id) == 2
    read, woken = await messages.dispatch(tenant_id=a.id, limit=100, match=outbound.matches)
    assert read == 1 and first in woken


async def test_enabled_endpoint_changes_are_notified_with_the_tenant_only(
    app_conn: asyncpg.Connection, make_tenant: Any
) -> None:
    a = await make_tenant()
    heard: asyncio.Queue[str] = asyncio.Queue()
    await app_conn.add_listener("tg_outbound_endpoints", lambda *args: heard.put_nowait(args[3]))

    endpoint_id, _ = await out.endpoint(a.id, "http://127.0.0.1:9/n", ["*"])
    await out.row("update outbound_endpoints set failing_since = now(), enabled = true"
                  " where id = $1 returning id", endpoint_id, tenant_id=a.id)  # enabled unchanged
    await out.row("update outbound_endpoints set enabled = false where id = $1 returning id",
                  endpoint_id, tenant_id=a.id)
    await out.row("delete from outbound_endpoints where id = $1 returning id", endpoint_id,
                  tenant_id=a.id)  # a disabled endpoint's deletion changes nothing
    await out.endpoint(a.id, "http://127.0.0.1:9/off", ["*"], enabled=False)
    await out.emit(a.id, "product.created")  # tg_events, not this channel

    async with asyncio.timeout(10):
        got = [await heard.get(), await heard.get()]
    await asyncio.sleep(0.5)  # anything extra would have arrived now
    assert got == [str(a.id), str(a.id)] and heard.empty()
