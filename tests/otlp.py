"""A small OTLP/HTTP trace receiver for the tests: real processes export their spans to it
(OTEL_TRACES_EXPORTER=otlp), and it decodes them with the protobuf classes of
opentelemetry-proto, as a collector would."""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.sdk.trace import ReadableSpan


@dataclasses.dataclass(frozen=True)
class Span:
    service: str
    name: str
    kind: int
    trace_id: str
    span_id: str
    parent_id: str
    attributes: dict[str, Any]
    links: tuple[tuple[str, str], ...]
    """(trace id, span id) of each linked span."""

    @property
    def linked_traces(self) -> set[str]:
        return {trace for trace, _ in self.links}


def from_sdk(span: ReadableSpan) -> Span:
    """A span of the SDK (the in-memory exporter's) as the receiver decodes one."""
    context, parent = span.context, span.parent
    assert context is not None
    return Span(
        service=str(span.resource.attributes.get("service.name", "")),
        name=span.name,
        kind=span.kind.value + 1,  # OTLP numbers kinds from 1 (INTERNAL); the API from 0
        trace_id=f"{context.trace_id:032x}",
        span_id=f"{context.span_id:016x}",
        parent_id="" if parent is None else f"{parent.span_id:016x}",
        attributes=dict(span.attributes or {}),
        links=tuple((f"{link.context.trace_id:032x}", f"{link.context.span_id:016x}") for link in span.links),
    )


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    return None if kind is None else getattr(value, kind)


def decode(body: bytes) -> list[Span]:
    request = ExportTraceServiceRequest.FromString(body)
    spans = []
    for resource_spans in request.resource_spans:
        resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append(Span(
                    service=str(resource.get("service.name", "")),
                    name=span.name,
                    kind=span.kind,
                    trace_id=span.trace_id.hex(),
                    span_id=span.span_id.hex(),
                    parent_id=span.parent_span_id.hex(),
                    attributes={a.key: _value(a.value) for a in span.attributes},
                    links=tuple((link.trace_id.hex(), link.span_id.hex()) for link in span.links),
                ))
    return spans


class Receiver:
    """Gathers every span posted to `endpoint` (OTEL_EXPORTER_OTLP_ENDPOINT)."""

    def __init__(self) -> None:
        self.spans: list[Span] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                found = decode(body) if self.path == "/v1/traces" else []
                with receiver._lock:
                    receiver.spans.extend(found)
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200 if self.path == "/v1/traces" else 404)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def env(self, service: str) -> dict[str, str]:
        """What a process needs to export its spans here, soon after they end."""
        return {
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_ENDPOINT": self.endpoint,
            "OTEL_SERVICE_NAME": service,
            "OTEL_BSP_SCHEDULE_DELAY": "50",
        }

    def gathered(self) -> list[Span]:
        with self._lock:
            return list(self.spans)

    async def wait_for(self, found: Callable[[list[Span]], bool], timeout: float = 15) -> list[Span]:
        import asyncio

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            spans = self.gathered()
            if found(spans):
                return spans
            await asyncio.sleep(0.1)
        raise AssertionError(f"spans never matched; got {[(s.service, s.name) for s in self.gathered()]}")


@contextlib.contextmanager
def receiving() -> Iterator[Receiver]:
    receiver = Receiver()
    thread = threading.Thread(target=receiver._server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver._server.shutdown()
        receiver._server.server_close()
