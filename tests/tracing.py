"""The scenario of the tracing tests, run against real processes (spans exported over OTLP)
and against the app and worker in this process (spans in the SDK's in-memory exporter): a
webhook with a sender's `traceparent`, its job, its SQL, its event pushed to a WebSocket
subscriber, and another tenant listening meanwhile."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Awaitable, Callable

import httpx

from domain import tenancy
from tables import db
from tables import events as outbox
from tests import live, otlp
from tests import shop as shops
from tests import webhooks as hooks

MODULES = tuple(tenancy.MODULES)
SERVER, CLIENT, PRODUCER, CONSUMER = 2, 3, 4, 5
"""OTLP span kinds."""
EVENTS = "subscription { events { cursor type } }"
EVENTS_AFTER = "subscription Own($after: String) { events(after: $after) { cursor type } }"
"""With `after`, a subscription has a stream of its own (not shared)."""
ADJUST_STOCK = """
mutation AdjustStock($input: AdjustStockInput!) { adjustStock(input: $input) { errors { code } } }
"""


def traceparent() -> tuple[str, str, str]:
    """A sender's trace id, span id and the header carrying them."""
    trace_id, span_id = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    return trace_id, span_id, f"00-{trace_id}-{span_id}-01"


async def adjust(api: live.Api, shop: shops.Shop, headers: dict[str, str] | None = None) -> None:
    """A named mutation over HTTP (with its operationName, as GraphQL clients send it)."""
    variables = {"input": {
        "sku": "MUG", "locationId": str(shop.location_id), "delta": 1, "reason": "RECEIVED",
    }}
    async with httpx.AsyncClient(base_url=api.url, timeout=20) as http:
        response = await http.post(
            "/graphql",
            json={"query": ADJUST_STOCK, "variables": variables, "operationName": "AdjustStock"},
            headers={"authorization": f"Bearer {shop.tenant.key}", **(headers or {})},
        )
    assert response.json() == {"data": {"adjustStock": {"errors": []}}}, response.text


async def live_events(api: live.Api, shop: shops.Shop, socket: live.Socket) -> None:
    """Subscribe "1" (a shared stream: no `after`) and wait until a change reaches it; then
    "2" from the last cursor (a stream of its own), given a moment to read its history."""
    await socket.subscribe("1", EVENTS)
    for _ in range(50):
        await adjust(api, shop)
        found = [m for m in await socket.quiet(0.2) if m.get("type") == "next"]
        if found:
            last = max(int(m["payload"]["data"]["events"]["cursor"]) for m in found)
            await socket.subscribe("2", EVENTS_AFTER, {"after": str(last)})
            await asyncio.sleep(1.0)
            assert await socket.quiet(0.2) == []
            return
    raise AssertionError("the subscription never went live")


async def inbox_traceparent(shop: shops.Shop) -> str | None:
    async with db.transaction(tenant_id=shop.id) as tx:
        value: str | None = await tx.connection.fetchval(
            "select traceparent from webhook_inbox where tenant_id = $1", shop.id
        )
    return value


def descends(span: otlp.Span, ancestor: otlp.Span, spans: list[otlp.Span]) -> bool:
    by_id = {s.span_id: s for s in spans}
    current: otlp.Span | None = span
    while current is not None:
        if current.parent_id == ancestor.span_id:
            return True
        current = by_id.get(current.parent_id)
    return False


@dataclasses.dataclass(frozen=True)
class Sent:
    trace_id: str
    sender_span: str


