"""POST/GET /graphql: authenticate, pick the tenant's schema, execute, answer."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import orjson
from opentelemetry.trace import SpanKind
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from strawberry.exceptions import MissingQueryError
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from domain.config import Settings
from domain.errors import BadRequest, DomainError, ServiceUnavailable
from resolvers.context import Context, Fanout, Jobs
from schema import outage
from schema.build import SchemaCache, TenantSchema
from schema.errors import translate
from server import auth, deadline, operation, plans, prometheus, refusals, throttle, unavailable
from server import logging as logs
from server.api_key_cache import ApiKeyCache
from server.failed_auth import FailedAuthentications
from server.graphiql import graphiql_page
from server.idempotency import Idempotency
from server.negotiation import RequestError, choose_media_type, finish_response, not_acceptable
from server.operation import Transport, error_response, json_response, read_payload
from server.plans import mutations
from server.watchdog import Operations
from telemetry import metrics, tracing
from telemetry.tracing import Tracing

log = logging.getLogger("tenantgraph.http")


class MethodNotAllowed(DomainError):
    code = "METHOD_NOT_ALLOWED"
    http_status = 405


class GraphQLEndpoint(Transport):
    def __init__(
        self, settings: Settings, schemas: SchemaCache, jobs: Jobs, fanout: Fanout,
        operations: Operations, tracing: Tracing | None = None,
        failures: FailedAuthentications | None = None,
    ) -> None:
        super().__init__(settings, schemas, jobs, fanout, operations)
        self.tracing = tracing or Tracing.off()
        self.plans = plans.PlanCache(settings.validation_budget_ms / 1000)
        self.api_key_cache = ApiKeyCache(settings, failures=failures)
        self.idempotency = Idempotency(settings)

    async def start(self) -> None:
        await self.api_key_cache.start()

    async def stop(self) -> None:
        await self.api_key_cache.stop()
        await self.persisted.stop()

    async def handle(self, request: Request) -> Response:
        request_id = operation.request_id(request)
        logs.request_id.set(request_id)
        started = time.perf_counter()
        media = choose_media_type(request.headers.get("accept"))
        try:
            if self.tracing.enabled:
                response = await self._traced(request, request_id)
            else:
                response = await self._handle(request, request_id)
        except Exception as error:
            if not outage.is_outage(error):
                raise
            log.warning("dependency unavailable: %r", error)
            response = unavailable.graphql_error(outage.unavailable(error, request_id), request_id)
        self.persisted.cache_headers(request, response)
        if media is not None and not isinstance(response, HTMLResponse):
            finish_response(response, media)
        log.info(
            "%s %s %d %.1fms", request.method, request.url.path, response.status_code,
            (time.perf_counter() - started) * 1000,
        )
        return response

    async def _traced(self, request: Request, request_id: str) -> Response:
        """The request in a server span, continuing the caller's `traceparent` if it sent one;
        named after the operation once the body is read."""
        with self.tracing.span(
            f"{request.method} /graphql", parent=request.headers.get("traceparent"),
            kind=SpanKind.SERVER,
            attributes={"http.route": "/graphql", tracing.REQUEST_ID: request_id},
        ):
            response = await self._handle(request, request_id)
            self.tracing.annotate({"http.response.status_code": response.status_code})
        return response

    async def _handle(self, request: Request, request_id: str) -> Response:
        if request.method == "GET" and _wants_html(request):
            if not self.settings.graphiql:
                return error_response(BadRequest("GraphiQL is disabled"), request_id, status=404)
            return HTMLResponse(graphiql_page())
        if choose_media_type(request.headers.get("accept")) is None:
            return not_acceptable(request.headers.get("accept", ""), request_id)
        try:
            payload = await read_payload(request, self.settings.max_body_bytes)
            caller = await self.api_key_cache.authenticate(
                request.headers.get("authorization"), request.headers.get("x-tenant-id"),
                refusals.client_address(request.scope),
            )
            payload = await self.persisted.admit(payload, caller)
        except DomainError as error:
            return error_response(error, request_id)
        logs.tenant.set(caller.tenant.slug)
        if self.tracing.enabled:
            name = str(payload.get("operationName") or "")
            self.tracing.enter_tenant(caller.tenant.id, caller.tenant.slug)
            self.tracing.annotate(
                {"graphql.operation.name": name}, name=f"graphql {name or '(anonymous)'}",
            )
        prometheus.note_tenant(request.scope, caller.tenant.slug)
        idempotency_key = request.headers.get("idempotency-key")
        if idempotency_key is not None:
            return await self.idempotency.run(
                idempotency_key, payload, caller, request_id,
                request.headers.get("x-price-list") or None,
                lambda: self._within_deadline(request, payload, caller, request_id),
            )
        return await self._within_deadline(request, payload, caller, request_id)

    async def _within_deadline(
        self, request: Request, payload: dict[str, Any], caller: auth.Caller, request_id: str
    ) -> Response:
        limit = self.settings.operation_timeout
        task = self.operations.start(request_id, caller.tenant.slug, payload["query"], limit)
        try:
            return await self._execute(request, payload, caller, request_id)
        except asyncio.CancelledError:
            if task is None or not self.operations.overdue(task):
                raise
            task.uncancel()
        finally:
            self.operations.done(task)
        log.warning("operation cancelled after %ss (OPERATION_TIMEOUT)", limit)
        return error_response(deadline.OperationTimeout(limit, request_id), request_id)

    async def _execute(
        self, request: Request, payload: dict[str, Any], caller: auth.Caller, request_id: str
    ) -> Response:
        started = time.perf_counter()
        tenant_schema = self.schemas.for_tenant(caller.tenant)
        try:
            admitted = await self.throttle.admit(caller, tenant_schema, payload)
        except DomainError as error:
            refused = error_response(error, request_id)
            refused.headers.update(throttle.headers(error))
            return refused
        key = (caller.tenant.fingerprint, payload["query"], payload.get("operationName"))
        plan = self.plans.get(*key)
        if isinstance(plan, mutations.MutationPlan) and request.method == "POST":
            context = self._context(request, caller, tenant_schema, request_id)
            schema = tenant_schema.schema._schema
            result = await mutations.run(plan, schema, context, payload.get("variables"))
            if result is not None:
                self.throttle.annotate(result, admitted)
                self._observe(key, caller, started, planned=True, clean=_clean(result),
                              known=(plan.kind, plan.name))
                return _result(result, request_id)
        elif isinstance(plan, plans.Plan):
            data = await self._planned(plan, request, payload, caller, tenant_schema)
            if data is not None:
                self._observe(key, caller, started, planned=True, clean=True, known=(plan.kind, plan.name))
                cost = self.throttle.settle(admitted, orjson.loads(data))
                return _data_response(data, request_id, cost)
        response, clean = await self._resolve(
            request, payload, caller, request_id, tenant_schema, admitted
        )
        self._observe(key, caller, started, planned=False, clean=clean)
        if clean and not self.plans.knows(*key):
            # Strawberry parsed, validated and ran this document without an error: plan it.
            self.plans.learn(tenant_schema.schema, *key)
        return response

    def _observe(
        self, key: tuple[str, str, Any], caller: auth.Caller, started: float, *, planned: bool,
        clean: bool, known: tuple[str, str | None] | None = None,
    ) -> None:
        kind, name = known or prometheus.operation_of(key[1], key[2], self.settings.max_tokens)
        metrics.observe_operation(kind, name, caller.tenant.slug, planned,
                                  time.perf_counter() - started, admit=clean)

    async def _planned(
        self, plan: plans.Plan, request: Request, payload: dict[str, Any], caller: auth.Caller,
        tenant_schema: TenantSchema,
    ) -> str | None:
        """The planned answer's data, or None to let the resolvers answer (and report)."""
        try:
            return await plans.run(plan, tenant_schema.schema._schema, plans.Request(
                tenant_id=caller.tenant.id, principal=caller.principal,
                price_list=request.headers.get("x-price-list") or None,
                variables=payload.get("variables"), max_page_size=self.settings.max_page_size,
            ))
        except Exception as error:  # noqa: BLE001 - a read with no side effect: the resolvers retry it
            if outage.is_outage(error):
                raise  # the resolvers would only wait for the same dependency again
            log.exception("planned read failed; answering through the resolvers")
            return None

    def _context(
        self, request: Request, caller: auth.Caller, tenant_schema: TenantSchema, request_id: str
    ) -> Context:
        context = self.context(
            caller, tenant_schema, request_id, price_list=request.headers.get("x-price-list") or None
        )
        context.traceparent = self.tracing.traceparent()
        context.client_address = request.client.host if request.client else None
        return context

    async def _resolve(
        self, request: Request, payload: dict[str, Any], caller: auth.Caller, request_id: str,
        tenant_schema: TenantSchema, admitted: throttle.Admitted = throttle.NOTHING,
    ) -> tuple[Response, bool]:
        """The resolvers' answer, and whether it ran without any error."""
        context = self._context(request, caller, tenant_schema, request_id)
        allowed = (
            (OperationType.QUERY,) if request.method == "GET"
            else (OperationType.QUERY, OperationType.MUTATION)
        )
        try:
            result = await tenant_schema.schema.execute(
                payload["query"],
                variable_values=payload.get("variables"),
                context_value=context,
                operation_name=payload.get("operationName"),
                allowed_operation_types=allowed,
            )
        except InvalidOperationTypeError:
            self.throttle.settle(admitted, None)
            refused = error_response(MethodNotAllowed("only queries may be sent with GET"), request_id)
            refused.headers["allow"] = "POST"
            return refused, False
        except (CannotGetOperationTypeError, MissingQueryError):
            self.throttle.settle(admitted, None)
            unknown = BadRequest("no operation to run: check operationName")
            return RequestError(operation.error_body(unknown), request_id), False
        self.throttle.annotate(result, admitted)
        return _result(result, request_id), _clean(result)


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "") and "query" not in request.query_params


