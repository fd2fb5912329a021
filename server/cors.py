"""CORS for browser frontends on other origins, and the Origin check of WebSocket upgrades.

An origin may call when it is on CORS_ORIGINS or on the tenant's own list (`allowedOrigins`).
A preflight carries no credential and no X-Tenant-ID, so the tenant it asks for is the one
WebSocket upgrades name too: `?tenant=<slug>` or the host's subdomain (server.ws_protocol);
without either, only CORS_ORIGINS applies. An actual request is judged by the tenant it
authenticated as (else that same hint), so tenant A's origin never reads tenant B's answers.

A listed origin is echoed with `Access-Control-Allow-Credentials: true`; `*` in CORS_ORIGINS
answers `*` and never allows credentials. A refused preflight is a 403 JSON error with no CORS
headers; a refused upgrade is a 403 before the WebSocket opens. Requests without `Origin`
(servers, curl, native apps) and same-origin ones pass untouched. /webhooks gets no CORS at all:
its callers are servers, and no browser page should post signed deliveries.
"""

from __future__ import annotations

import enum
import logging
import uuid

from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket

from domain import origins, tenancy
from domain.config import Settings
from domain.errors import DomainError, NotFound
from schema import outage
from server import operation, ws_protocol
from server.api_key_cache import ApiKeyCache
from server.prometheus import TENANT_KEY
from tables import tenants

log = logging.getLogger("tenantgraph.cors")

METHODS = {"/graphql": "GET, POST, OPTIONS", "/graphql/stream": "GET, POST, OPTIONS"}
ALLOW_HEADERS = ", ".join((
    "Authorization", "Content-Type", "Accept", "X-Tenant-ID", "X-Price-List", "X-Request-ID",
    "traceparent", "tracestate", "Idempotency-Key", "Last-Event-ID",
    "apollo-require-preflight", "x-apollo-operation-name",
))
EXPOSE_HEADERS = ", ".join((
    "X-Request-ID", "Retry-After", "RateLimit", "RateLimit-Policy", "WWW-Authenticate",
    "Idempotency-Replayed",
))


class OriginNotAllowed(DomainError):
    code = "ORIGIN_NOT_ALLOWED"
    http_status = 403


class Allowed(enum.Enum):
    LISTED = "listed"  # echoed, with credentials
    ANY = "any"  # `*`, without credentials


class OriginCache:
    """Each tenant's allowed origins, remembered per process. Entries belong to a generation of
    the credential cache, which moves on every announced tenant or credential change
    (tables.credential_changes, which setting origins announces): the next request after a
    change, in any process, looks the tenant up again. Nothing is remembered while changes
    cannot be heard."""

    def __init__(self, changes: ApiKeyCache, *, maxsize: int = 10_000) -> None:
        self._changes = changes
        self._maxsize = maxsize
        self._generation = changes.generation
        self._entries: dict[str, frozenset[str]] = {}

    async def of(self, ref: str) -> frozenset[str]:
        """The origins of the tenant named by slug or id (none for an unknown tenant)."""
        generation = self._changes.generation
        if generation != self._generation:
            self._entries.clear()
            self._generation = generation
        found = self._entries.get(ref)
        if found is not None:
            return found
        allowed = await _look_up(ref)
        if generation == self._changes.generation and self._changes.listening:
            if len(self._entries) >= self._maxsize:
                self._entries.clear()
            self._entries[ref] = allowed
        return allowed


async def _look_up(ref: str) -> frozenset[str]:
    try:
        tenant = await (tenants.get(uuid.UUID(ref)) if _is_uuid(ref) else tenants.get_by_slug(ref))
    except NotFound:
        return frozenset()
    return origins.of_tenant(tenant.settings)


def _is_uuid(ref: str) -> bool:
    try:
        uuid.UUID(ref)
    except ValueError:
        return False
    return True


