"""Webhooks out, storage: fan-out exactly once per (event, endpoint) under the tenant's cursor,
claims in sequence order with a lease, and nothing of one tenant reachable with another's id."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from domain import outbound
from domain import outbound_delivery as delivery
from tables import outbound_messages as messages
from tests import outbound as out


async def test_dispatch_fans_out_once_to_matching_endpoints_of_the_tenant_only(
    make_tenant: Any,
) -> None:
    a, b = await make_tenant(), await make_tenant()
    every, _ = await out.endpoint(a.id, "http://127.0.0.1:9/every", ["*"])
    products, _ = await out.endpoint(a.id, "http://127.0.0.1:9/p", ["product.*"])
    await out.endpoint(a.id, "http://127.0.0.1:9/off", ["*"], enabled=False)
    theirs, _ = await out.endpoint(b.id, "http://127.0.0.1:9/b", ["*"])
    await out.emit(a.id, "product.created", "order.created", "customer.created")
    results = await asyncio.gather(*(
        messages.dispatch(tenant_id=a.id, limit=100, match=outbound.matches) for _ in range(4)
    ))
    assert sorted(read for read, _ in results) == [0, 0, 0, 3]
    assert {e for _, woken in results for e in woken} == {every, products}
    rows = await out.rows("select endpoint_id, event_type, event_seq from outbound_messages"
                          " order by endpoint_id, event_seq", tenant_id=a.id)
    assert sorted((r["endpoint_id"], r["event_type"]) for r in rows) == sorted(
        [(every, "product.created"), (every, "order.created"), (every, "customer.created"),
         (products, "product.created")]
    )
    assert await out.rows("select 1 from outbound_messages", tenant_id=b.id) == []
    assert await messages.dispatch(tenant_id=a.id, limit=100, match=outbound.matches) == (0, [])
    assert (await out.row("select last_seq from outbound_cursors where tenant_id = $1", a.id,
                          tenant_id=a.id))["last_seq"] == 3
    assert await messages.target(endpoint_id=every, tenant_id=b.id) is None
    assert await messages.claim(endpoint_id=every, tenant_id=b.id, limit=10, lease_seconds=5,
                                ordered_attempts=3) == []
    due = await messages.due_endpoints()
    assert (a.id, every) in due and not any(endpoint == theirs for _, endpoint in due)


async def test_an_endpoint_gets_only_events_written_after_it_was_created(make_tenant: Any) -> None:
    a = await make_tenant()
    await out.emit(a.id, "product.created")
    endpoint_id, _ = await out.endpoint(a.id, "http://127.0.0.1:9/late", ["*"])
    await out.emit(a.id, "product.updated")
    await messages.dispatch(tenant_id=a.id, limit=100, match=outbound.matches)
    rows = await out.rows("select event_type from outbound_messages where endpoint_id = $1",
                          endpoint_id, tenant_id=a.id)
    assert [r["event_type"] for r in rows] == ["product.updated"]


async def test_claims_go_in_sequence_order_under_a_lease(make_tenant: Any) -> None:
    a = await make_tenant()
    endpoint_id, _ = await out.endpoint(a.id, "http://127.0.0.1:9/x", ["*"])
    await out.emit(a.id, *["product.updated"] * 3)
    await messages.dispatch(tenant_id=a.id, limit=100, match=outbound.matches)
    test_id = await messages.add_test(endpoint_id=endpoint_id, tenant_id=a.id, at=datetime.now(UTC))

    async def claim(limit: int) -> list[messages.Claimed]:
        return await messages.claim(endpoint_id=endpoint_id, tenant_id=a.id, limit=limit,
                                    lease_seconds=60, ordered_attempts=3)

    first = await claim(2)
    assert [c.msg_id for c in first][0] == test_id and first[1].event_seq == 1
    second = await claim(10)
    assert [c.event_seq for c in second] == [2, 3]
    assert await claim(10) == []
    assert first[1].msg_id == delivery.message_id(endpoint_id, 1)


async def test_a_tenant_without_endpoints_has_its_cursor_moved_without_reading_its_events(
    make_tenant: Any,
) -> None:
    a = await make_tenant()
    await out.emit(a.id, "product.created", "product.updated")

    assert await messages.dispatch(tenant_id=a.id, limit=100, match=outbound.matches) == (0, [])
    cursor = await out.row("select last_seq from outbound_cursors where tenant_id = $1", a.id,
                           tenant_id=a.id)
    endpoint_id, _ = await out.endpoint(a.id, "http://127.0.0.1:9/new", ["*"])
    await out.emit(a.id, "product.deleted")
    read, woken = await messages.dispatch(tenant_id=a.id, limit=100, match=outbound.matches)

    assert cursor["last_seq"] == 2
    assert (read, woken) == (1, [endpoint_id])
