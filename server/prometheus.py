"""The API's metrics: a middleware timing every HTTP request by route template, `/metrics`, and
a sampler of the database pool (telemetry.metrics defines them)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import graphql
from graphql import GraphQLError
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from domain.config import Settings
from tables import engine
from telemetry import exposition, metrics

TENANT_KEY = "tenantgraph.tenant"
"""Where a handler leaves the slug of the tenant it served, for the request's labels."""


def note_tenant(scope: Scope, slug: str) -> None:
    """Label this request with its (authenticated) tenant's slug."""
    scope[TENANT_KEY] = slug


class RequestMetrics:
    """http_request_duration_seconds{method,route,status_code,tenant}: the route is the matched
    template (never the raw path), the tenant the one a handler authenticated, else "none"."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = scope.get("route")
            slug = scope.get(TENANT_KEY)
            metrics.observe_request(
                scope["method"], getattr(route, "path", "unmatched"), status,
                "none" if slug is None else metrics.tenant_label(slug),
                time.perf_counter() - started,
            )


def operation_of(query: str, name: str | None, max_tokens: int) -> tuple[str, str | None]:
    """The operation's type (query, mutation, subscription; "invalid" for a document that
    names no operation) and its name in the document (None when it has none)."""
    if len(query) > CACHED_QUERY_CHARS:
        return _operation_of(query, name, max_tokens)
    return _cached_operation_of(query, name, max_tokens)


CACHED_QUERY_CHARS = 16_384


def _operation_of(query: str, name: str | None, max_tokens: int) -> tuple[str, str | None]:
    try:
        found = graphql.get_operation_ast(graphql.parse(query, max_tokens=max_tokens), name)
    except GraphQLError:
        return "invalid", None
    if found is None:
        return "invalid", None
    return found.operation.value, None if found.name is None else found.name.value


_cached_operation_of = functools.lru_cache(maxsize=512)(_operation_of)


def endpoint(settings: Settings) -> Callable[[Request], Awaitable[Response]]:
    """GET /metrics on the API port: with METRICS_TOKEN as a bearer token only."""

    async def serve_metrics(request: Request) -> Response:
        refused = exposition.check(
            request.headers.get("authorization"), settings.metrics_token, on_own_address=False
        )
        if refused is not None:
            status, detail = refused
            if status == 404 and settings.metrics_bind is not None:
                detail = "metrics are served on METRICS_BIND, not on this port"
            headers = {"www-authenticate": "Bearer"} if status == 401 else None
            return Response(exposition.problem_body(status, detail), status,
                            headers=headers, media_type="application/problem+json")
        metrics.sample_pool(engine.DB.pool)
        body = await asyncio.to_thread(exposition.render)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return serve_metrics


@contextlib.asynccontextmanager
async def sampling_pool() -> AsyncIterator[None]:
    """Sample this process's pool every few seconds: the other API processes' scrapes read it
    from the shared multiprocess dir."""
    task = asyncio.create_task(metrics.sample_pool_forever(lambda: engine.DB.pool))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
