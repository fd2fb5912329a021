"""create_app(settings): the ASGI application. Resources open in lifespan, never at import."""

from __future__ import annotations

import contextlib
import gc
import logging
import os
from collections.abc import AsyncIterator, Awaitable

import redis.asyncio as aioredis
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute

from domain.config import Settings
from schema.build import SchemaCache
from server import dashboard, prometheus
from server.buckets import Buckets
from server.connections import Connections
from server.cors import Cors, OriginCache
from server.draining import LIVE_SHARE, Draining
from server.fanout import Fanout
from server.graphql import GraphQLEndpoint
from server.headers import SecurityHeaders
from server.last_resort import LastResort
from server.problems import problem
from server.request_limits import RequestLimits
from server.sdl import SchemaDownload
from server.sse import EventStream
from server.stream_tokens import StreamTokens
from server.throttle import Throttle
from server.watchdog import Operations, Watchdog
from server.webhooks import WebhookEndpoint
from server.websocket import GraphQLWebSocket
from tables import engine
from telemetry import exposition, metrics
from telemetry.tracing import Tracing
from workers import deliveries
from workers import settings as worker_settings

log = logging.getLogger("tenantgraph.app")


def create_app(settings: Settings, tracing: Tracing | None = None) -> Starlette:
    """The application; its spans go to `tracing` when given (tests), else as the OTEL_*
    settings say (off by default)."""
    if settings.database_url is None or settings.redis_url is None:
        raise RuntimeError("DATABASE_URL and REDIS_URL must be set (`tenantgraph dev` sets both)")
    database_url, redis_url = settings.database_url, settings.redis_url
    owns_tracing = tracing is None
    tracing = tracing or Tracing.start(settings)
    metrics.configure(settings)
    queue = worker_settings.queue(settings)
    jobs = deliveries.QueueJobs(queue)
    fanout = Fanout(redis_url, buffer=settings.subscription_buffer)
    buckets = _buckets(settings, redis_url)
    limits = RequestLimits(buckets, settings)
    limits.publish()
    schemas = SchemaCache(settings)
    operations = Operations()
    watchdog = Watchdog(settings, operations)
    graphql = GraphQLEndpoint(
        settings, schemas, jobs, fanout, operations, tracing, failures=limits.failures
    )
    connections = Connections(
        per_credential=settings.live_connections_per_credential,
        per_tenant=settings.live_connections_per_tenant,
    )
    draining = Draining(settings.shutdown_grace_seconds * LIVE_SHARE)
    websocket = GraphQLWebSocket(
        settings, schemas, jobs, fanout, operations, connections, draining, tracing,
        limits=limits.live,
    )
    stream = EventStream(
        settings, schemas, jobs, fanout, operations, connections, draining, limits=limits.live
    )
    webhooks = WebhookEndpoint(settings, jobs, tracing, limits=limits.webhooks)
    websocket.persisted = stream.persisted = graphql.persisted
    stream.stream_tokens = StreamTokens(settings, graphql.api_key_cache)
    graphql.throttle = websocket.throttle = stream.throttle = Throttle(settings, buckets)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        watchdog.start()
        draining.take_signals()
        watchdog.take_sigterm()
        dsn = engine.app_dsn(database_url, str(settings.app_database_password))
        await engine.start(dsn, max_size=settings.db_pool_max, timeouts=engine.Timeouts.of(settings))
        app.state.redis = aioredis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=2)
        await queue.connect()
        await fanout.start()
        await graphql.start()
        _quiet_collector()
        exposition.forget_dead_processes()
        try:
            async with prometheus.sampling_pool():
                yield
        finally:
            exposition.process_exited(os.getpid())
            await graphql.stop()
            await fanout.stop()
            await queue.disconnect()
            await app.state.redis.aclose()
            await graphql.throttle.close()
            await limits.webhooks.close()
            await buckets.close()
            await engine.stop()
            if owns_tracing:
                tracing.shutdown()
            watchdog.stop()

    async def healthz(request: Request) -> Response:
        """Alive; with what this process holds for live subscriptions, which returns to
        zero when every client has gone."""
        live = {**connections.counts(), "listeners": fanout.subscribers,
                "sharedStreams": len(websocket.broadcasts)}
        return JSONResponse({"status": "ok", "live": live})

    async def readyz(request: Request) -> Response:
        checks = {
            "postgres": await _check(_ping_postgres()),
            "redis": await _check(request.app.state.redis.ping()),
        }
        ready = all(state == "ok" for state in checks.values())
        # Draining after SIGTERM: the load balancer must stop sending, or the clients sent
        # away reconnect here.
        status = "draining" if draining.begun else "ready" if ready else "unavailable"
        return JSONResponse(
            {"status": status, "checks": checks}, status_code=200 if status == "ready" else 503
        )

    app = Starlette(
        # Outermost first: metrics see the status the last-resort handler answers.
        middleware=[Middleware(prometheus.RequestMetrics), Middleware(LastResort),
                    Middleware(Cors, settings=settings, cache=OriginCache(graphql.api_key_cache))],
        exception_handlers={HTTPException: _http_error},
        routes=[
            Route("/graphql", graphql.handle, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", websocket.handle),
            Route("/graphql/stream", stream.handle, methods=["GET", "POST"]),
            Route("/schema.graphql", SchemaDownload(graphql).handle, methods=["GET"]),
            Route("/webhooks/{flow}", webhooks.receive, methods=["POST"]),
            Route("/webhooks/{flow}", webhooks.handshake, methods=["GET"]),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", prometheus.endpoint(settings)),
            *dashboard.routes(),
        ],
        lifespan=lifespan,
    )
    app.add_middleware(SecurityHeaders, settings=settings)
    return app



def _buckets(settings: Settings, redis_url: str) -> Buckets:
    """The rate limits' buckets, on a Redis client of their own whose calls give up after a
    quarter of REDIS_TIMEOUT: they are on the request path, before work that may wait for Redis
    too (a webhook's enqueue), and a limit that cannot be asked is not worth waiting for."""
    timeout = settings.redis_timeout / 4 or None
    redis = aioredis.from_url(redis_url, socket_connect_timeout=timeout, socket_timeout=timeout)
    return Buckets(redis, fail_open=settings.limits_on_redis_error == "open")


def _quiet_collector() -> None:
    """Tail latency here was mostly garbage-collector pauses: what start-up allocated (modules,
    schemas) is frozen out of the collector's sight, and young objects are collected less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


async def _http_error(request: Request, error: Exception) -> Response:
    """Routing errors (404, 405) as problem details on the REST side-route, JSON elsewhere."""
    assert isinstance(error, HTTPException)
    if request.url.path.startswith("/webhooks/"):
        return problem(error.status_code, str(error.detail), f"{request.method} {request.url.path}",
                       headers=error.headers)
    return JSONResponse({"detail": error.detail}, error.status_code, headers=error.headers)


async def _ping_postgres() -> None:
    assert engine.DB.pool is not None
    async with engine.DB.pool.acquire(timeout=2) as connection:
        await connection.fetchval("select 1", timeout=2)


async def _check(probe: Awaitable[object]) -> str:
    try:
        await probe
    except Exception as error:  # noqa: BLE001 - any failure means not ready; say which
        log.warning("readiness check failed: %s", error)
        return f"failed: {type(error).__name__}"
    return "ok"
