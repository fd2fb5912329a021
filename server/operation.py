"""What the three GraphQL transports share (HTTP in server.graphql, server.websocket and
server.sse): the wiring they are built with and each operation's context; and, for requests
over HTTP, the request id, the capped body read, the payload and the error body."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from domain.config import Settings
from domain.errors import BadRequest, DomainError
from resolvers.context import Context, Fanout, Jobs, new_context
from schema.build import SchemaCache, TenantSchema
from server import auth, persisted, throttle
from server.connections import Connections
from server.draining import Draining
from server.keepalive_checks import KeepAliveChecks
from server.live_limits import LiveLimits
from server.refusals import Refused
from server.watchdog import Operations
from telemetry import metrics

JSON_TYPES = ("application/json", "application/graphql-response+json")


class PayloadTooLarge(DomainError):
    code = "PAYLOAD_TOO_LARGE"
    http_status = 413


class UnsupportedMediaType(DomainError):
    code = "UNSUPPORTED_MEDIA_TYPE"
    http_status = 415


class Transport:
    """A transport's wiring: the tenants' schemas, the jobs queue, this process's event fan-out
    and its running operations."""

    def __init__(
        self, settings: Settings, schemas: SchemaCache, jobs: Jobs, fanout: Fanout,
        operations: Operations,
    ) -> None:
        self.settings = settings
        self.schemas = schemas
        self.jobs = jobs
        self.fanout = fanout
        self.operations = operations
        self.persisted = persisted.Documents(settings)
        self.throttle = throttle.Throttle(settings, None)

    def context(
        self, caller: auth.Caller, tenant_schema: TenantSchema, request_id: str, *,
        fanout: Fanout | None = None, price_list: str | None = None,
    ) -> Context:
        """A new context for one operation (its own loaders), never shared with another;
        `fanout` replaces the process's fan-out for a stream shared by several clients."""
        return new_context(
            tenant=caller.tenant,
            principal=caller.principal,
            settings=self.settings,
            services=tenant_schema.services,
            request_id=request_id,
            jobs=self.jobs,
            fanout=self.fanout if fanout is None else fanout,
            price_list=price_list,
        )


class Live(Transport):
    """A transport of long-lived connections (WebSocket, SSE): capped per credential and
    tenant, the credential checked again at each keep-alive."""

    def __init__(
        self, settings: Settings, schemas: SchemaCache, jobs: Jobs, fanout: Fanout,
        operations: Operations, connections: Connections, draining: Draining | None = None,
        limits: LiveLimits | None = None,
    ) -> None:
        super().__init__(settings, schemas, jobs, fanout, operations)
        self.connections = connections
        self.keepalive_checks = KeepAliveChecks(settings)
        self.draining = draining or Draining(0)
        self.limits = limits or LiveLimits(None, settings)


def request_id(request: Request) -> str:
    """The caller's X-Request-ID (at most 64 characters), else a new one."""
    return (request.headers.get("x-request-id") or uuid.uuid4().hex)[:64]


def error_body(error: DomainError) -> dict[str, Any]:
    """The response to an operation refused before it ran: no data, the error's code."""
    formatted = {"message": error.message, "extensions": {"code": error.code, **error.details}}
    metrics.count_errors((formatted,))
    return {"data": None, "errors": [formatted]}


def error_response(error: DomainError, request_id: str, status: int | None = None) -> Response:
    headers = {"www-authenticate": "Bearer"} if error.http_status == 401 else {}
    if isinstance(error, Refused):
        headers.update(error.headers)
    return json_response(error_body(error), status or error.http_status, request_id, headers)


def json_response(
    body: dict[str, Any], status: int, request_id: str, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        orjson.dumps(body),
        status_code=status,
        media_type="application/json",
        headers={"x-request-id": request_id, **(headers or {})},
    )


async def read_payload(request: Request, max_bytes: int) -> dict[str, Any]:
    """query, variables and operationName from the URL (GET) or a JSON body (POST)."""
    if request.method == "GET":
        params = dict(request.query_params)
        if "variables" in params:
            params["variables"] = _json(params["variables"].encode(), "variables")
        if "extensions" in params:
            params["extensions"] = _json(params["extensions"].encode(), "extensions")
        return _check_payload(params)
    if media_type(request) not in JSON_TYPES:
        raise UnsupportedMediaType("send the request as application/json")
    body = await read_capped(request, max_bytes)
    return _check_payload(_json(body, "body"))


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def read_capped(request: Request, limit: int) -> bytes:
    """The whole body; PayloadTooLarge as soon as it (or its Content-Length) is over `limit`
    bytes, BadRequest when the client goes away before the end."""
    if declared_over(request.headers.get("content-length", ""), limit):
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


def declared_over(declared: str, limit: int) -> bool:
    """Whether Content-Length promises more than `limit` (an absurdly long number does too)."""
    if not (declared.isascii() and declared.isdigit()):
        return False
    digits = declared.lstrip("0") or "0"
    return len(digits) > len(str(limit)) or int(digits) > limit


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
    if isinstance(payload, list):
        raise BadRequest("batched requests (a JSON array) are not supported: send one operation per request")
    if not isinstance(payload, dict):
        raise BadRequest("body must be a JSON object with a 'query'")
    if (not isinstance(payload.get("query"), str) or not payload["query"].strip()) and not (
        persisted.requested(payload) and payload.get("query") is None
    ):
        raise BadRequest("'query' must be a non-empty string")
    if payload.get("variables") is not None and not isinstance(payload["variables"], dict):
        raise BadRequest("'variables' must be an object")
    if payload.get("operationName") is not None and not isinstance(payload["operationName"], str):
        raise BadRequest("'operationName' must be a string")
    return payload
