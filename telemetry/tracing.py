"""OpenTelemetry traces, off unless OTEL_TRACES_EXPORTER names an exporter.

Configured by the standard variables: OTEL_TRACES_EXPORTER and OTEL_SDK_DISABLED through
Settings, the rest (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES,
OTEL_BSP_*) read by the SDK.
Each process builds one `Tracing` at start-up and hands it to what makes spans. Switched off,
it makes no span object at all: every call site asks `enabled` first, or gets a shared null
context. Trace context crosses processes and layers as a W3C `traceparent` string (plain data:
the inbox row, the job's arguments, the events, the event envelope).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.sdk.trace.sampling import (
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import Link, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from domain import tracing
from domain.config import Settings

TENANT_ID = "tenant.id"
"""The tenant's id (a UUID), on every span of work for a resolved tenant; never caller input."""
TENANT_SLUG = "tenant.slug"
"""The tenant's slug, where the work knows it (requests authenticated by a credential)."""
REQUEST_ID = "request.id"
"""The X-Request-ID (or a job's correlation id): what the log lines of the same work carry."""

_PROPAGATOR = TraceContextTextMapPropagator()
NO_SPAN: contextlib.nullcontext[None] = contextlib.nullcontext()
"""What `Tracing.span` gives when off: a context manager that makes nothing."""


class Tracing:
    """The spans of one process; `Tracing.off()` makes none."""

    def __init__(self, provider: TracerProvider | None) -> None:
        self.provider = provider
        self.enabled = provider is not None
        self._tracer = None if provider is None else provider.get_tracer("tenantgraph")

    @classmethod
    def off(cls) -> Tracing:
        return cls(None)

    @classmethod
    def start(cls, settings: Settings) -> Tracing:
        """As the settings say (OTEL_TRACES_EXPORTER): off by default."""
        if settings.traces_exporter == "none":
            return cls.off()
        ratio = settings.traces_sample_ratio
        if settings.traces_exporter == "console":
            return cls.exporting(ConsoleSpanExporter(), batch=True, ratio=ratio)
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return cls.exporting(OTLPSpanExporter(), batch=True, ratio=ratio)

    @classmethod
    def exporting(cls, exporter: SpanExporter, *, batch: bool = False, ratio: float = 1.0) -> Tracing:
        """Spans to `exporter` (the SDK's in-memory exporter in tests), SQL spans included; of the
        traces that start here, `ratio` are kept."""
        sampler = ParentBased(root=_NoOrphanSql(TraceIdRatioBased(ratio)))
        provider = TracerProvider(resource=Resource.create(), sampler=sampler)
        provider.add_span_processor(_ContextAttributes())
        provider.add_span_processor(BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter))
        from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

        AsyncPGInstrumentor().instrument(tracer_provider=provider)  # type: ignore[no-untyped-call]
        return cls(provider)

    def shutdown(self) -> None:
        """Flush and stop; the asyncpg instrumentation (process-wide) is removed."""
        if self.provider is None:
            return
        from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

        AsyncPGInstrumentor().uninstrument()  # type: ignore[no-untyped-call]
        self.provider.shutdown()

    def span(
        self, name: str, *, parent: str | None = None, kind: SpanKind = SpanKind.INTERNAL,
        links: Iterable[str] = (), attributes: Mapping[str, str | int] | None = None,
    ) -> contextlib.AbstractContextManager[Span | None]:
        """A current span (None when off), child of `parent` (a traceparent) when given and
        valid, else of the current span; `links` are traceparents of related work."""
        if self._tracer is None:
            return NO_SPAN
        return self._tracer.start_as_current_span(  # type: ignore[return-value]
            name, context=_extract(parent) if parent else None, kind=kind,
            links=[link for link in map(_link, links) if link is not None],
            attributes=dict(attributes or {}),
        )

    @contextlib.contextmanager
    def siblings(
        self, name: str, spans: Iterable[tuple[Mapping[str, str | int], Iterable[str]]],
        kind: SpanKind = SpanKind.PRODUCER,
    ) -> Iterator[None]:
        """Several spans open at once around one piece of work, none of them current, each
        (attributes, linked traceparents): one per tenant of a relay batch around the one
        publish they share, so no span holds two tenants' links."""
        if self._tracer is None:
            yield
            return
        tracer = self._tracer
        opened = [
            tracer.start_span(
                name, kind=kind, attributes=dict(attributes),
                links=[link for link in map(_link, links) if link is not None],
            )
            for attributes, links in spans
        ]
        try:
            yield
        finally:
            for span in opened:
                span.end()

    def annotate(self, attributes: Mapping[str, str | int], *, name: str | None = None) -> None:
        """Add to the current span what was learnt after it started (the tenant, once the
        credential is checked; the operation's name), and rename it."""
        if self._tracer is None:
            return
        span = trace.get_current_span()
        span.set_attributes(dict(attributes))
        if name is not None:
            span.update_name(name)

    def enter_tenant(self, tenant_id: object, slug: str | None = None) -> None:
        """The tenant is resolved: the current span, and every span started after it in this
        context (SQL included), carry its id, and its slug when known."""
        if self._tracer is None:
            return
        tracing.for_tenant(tenant_id, slug)
        span = trace.get_current_span()
        span.set_attribute(TENANT_ID, str(tenant_id))
        if slug is not None:
            span.set_attribute(TENANT_SLUG, slug)

    def traceparent(self) -> str | None:
        """The current span as a traceparent, to store or pass on; None when off or outside
        any span."""
        if self._tracer is None:
            return None
        carrier: dict[str, str] = {}
        _PROPAGATOR.inject(carrier)
        return carrier.get("traceparent")


def _extract(traceparent: str) -> Context:
    return _PROPAGATOR.extract({"traceparent": traceparent})


def _link(traceparent: str) -> Link | None:
    context = trace.get_current_span(_extract(traceparent)).get_span_context()
    return Link(context) if context.is_valid else None


class _ContextAttributes(SpanProcessor):
    """Every span gets the resolved tenant (id and slug) and the request id of the work it
    belongs to (domain.tracing), SQL spans included, unless it names its own."""

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        given = span.attributes or {}
        for key, known in _CONTEXT:
            value = known.get()
            if key not in given and value != "-":
                span.set_attribute(key, value)

    def on_end(self, span: ReadableSpan) -> None:
        return None


_CONTEXT = (
    (TENANT_ID, tracing.tenant_id), (TENANT_SLUG, tracing.tenant_slug), (REQUEST_ID, tracing.request_id),
)


class _NoOrphanSql(Sampler):
    """A SQL statement outside any traced work (a relay's poll, a cache refresh) starts no trace
    of its own: a trace per poll would bury the ones that matter. Other work starts a trace as
    `root` decides (a share of them by trace id)."""

    def __init__(self, root: Sampler) -> None:
        self._root = root

    def should_sample(
        self, parent_context: Context | None, trace_id: int, name: str,
        kind: SpanKind | None = None, attributes: Any = None, links: Any = None,
        trace_state: Any = None,
    ) -> SamplingResult:
        if kind == SpanKind.CLIENT:
            return SamplingResult(Decision.DROP)
        return self._root.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)

    def get_description(self) -> str:
        return f"NoOrphanSql{{{self._root.get_description()}}}"

