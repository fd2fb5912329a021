"""Traces in this process, gathered by the SDK's in-memory span exporter: the app under
uvicorn and a SAQ worker (with its relay) run here, on the real PostgreSQL and Redis, so one
trace from a webhook to a WebSocket subscriber can be read whole. Tracing off: no span object,
no trace context written anywhere."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from domain import tenancy
from domain.config import ConfigError, Settings
from server.app import create_app
from server.embedded import free_port
from tables import db
from tables import events as outbox
from telemetry.tracing import Tracing
from tests import live, otlp, tracing
from tests import shop as shops
from tests import webhooks as hooks
from tests.processes import wait_until
from workers import deliveries
from workers.settings import worker

MODULES = tuple(tenancy.MODULES)


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    yield InMemorySpanExporter()


@pytest.fixture
def traced(exporter: InMemorySpanExporter) -> Iterator[Tracing]:
    made = Tracing.exporting(exporter)
    yield made
    made.shutdown()


@pytest.fixture
async def shop(make_tenant: Any) -> shops.Shop:
    return await shops.open_shop(make_tenant, modules=MODULES)


@pytest.fixture
async def other_shop(make_tenant: Any) -> shops.Shop:
    return await shops.open_shop(make_tenant, modules=MODULES)


@contextlib.asynccontextmanager
async def in_process(settings: Settings, traced: Tracing, logs: Path) -> AsyncIterator[live.Api]:
    """The app under uvicorn and a worker (relay included), as tasks of this event loop."""
    redis_url = await live.free_redis(str(settings.redis_url))
    settings = dataclasses.replace(settings, redis_url=redis_url)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(
        create_app(settings, traced), host="127.0.0.1", port=port, log_config=None,
        ws_per_message_deflate=False,
    ))
    jobs = worker(settings, tracing=traced)
    serving = asyncio.create_task(server.serve())
    working = asyncio.create_task(jobs.start())
    try:
        async def started() -> bool:
            return server.started

        await wait_until(started, _Running(serving), logs)
        yield live.Api(_Running(serving), port, logs)  # type: ignore[arg-type]
    finally:
        server.should_exit = True
        await serving
        await jobs.stop()
        working.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await working


class _Running:
    """What tests.processes asks of a process, for a task."""

    def __init__(self, task: asyncio.Task[Any]) -> None:
        self.task = task
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.task.done():
            self.returncode = 1
        return self.returncode


def gatherer(exporter: InMemorySpanExporter) -> Callable[..., Any]:
    async def gathered(found: Callable[[list[otlp.Span]], bool], timeout: float = 15) -> list[otlp.Span]:
        for _ in range(int(timeout * 10)):
            spans = [otlp.from_sdk(span) for span in exporter.get_finished_spans()]
            if found(spans):
                return spans
            await asyncio.sleep(0.1)
        raise AssertionError("spans never matched")

    return gathered


async def test_one_trace_from_a_webhook_to_a_subscriber_in_memory(
    settings: Settings, app_pool: None, traced: Tracing, exporter: InMemorySpanExporter,
    shop: shops.Shop, other_shop: shops.Shop, tmp_path: Path,
) -> None:
    (tmp_path / "app.log").write_text("")
    async with in_process(settings, traced, tmp_path / "app.log") as api:
        sent = await tracing.webhook_to_subscriber(api, shop, other_shop)
        await tracing.check_one_trace(sent, shop, other_shop, gatherer(exporter))


async def test_spans_name_a_tenant_by_id_and_slug_once_resolved_never_by_caller_input(
    settings: Settings, app_pool: None, traced: Tracing, exporter: InMemorySpanExporter, shop: shops.Shop,
) -> None:
    transport = httpx.ASGITransport(app=create_app(settings, traced))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        made_up = await client.post("/webhooks/inventory-flow?tenant=made-up-tenant-ref", content=b"{}",
                                    headers={"content-type": "application/json"})
        stranger = exporter.get_finished_spans()
        secret = await hooks.endpoint(shop.tenant, "inventory-flow")
        body = hooks.encode(hooks.stock("adjust", [("MUG", "main", 4)]))
        hook = await client.post(hooks.url(shop.tenant, "inventory-flow"), content=body,
                                 headers=hooks.sign_standard(secret, body))
        named = {"query": "query Named { __typename }", "operationName": "Named"}
        query = await client.post("/graphql", json=named,
                                  headers={"authorization": f"Bearer {shop.tenant.key}"})
    assert (made_up.status_code, hook.status_code, query.status_code) == (404, 202, 200)

    spans = exporter.get_finished_spans()
    assert stranger and not any("made-up-tenant-ref" in str(s.attributes) for s in spans)
    assert not any(key.startswith("tenant") for s in stranger for key in s.attributes or {})
    assert not any("tenant" in (s.attributes or {}) for s in spans), "one name: tenant.id"
    servers = [s for s in spans[len(stranger):] if s.kind == SpanKind.SERVER]
    assert [s.name for s in servers] == ["POST /webhooks/{flow}", "graphql Named"]
    for server in servers:
        assert server.attributes is not None
        assert server.attributes["tenant.id"] == str(shop.id)
        assert server.attributes["tenant.slug"] == shop.tenant.slug


async def test_tracing_off_makes_no_span_and_writes_no_trace_context(
    client: httpx.AsyncClient, shop: shops.Shop,
) -> None:
    off = Tracing.off()
    with off.span("anything", parent=tracing.traceparent()[2]) as span:
        assert span is None
    assert off.traceparent() is None
    assert not AsyncPGInstrumentor().is_instrumented_by_opentelemetry

    trace_id, _, header = tracing.traceparent()
    secret = await hooks.endpoint(shop.tenant, "inventory-flow")
    body = hooks.encode(hooks.stock("adjust", [("MUG", "main", 4)]))
    response = await client.post(
        hooks.url(shop.tenant, "inventory-flow"), content=body,
        headers={**hooks.sign_standard(secret, body), "traceparent": header},
    )
    assert response.status_code == 202, response.text
    assert await tracing.inbox_traceparent(shop) is None
    assert await deliveries.drain({}, shop.id, "inventory-flow", 50, None) == 1
    made = await outbox.list_events(tenant_id=shop.id, after_seq=shop.seeded_seq)
    assert made and all(event.traceparent is None for event in made)


def test_tracing_is_off_unless_an_exporter_is_named_and_the_sdk_is_not_disabled() -> None:
    assert Settings.from_env({}).traces_exporter == "none"
    assert Settings.from_env({"OTEL_TRACES_EXPORTER": "otlp"}).traces_exporter == "otlp"
    disabled = {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "true"}
    assert Settings.from_env(disabled).traces_exporter == "none"
    assert not Tracing.start(Settings.from_env({})).enabled


async def test_a_batch_continues_its_first_traced_deliverys_trace_and_links_the_others(
    app_pool: None, shop: shops.Shop, traced: Tracing, exporter: InMemorySpanExporter
) -> None:
    headers = [tracing.traceparent() for _ in range(2)]
    for n, (_, _, header) in enumerate(headers):
        stored = await hooks.store(
            tenant_id=shop.id, flow="inventory-flow", delivery_id=hooks.new_msg_id(),
            payload=hooks.stock("adjust", [("MUG", "main", n + 1)]), correlation_id=f"traced-{n}",
        )
        async with db.transaction(tenant_id=shop.id) as tx:
            await tx.connection.execute(
                "update webhook_inbox set traceparent = $2 where id = $1", stored.id, header
            )

    assert await deliveries.drain({"tracing": traced}, shop.id, "inventory-flow", 50, None) == 2

    [job] = [s for s in exporter.get_finished_spans() if s.kind == SpanKind.CONSUMER]
    assert job.name == f"job {deliveries.JOB}" and job.parent is not None
    assert (format(job.context.trace_id, "032x"), format(job.parent.span_id, "016x")) == headers[0][:2]
    assert [format(link.context.trace_id, "032x") for link in job.links] == [headers[1][0]]
    written = await outbox.list_events(tenant_id=shop.id, after_seq=shop.seeded_seq)
    by_correlation = {event.correlation_id: event.traceparent for event in written}
    own_span = f"00-{headers[0][0]}-{format(job.context.span_id, '016x')}-01"
    assert by_correlation == {"traced-0": own_span, "traced-1": headers[1][2]}


def test_the_share_of_traces_kept_is_the_standard_samplers_ratio() -> None:
    def ratio(**env: str) -> float:
        return Settings.from_env(env).traces_sample_ratio

    assert ratio() == 1.0
    assert ratio(OTEL_TRACES_SAMPLER="parentbased_traceidratio", OTEL_TRACES_SAMPLER_ARG="0.1") == 0.1
    assert ratio(OTEL_TRACES_SAMPLER="traceidratio") == 1.0
    assert ratio(OTEL_TRACES_SAMPLER="always_off") == 0.0
    assert ratio(OTEL_TRACES_SAMPLER_ARG="0.1") == 1.0
    with pytest.raises(ConfigError, match="OTEL_TRACES_SAMPLER_ARG"):
        ratio(OTEL_TRACES_SAMPLER="traceidratio", OTEL_TRACES_SAMPLER_ARG="2")
    with pytest.raises(ConfigError, match="OTEL_TRACES_SAMPLER"):
        ratio(OTEL_TRACES_SAMPLER="jaeger_remote")


def test_a_ratio_keeps_that_share_of_new_traces_and_follows_every_sampled_caller(
    exporter: InMemorySpanExporter,
) -> None:
    sampled = Tracing.exporting(exporter, ratio=0.25)
    try:
        for _ in range(2000):
            with sampled.span("new"):
                pass
        kept = len(exporter.get_finished_spans())
        for _ in range(50):
            with sampled.span("continued", parent=tracing.traceparent()[2]):
                pass
        continued = [s for s in exporter.get_finished_spans() if s.name == "continued"]
    finally:
        sampled.shutdown()

    assert 350 <= kept <= 650
    assert len(continued) == 50