class Cors:
    """ASGI middleware: preflights, CORS headers on actual requests, Origin on upgrades."""

    def __init__(self, app: ASGIApp, *, settings: Settings, cache: OriginCache) -> None:
        self.app = app
        self.listed = frozenset(o for o in settings.cors_origins if o != origins.ANY)
        self.any = origins.ANY in settings.cors_origins
        self.max_age = str(settings.cors_max_age)
        self.cache = cache

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan" or scope["path"] not in METHODS:
            await self.app(scope, receive, send)
            return
        origin = _header(scope, b"origin")
        if origin is None or _same_origin(origin, scope):
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await self._upgrade(origin, scope, receive, send)
        elif scope["method"] == "OPTIONS" and _header(scope, b"access-control-request-method"):
            await self._preflight(origin, scope, receive, send)
        else:
            await self._actual(origin, scope, receive, send)

    async def allowed(self, origin: str, tenant: str | None) -> Allowed | None:
        if origin in self.listed:
            return Allowed.LISTED
        if tenant and (tenancy.SLUG.fullmatch(tenant) or _is_uuid(tenant)):
            if origin in await self.cache.of(tenant):
                return Allowed.LISTED
        return Allowed.ANY if self.any else None

    async def _preflight(self, origin: str, scope: Scope, receive: Receive, send: Send) -> None:
        verdict = await self._verdict(origin, Request(scope, receive))
        if isinstance(verdict, Response):
            response = verdict
        else:
            response = Response(status_code=204, headers={
                "access-control-allow-methods": METHODS[scope["path"]],
                "access-control-allow-headers": ALLOW_HEADERS,
                "access-control-max-age": self.max_age,
            })
            _grant(response.headers, origin, verdict)
        response.headers.add_vary_header("Origin")
        await response(scope, receive, send)

    async def _upgrade(self, origin: str, scope: Scope, receive: Receive, send: Send) -> None:
        websocket = WebSocket(scope, receive, send)
        verdict = await self._verdict(origin, websocket)
        if not isinstance(verdict, Response):
            await self.app(scope, receive, send)
        elif "websocket.http.response" in scope.get("extensions", {}):
            await websocket.send_denial_response(verdict)
        else:
            await websocket.close(code=4403, reason="Forbidden: origin not allowed")

    async def _verdict(self, origin: str, connection: HTTPConnection) -> Allowed | Response:
        """How the origin may call for the tenant the request names, else the refusal."""
        request_id = (connection.headers.get("x-request-id") or uuid.uuid4().hex)[:64]
        try:
            allowed = await self.allowed(origin, ws_protocol.tenant_of(connection))
        except Exception as error:
            if not outage.is_outage(error):
                raise
            log.warning("allowed origins unavailable: %r", error)
            unavailable = outage.unavailable(error, request_id)
            response = operation.error_response(unavailable, request_id)
            response.headers["retry-after"] = str(unavailable.retry_after)
            return response
        if allowed is not None:
            return allowed
        return operation.error_response(OriginNotAllowed(
            f"origin {origin} may not call this API: add it to the tenant's allowed origins "
            "(setAllowedOrigins, `tenantgraph tenant set-origins`) or to CORS_ORIGINS, and name "
            "the tenant with ?tenant=<slug> or its subdomain"
        ), request_id)

    async def _actual(self, origin: str, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.add_vary_header("Origin")
                tenant = scope.get(TENANT_KEY) or ws_protocol.tenant_of(HTTPConnection(scope))
                try:
                    allowed = await self.allowed(origin, tenant)
                except Exception:  # noqa: BLE001 - the answer goes out, unreadable by the page
                    log.warning("allowed origins unavailable for %s", origin, exc_info=True)
                    allowed = None
                _grant(headers, origin, allowed)
            await send(message)

        await self.app(scope, receive, send_with_cors)


def _grant(headers: MutableHeaders, origin: str, allowed: Allowed | None) -> None:
    if allowed is None:
        return
    headers["access-control-expose-headers"] = EXPOSE_HEADERS
    if allowed is Allowed.ANY:
        headers["access-control-allow-origin"] = "*"
        return
    headers["access-control-allow-origin"] = origin
    headers["access-control-allow-credentials"] = "true"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _same_origin(origin: str, scope: Scope) -> bool:
    """The page was served from this very host: not a cross-origin call."""
    host = _header(scope, b"host")
    return host is not None and origin.partition("://")[2] == host.lower()

