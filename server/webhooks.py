"""POST /webhooks/{flow}: verify, store once in the inbox, enqueue, answer 202 — fast and durable.

The tenant is named by the URL: `?tenant=<slug or id>` (or the X-Tenant-ID header), so every
tenant's endpoint has its own address. GET answers the Meta-style verification handshake.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time

import orjson
from opentelemetry.trace import SpanKind
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from domain import flows, webhooks
from domain.config import Settings
from domain.errors import BadRequest, DomainError, Invalid
from resolvers.context import Jobs
from schema import outage
from server import logging as logs
from server import operation, prometheus, unavailable
from server.problems import from_error, problem
from server.refusals import Refused, client_address, problem_of
from server.request_limits import WebhookLimits
from tables import webhooks as webhook_tables
from telemetry import metrics, tracing
from telemetry.tracing import Tracing

log = logging.getLogger("tenantgraph.webhooks")


ENDPOINTS_HELD = 4096
"""Endpoints each process keeps in memory (found ones only; the oldest is dropped first)."""


class WebhookEndpoint:
    def __init__(
        self, settings: Settings, jobs: Jobs, tracing: Tracing | None = None,
        limits: WebhookLimits | None = None,
    ) -> None:
        self.settings = settings
        self.jobs = jobs
        self.tracing = tracing or Tracing.off()
        self.endpoints = _Endpoints(ENDPOINTS_HELD)
        self.limits = limits or WebhookLimits(None, settings)

    async def receive(self, request: Request) -> Response:
        correlation_id = operation.request_id(request)
        logs.request_id.set(correlation_id)
        started = time.perf_counter()
        try:
            if self.tracing.enabled:
                response = await self._traced(request, correlation_id)
            else:
                response = await self._receive(request, correlation_id)
            response = await self._count_failure(request, response)
        except Exception as error:
            if not outage.is_outage(error):
                raise
            log.warning("dependency unavailable: %r", error)
            response = unavailable.problem(outage.unavailable(error, correlation_id), correlation_id)
        metrics.observe_delivery(
            request.path_params["flow"], request.scope.get(prometheus.TENANT_KEY), response.status_code
        )
        log.info("POST %s %d %.1fms", request.url.path, response.status_code,
                 (time.perf_counter() - started) * 1000)
        return response

    async def _traced(self, request: Request, correlation_id: str) -> Response:
        """The delivery in a server span, continuing the sender's `traceparent` if it sent one.
        It names a tenant only once the endpoint is found (never as the URL names it)."""
        with self.tracing.span(
            "POST /webhooks/{flow}", parent=request.headers.get("traceparent"), kind=SpanKind.SERVER,
            attributes={"http.route": "/webhooks/{flow}", "webhook.flow": request.path_params["flow"],
                        tracing.REQUEST_ID: correlation_id},
        ):
            response = await self._receive(request, correlation_id)
            self.tracing.annotate({"http.response.status_code": response.status_code})
        return response

    async def _receive(self, request: Request, correlation_id: str) -> Response:
        flow = request.path_params["flow"]
        key = (_tenant_ref(request), flow)
        held = self.endpoints.get(key)
        endpoint = held or await self._endpoint(request, flow)
        if isinstance(endpoint, Response):
            return endpoint
        logs.tenant.set(str(endpoint.tenant_id))
        self.tracing.enter_tenant(endpoint.tenant_id, endpoint.tenant_slug)
        body = await self._body(request)
        response = await self._deliver(endpoint, request, body, correlation_id)
        if held is None or (response is not None and _final(response.status_code)):
            return response or _changed()
        # The endpoint held in memory may be out of date: a refusal, or a store the database
        # refused because the endpoint changed, is decided again on a fresh read.
        self.endpoints.forget(key)
        fresh = await self._endpoint(request, flow)
        if isinstance(fresh, Response):
            return fresh
        return await self._deliver(fresh, request, body, correlation_id) or _changed()

    async def _body(self, request: Request) -> bytes | Response:
        limit = self.settings.webhook_max_body_bytes
        if operation.declared_over(request.headers.get("content-length", ""), limit):
            return _too_large(limit)
        if operation.media_type(request) != "application/json":
            return problem(415, "Unsupported media type", "send the delivery as application/json")
        try:
            return await operation.read_capped(request, limit)
        except operation.PayloadTooLarge:
            return _too_large(limit)
        except BadRequest:
            return problem(400, "Bad request", "the client disconnected before the whole body")

    async def _deliver(
        self, endpoint: webhooks.Endpoint, request: Request, body: bytes | Response,
        correlation_id: str,
    ) -> Response | None:
        """The answer to a delivery; None when the endpoint changed since it was read."""
        if isinstance(body, Response):
            return body
        try:
            signed = webhooks.verify(request.headers, body, endpoint.secrets, now=time.time())
            # Only a verified sender labels its request with a tenant (and takes a label slot).
            prometheus.note_tenant(request.scope, endpoint.tenant_slug)
            payload = _json(body)
            flows.parse(endpoint.flow, payload)
        except Invalid as error:
            return from_error(error, status=422, title="Unprocessable delivery")
        except DomainError as error:
            return from_error(error, title="Invalid signature")
        try:  # only now: a delivery that does not verify must not spend the endpoint's budget
            await self.limits.take(endpoint)
        except Refused as error:
            return problem_of(error)
        return await self._accept(endpoint, signed, payload, correlation_id)

    async def _accept(
        self, endpoint: webhooks.Endpoint, signed: webhooks.Signed, payload: object,
        correlation_id: str,
    ) -> Response | None:
        traceparent = self.tracing.traceparent()
        receipt = await webhook_tables.accept_signed(
            endpoint, delivery_id=signed.delivery_id, payload=orjson.dumps(payload).decode(),
            correlation_id=correlation_id,
            replay_window=self.settings.webhook_replay_window if signed.by_body else None,
            traceparent=traceparent,
        )
        if receipt is None:
            return None
        if not receipt.created:
            return _answer({"id": str(receipt.id), "status": receipt.status.value}, 200)
        try:
            # Durable once the row committed: a slow Redis must not hold the answer.
            async with asyncio.timeout(self.settings.redis_timeout or None):
                await self.jobs.wake_deliveries(tenant_id=endpoint.tenant_id, flow=endpoint.flow)
        except Exception:  # noqa: BLE001 - the row is committed; the workers' poll finds it
            metrics.REDIS_ERRORS.labels("enqueue").inc()
            log.warning("wake-up failed for delivery %s; the workers' poll applies it", receipt.id,
                        exc_info=True)
        return _answer({"id": str(receipt.id), "status": "queued"}, 202)

    async def handshake(self, request: Request) -> Response:
        """Meta-style subscription check: echo hub.challenge when hub.verify_token matches."""
        endpoint = await self._endpoint(request, request.path_params["flow"])
        if isinstance(endpoint, Response):
            return endpoint
        params = request.query_params
        token = endpoint.verify_token
        if params.get("hub.mode") != "subscribe" or not token or not _same(
            params.get("hub.verify_token", ""), token
        ):
            return problem(403, "Forbidden", "hub.mode or hub.verify_token does not match")
        return PlainTextResponse(params.get("hub.challenge", ""))

    async def _endpoint(self, request: Request, flow: str) -> webhooks.Endpoint | Response:
        if flow not in webhooks.FLOWS:
            return problem(404, "Not found", f"unknown flow {flow!r}")
        tenant = _tenant_ref(request)
        if not tenant:
            return problem(404, "Not found", "name the tenant: ?tenant=<slug> or X-Tenant-ID")
        try:  # bad signatures and unknown endpoints from this address: no lookup past the limit
            await self.limits.failures.check(self.limits.failures.of(client_address(request.scope)))
        except Refused as error:
            return problem_of(error)
        endpoint = await webhook_tables.find_endpoint(tenant, flow)
        if endpoint is None or not endpoint.enabled:
            return problem(404, "Not found", f"no enabled {flow} endpoint for this tenant")
        self.endpoints.put((tenant, flow), endpoint)
        return endpoint

    async def _count_failure(self, request: Request, response: Response) -> Response:
        """A bad signature (401) or a delivery to no endpoint (404) counts as a failed
        authentication of the client's address; the one over its limit is a 429."""
        if response.status_code not in (401, 404):
            return response
        try:
            await self.limits.failures.failed(self.limits.failures.of(client_address(request.scope)))
        except Refused as error:
            return problem_of(error)
        return response


