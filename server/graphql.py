"""POST/GET /graphql: authenticate, pick the tenant's schema, execute, answer."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, Response
from strawberry.exceptions import MissingQueryError
from strawberry.http.ides import get_graphql_ide_html
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from domain.config import Settings
from domain.errors import BadRequest, DomainError
from resolvers.context import EventSource, Jobs, new_context
from schema.build import SchemaCache, TenantSchema
from schema.errors import translate
from server import auth, deadline, plans
from server import logging as logs
from server.credentials import CredentialCache
from server.watchdog import Operations

log = logging.getLogger("tenantgraph.http")
JSON_TYPES = ("application/json", "application/graphql-response+json")


class PayloadTooLarge(DomainError):
    code = "PAYLOAD_TOO_LARGE"
    http_status = 413


class MethodNotAllowed(DomainError):
    code = "METHOD_NOT_ALLOWED"
    http_status = 405


class UnsupportedMediaType(DomainError):
    code = "UNSUPPORTED_MEDIA_TYPE"
    http_status = 415


class GraphQLEndpoint:
    def __init__(
        self, settings: Settings, schemas: SchemaCache, jobs: Jobs, feed: EventSource,
        operations: Operations,
    ) -> None:
        self.settings = settings
        self.schemas = schemas
        self.jobs = jobs
        self.feed = feed
        self.operations = operations
        self.plans = plans.PlanCache(settings.validation_budget_ms / 1000)
        self.credentials = CredentialCache(settings)

    async def start(self) -> None:
        await self.credentials.start()

    async def stop(self) -> None:
        await self.credentials.stop()

    async def handle(self, request: Request) -> Response:
        request_id = (request.headers.get("x-request-id") or uuid.uuid4().hex)[:64]
        logs.request_id.set(request_id)
        started = time.perf_counter()
        response = await self._handle(request, request_id)
        log.info(
            "%s %s %d %.1fms", request.method, request.url.path, response.status_code,
            (time.perf_counter() - started) * 1000,
        )
        return response

    async def _handle(self, request: Request, request_id: str) -> Response:
        if request.method == "GET" and _wants_html(request):
            if not self.settings.graphiql:
                return error_response(BadRequest("GraphiQL is disabled"), request_id, status=404)
            return HTMLResponse(get_graphql_ide_html("graphiql"))
        try:
            payload = await read_payload(request, self.settings.max_body_bytes)
            caller = await self.credentials.authenticate(
                request.headers.get("authorization"), request.headers.get("x-tenant-id")
            )
        except DomainError as error:
            return error_response(error, request_id)
        logs.tenant.set(caller.tenant.slug)
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
        tenant_schema = self.schemas.for_tenant(caller.tenant)
        key = (caller.tenant.fingerprint, payload["query"], payload.get("operationName"))
        plan = self.plans.get(*key)
        if plan is not None:
            data = await self._planned(plan, request, payload, caller, tenant_schema)
            if data is not None:
                return _data_response(data, request_id)
        response, clean = await self._resolve(request, payload, caller, request_id, tenant_schema)
        if clean and not self.plans.knows(*key):
            # Strawberry parsed, validated and ran this document without an error: plan it.
            self.plans.learn(tenant_schema.schema, *key)
        return response

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
        except Exception:  # noqa: BLE001 - a read with no side effect: the resolvers retry it
            log.exception("planned read failed; answering through the resolvers")
            return None

    async def _resolve(
        self, request: Request, payload: dict[str, Any], caller: auth.Caller, request_id: str,
        tenant_schema: TenantSchema,
    ) -> tuple[Response, bool]:
        """The resolvers' answer, and whether it ran without any error."""
        context = new_context(
            tenant=caller.tenant,
            principal=caller.principal,
            settings=self.settings,
            services=tenant_schema.services,
            request_id=request_id,
            jobs=self.jobs,
            feed=self.feed,
            price_list=request.headers.get("x-price-list") or None,
        )
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
            return error_response(MethodNotAllowed("only queries may be sent with GET"), request_id), False
        except (CannotGetOperationTypeError, MissingQueryError):
            return error_response(BadRequest("no operation to run: check operationName"), request_id), False
        return _result(result, request_id), result.data is not None and not result.errors


async def read_payload(request: Request, max_bytes: int) -> dict[str, Any]:
    """query, variables and operationName from the URL (GET) or a JSON body (POST)."""
    if request.method == "GET":
        params = dict(request.query_params)
        if "variables" in params:
            params["variables"] = _json(params["variables"].encode(), "variables")
        return _check_payload(params)
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in JSON_TYPES:
        raise UnsupportedMediaType("send the request as application/json")
    body = await _read_capped(request, max_bytes)
    return _check_payload(_json(body, "body"))


async def _read_capped(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"request body is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"request body is larger than {limit} bytes")
            chunks.append(chunk)
    except ClientDisconnect:
        raise BadRequest("client disconnected before sending the whole body") from None
    return b"".join(chunks)


def _json(raw: bytes, what: str) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        where = f"line {error.lineno}, column {error.colno}"
        if error.msg.startswith("number"):
            # orjson reads numbers as 64-bit integers or doubles; a longer one is out of range.
            raise BadRequest(f"{what}: number out of range at {where}") from None
        raise BadRequest(f"{what} is not valid JSON ({error.msg} at {where})") from None


def _check_payload(payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise BadRequest("body must be a JSON object with a 'query'")
    if not isinstance(payload.get("query"), str) or not payload["query"].strip():
        raise BadRequest("'query' must be a non-empty string")
    if payload.get("variables") is not None and not isinstance(payload["variables"], dict):
        raise BadRequest("'variables' must be an object")
    if payload.get("operationName") is not None and not isinstance(payload["operationName"], str):
        raise BadRequest("'operationName' must be a string")
    return payload


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "") and "query" not in request.query_params


def _result(result: ExecutionResult, request_id: str) -> Response:
    body: dict[str, Any] = {"data": result.data}
    if result.errors:
        # Errors raised while parsing (e.g. by the parser cache) arrive untranslated.
        body["errors"] = [translate(error, request_id).formatted for error in result.errors]
    executed = result.data is not None or any(e.path for e in result.errors or ())
    status = 200 if executed else 400
    return _json_response(body, status, request_id)


def _data_response(data: str, request_id: str) -> Response:
    return Response(
        b'{"data":' + data.encode() + b"}",
        media_type="application/json",
        headers={"x-request-id": request_id},
    )


def error_response(error: DomainError, request_id: str, status: int | None = None) -> Response:
    formatted = {"message": error.message, "extensions": {"code": error.code, **error.details}}
    headers = {"www-authenticate": "Bearer"} if error.http_status == 401 else {}
    return _json_response(
        {"data": None, "errors": [formatted]}, status or error.http_status, request_id, headers
    )


def _json_response(
    body: dict[str, Any], status: int, request_id: str, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        orjson.dumps(body),
        status_code=status,
        media_type="application/json",
        headers={"x-request-id": request_id, **(headers or {})},
    )
