"""One trace from a webhook to a subscriber, gathered from real processes: `tenantgraph serve`
and `tenantgraph worker` (whose relay publishes the outbox) export their spans over OTLP/HTTP
(OTEL_TRACES_EXPORTER=otlp) to a receiver in this test, which decodes them as a collector
would. The sender's `traceparent` is continued by the request, stored with the inbox row,
continued by the job and its SQL, stored with the events, and linked from the relay's publish
and from the push to the WebSocket subscriber; another tenant's spans never touch it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from domain import tenancy
from tables import events as outbox
from tests import live, otlp, tracing
from tests import shop as shops

MODULES = tuple(tenancy.MODULES)
SERVER = tracing.SERVER


@pytest.fixture(scope="module")
def receiver() -> Iterator[otlp.Receiver]:
    with otlp.receiving() as made:
        yield made


@pytest.fixture(scope="module")
async def stack(
    server_env: dict[str, str], tmp_path_factory: Any, receiver: otlp.Receiver
) -> AsyncIterator[live.Stack]:
    async with live.stack(
        server_env, tmp_path_factory.mktemp("tracing"), env=receiver.env("tenantgraph")
    ) as made:
        yield made


@pytest.fixture
async def shop(make_tenant: Any) -> shops.Shop:
    return await shops.open_shop(make_tenant, modules=MODULES)


@pytest.fixture
async def other_shop(make_tenant: Any) -> shops.Shop:
    return await shops.open_shop(make_tenant, modules=MODULES)


async def test_one_trace_from_a_webhook_through_its_job_and_sql_to_the_subscriber(
    stack: live.Stack, receiver: otlp.Receiver, shop: shops.Shop, other_shop: shops.Shop
) -> None:
    sent = await tracing.webhook_to_subscriber(stack.api, shop, other_shop)
    await tracing.check_one_trace(sent, shop, other_shop, receiver.wait_for)


async def test_a_graphql_operation_continues_the_callers_trace_with_tenant_and_name(
    stack: live.Stack, receiver: otlp.Receiver, shop: shops.Shop
) -> None:
    trace_id, sender_span, header = tracing.traceparent()
    await tracing.adjust(stack.api, shop, {"traceparent": header, "x-request-id": "gql-trace-1"})

    spans = await receiver.wait_for(
        lambda found: any(s.trace_id == trace_id and s.kind == SERVER for s in found)
    )
    [operation] = [s for s in spans if s.trace_id == trace_id and s.kind == SERVER]
    assert operation.name == "graphql AdjustStock"
    assert operation.parent_id == sender_span
    assert operation.attributes["graphql.operation.name"] == "AdjustStock"
    assert operation.attributes["tenant.id"] == str(shop.id)
    assert operation.attributes["tenant.slug"] == shop.tenant.slug
    assert operation.attributes["request.id"] == "gql-trace-1"
    [event] = await outbox.list_events(tenant_id=shop.id, after_seq=shop.seeded_seq)
    assert event.traceparent is not None and event.traceparent.startswith(f"00-{trace_id}-")


async def test_without_a_traceparent_a_request_starts_a_new_trace(
    stack: live.Stack, receiver: otlp.Receiver, shop: shops.Shop
) -> None:
    await tracing.adjust(stack.api, shop, {"x-request-id": "fresh-trace-1"})

    def found(spans: list[otlp.Span]) -> bool:
        return any(s.attributes.get("request.id") == "fresh-trace-1" and s.kind == SERVER for s in spans)

    spans = await receiver.wait_for(found)
    [operation] = [s for s in spans if s.attributes.get("request.id") == "fresh-trace-1" and s.kind == SERVER]
    assert operation.parent_id == ""
    assert len(operation.trace_id) == 32 and int(operation.trace_id, 16) != 0
    assert sum(s.trace_id == operation.trace_id and s.kind == SERVER for s in spans) == 1