def _clean(result: ExecutionResult) -> bool:
    """Whether an operation ran without any error (so its name may become a metrics label,
    and the resolvers' document may be planned)."""
    return result.data is not None and not result.errors


def _result(result: ExecutionResult, request_id: str) -> Response:
    body: dict[str, Any] = {"data": result.data}
    if result.extensions:
        body["extensions"] = result.extensions
    if result.errors:
        # Errors raised while parsing (e.g. by the parser cache) arrive untranslated.
        body["errors"] = [translate(error, request_id).formatted for error in result.errors]
        metrics.count_errors(body["errors"])
    if _unavailable(body):
        return unavailable.graphql(body, request_id)
    executed = result.data is not None or any(e.path for e in result.errors or ())
    if not executed:
        return RequestError(body, request_id)
    return json_response(body, 200, request_id)


def _unavailable(body: dict[str, Any]) -> bool:
    """An outage answered nothing: a 503 the client may retry. A root field that did resolve
    (a first mutation that committed) makes it a 200 with field errors, never a retry."""
    outage_hit = any(
        e.get("extensions", {}).get("code") == ServiceUnavailable.code for e in body.get("errors", ())
    )
    data = body["data"]
    return outage_hit and (data is None or all(value is None for value in data.values()))


def _data_response(data: str, request_id: str, cost: dict[str, Any] | None = None) -> Response:
    tail = b"}" if cost is None else b',"extensions":' + orjson.dumps({"cost": cost}) + b"}"
    return Response(
        b'{"data":' + data.encode() + tail,
        media_type="application/json",
        headers={"x-request-id": request_id},
    )