class _Endpoints:
    """Enabled endpoints by (tenant as the request names it, flow), as last read. Only a hint:
    the inbox stores nothing unless the endpoint still holds the secrets read (accept_signed)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.found: dict[tuple[str, str], webhooks.Endpoint] = {}

    def get(self, key: tuple[str, str]) -> webhooks.Endpoint | None:
        return self.found.get(key)

    def put(self, key: tuple[str, str], endpoint: webhooks.Endpoint) -> None:
        if key not in self.found and len(self.found) >= self.size:
            del self.found[next(iter(self.found))]
        self.found[key] = endpoint

    def forget(self, key: tuple[str, str]) -> None:
        self.found.pop(key, None)


def _tenant_ref(request: Request) -> str:
    return request.query_params.get("tenant") or request.headers.get("x-tenant-id") or ""


def _final(status: int) -> bool:
    """Whether an answer from the endpoint held in memory stands: a success, or a refusal by the
    endpoint's budget (reading the endpoint again would not lift it)."""
    return status < 400 or status == 429


def _answer(body: dict[str, str], status: int) -> Response:
    return Response(orjson.dumps(body), status, media_type="application/json")


def _changed() -> Response:
    return problem(409, "Conflict", "the endpoint changed while the delivery was checked; send it again")


def _too_large(limit: int) -> Response:
    return problem(413, "Payload too large", f"the body is limited to {limit} bytes")


def _json(body: bytes) -> object:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise Invalid("body is not UTF-8 JSON", fields={"body": "not JSON"}) from None


def _same(offered: str, expected: str) -> bool:
    return hmac.compare_digest(offered.encode(), expected.encode())