async def webhook_to_subscriber(api: live.Api, shop: shops.Shop, other_shop: shops.Shop) -> Sent:
    """Both shops subscribe; the shop gets an inventory delivery carrying a traceparent, and its
    subscriber the event (with no trace context in it); the other shop's subscriber nothing."""
    trace_id, sender_span, header = traceparent()
    async with live.connect(api, tenant=shop.tenant.slug, key=shop.tenant.key) as mine, \
            live.connect(api, tenant=other_shop.tenant.slug, key=other_shop.tenant.key) as theirs:
        await live_events(api, shop, mine)
        await live_events(api, other_shop, theirs)

        secret = await hooks.endpoint(shop.tenant, "inventory-flow")
        body = hooks.encode(hooks.stock("adjust", [("MUG", "main", 4)]))
        async with httpx.AsyncClient(base_url=api.url, timeout=10) as http:
            response = await http.post(
                hooks.url(shop.tenant, "inventory-flow"), content=body,
                headers={**hooks.sign_standard(secret, body), "traceparent": header,
                         "x-request-id": "trace-me-1"},
            )
        assert response.status_code == 202, response.text
        [shared] = await mine.results("1", 1)
        [own] = await mine.results("2", 1)
        for pushed in (shared, own):
            assert pushed["data"]["events"]["type"] == "inventory.adjusted"
            assert "traceparent" not in str(pushed) and trace_id not in str(pushed)
        assert await theirs.quiet(0.5) == []

    return Sent(trace_id, sender_span)


async def check_one_trace(
    sent: Sent, shop: shops.Shop, other_shop: shops.Shop,
    gathered: Callable[[Callable[[list[otlp.Span]], bool]], Awaitable[list[otlp.Span]]],
) -> None:
    """One trace: request, job, SQL (the job's writes the events), each span of it with the
    tenant; the inbox row and the event carry it; the relay's publish and the push link it;
    the other tenant's spans never touch it."""
    trace_id, sender_span = sent.trace_id, sent.sender_span
    tenant, other = str(shop.id), str(other_shop.id)

    def complete(spans: list[otlp.Span]) -> bool:
        return sum(s.name == "subscription push" and trace_id in s.linked_traces for s in spans) >= 2

    spans = await gathered(complete)
    trace = [s for s in spans if s.trace_id == trace_id]
    [request] = [s for s in trace if s.kind == SERVER]
    [job] = [s for s in trace if s.kind == CONSUMER]
    sql = [s for s in trace if s.kind == CLIENT]

    assert (request.name, request.parent_id) == ("POST /webhooks/{flow}", sender_span)
    assert request.attributes["request.id"] == "trace-me-1"
    assert (job.name, job.parent_id) == ("job apply_deliveries", request.span_id)
    assert any(s.parent_id == request.span_id for s in sql), "the inbox insert"
    job_sql = [s for s in sql if descends(s, job, trace)]
    assert any("insert into events" in str(s.attributes) for s in job_sql), job_sql
    # Until the endpoint is found (a lookup across tenants), no span names a tenant; after,
    # every one names it by id, never by what the URL said.
    assert {s.attributes.get("tenant.id") for s in trace} <= {tenant, None}
    assert {s.attributes.get("tenant.id") for s in trace if s.kind != CLIENT} == {tenant}
    assert request.attributes["tenant.slug"] == shop.tenant.slug
    assert not any("tenant" in s.attributes for s in trace)

    assert await inbox_traceparent(shop) == f"00-{trace_id}-{request.span_id}-01"
    [event] = await outbox.list_events(tenant_id=shop.id, types=["inventory.adjusted"],
                                       after_seq=shop.seeded_seq, actor="webhook:inventory-flow")
    assert event.traceparent == f"00-{trace_id}-{job.span_id}-01"

    [publish] = [s for s in spans if s.name == "outbox publish" and trace_id in s.linked_traces]
    pushes = [s for s in spans if s.name == "subscription push" and trace_id in s.linked_traces]
    assert len(pushes) == 2, "the shared stream's push and the own stream's"
    for linked in (publish, *pushes):
        assert linked.links == ((trace_id, job.span_id),)
        assert linked.attributes["tenant.id"] == tenant
    assert {s.kind for s in (publish, *pushes)} == {PRODUCER}

    theirs_spans = [s for s in spans if s.attributes.get("tenant.id") == other]
    assert theirs_spans, "the other tenant's own changes are traced too"
    assert all(trace_id not in s.linked_traces and s.trace_id != trace_id for s in theirs_spans)


