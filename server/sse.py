"""Subscriptions over Server-Sent Events at /graphql/stream, for clients without WebSockets.

Each result is an `event: next` whose `id:` is the payload's cursor; a reconnecting
EventSource sends it back as Last-Event-ID, which becomes `$after` when the operation
declares that variable (over any `after` in the request: an EventSource reconnects with the
URL it started with). `event: complete` ends the stream. The credential is checked again at
each keep-alive: once revoked or expired, the stream ends with an error and `complete`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, cast

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from domain.errors import DomainError
from schema import outage
from schema.errors import translate
from server import auth, broadcast, deadline, operation, prometheus, throttle, unavailable
from server import logging as logs
from server.connections import RETRY_AFTER_SECONDS, TooManyConnections
from server.live_limits import Releasable, Together
from server.operation import Live, error_response, read_payload
from server.refusals import client_address
from server.stream_tokens import StreamTokens
from telemetry import metrics

log = logging.getLogger("tenantgraph.sse")
STREAMED = (OperationType.QUERY, OperationType.SUBSCRIPTION)
DECLARES_AFTER = re.compile(r"\$after\s*:")
COMPLETE = "event: complete\ndata: \n\n"
GOING_AWAY = "retry: 1000\n: the server is restarting; reconnect\n\n"
"""The last frame when the process stops (server.draining): an EventSource reconnects after
`retry` milliseconds, sending the last event id it saw."""


class EventStream(Live):
    stream_tokens: StreamTokens
    """Set by create_app (the API-key cache it shares is the GraphQL endpoint's)."""

    async def handle(self, request: Request) -> Response:
        request_id = operation.request_id(request)
        logs.request_id.set(request_id)
        try:
            payload = await read_payload(request, self.settings.max_body_bytes)
            authorization = request.headers.get("authorization")
            caller = await self.stream_tokens.authenticate(request, self.limits.failures)
            if caller is None:
                async with self.limits.failures.guard(client_address(request.scope), authorization):
                    caller = await auth.authenticate(
                        authorization, request.headers.get("x-tenant-id"), self.settings,
                    )
            payload = await self.persisted.admit(payload, caller)
        except DomainError as error:
            return error_response(error, request_id)
        except Exception as error:
            if not outage.is_outage(error):
                raise
            log.warning("dependency unavailable: %r", error)
            return unavailable.graphql_error(outage.unavailable(error, request_id), request_id)
        logs.tenant.set(caller.tenant.slug)
        prometheus.note_tenant(request.scope, caller.tenant.slug)
        try:
            slot = self.connections.open(caller)
        except TooManyConnections as error:
            refused = error_response(error, request_id)
            refused.headers["retry-after"] = str(RETRY_AFTER_SECONDS)
            return refused
        try:  # a stream is a subscribe: its credential's rate, and a live slot of its tenant
            held = await self.limits.subscribe(caller, payload)
        except DomainError as error:
            slot.release()
            return error_response(error, request_id)
        _resume(payload, request.headers.get("last-event-id"))
        body = _guarded(self._costed(request, payload, caller, request_id), request_id)
        return _Counted(
            Together(slot, held), body, media_type="text/event-stream",
            headers={"cache-control": "no-cache", "x-request-id": request_id, "x-accel-buffering": "no"},
        )

    async def _costed(
        self, request: Request, payload: dict[str, Any], caller: auth.Caller, request_id: str
    ) -> AsyncIterator[str]:
        """The stream once its cost is taken; THROTTLED or MAX_COST_EXCEEDED is its only frame."""
        try:
            admitted = await self.throttle.admit(caller, self.schemas.for_tenant(caller.tenant), payload)
        except DomainError as error:
            yield _failed(error) + COMPLETE
            return
        events = self._events(request, payload, caller, request_id, admitted)
        async with contextlib.aclosing(events):  # closed at once when the client goes away
            async for event in events:
                yield event

    async def _events(
        self, request: Request, payload: dict[str, Any], caller: auth.Caller, request_id: str,
        admitted: throttle.Admitted,
    ) -> AsyncGenerator[str, None]:
        tenant_schema = self.schemas.for_tenant(caller.tenant)
        context = self.context(caller, tenant_schema, request_id)
        results = cast(broadcast.Results, await tenant_schema.schema.stream(
            payload["query"], variable_values=payload.get("variables"), context_value=context,
            operation_name=payload.get("operationName"), allowed_operation_types=STREAMED,
        ))
        pending: asyncio.Task[Any] | None = None
        query, name = payload["query"], payload.get("operationName")
        leaving: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def leave() -> None:
            if not leaving.done():
                leaving.set_result(None)

        going_away = False
        with self.draining.live(leave):
            tracked = self.operations.start(request_id, caller.tenant.slug, query)
            try:
                if (answer := await self._answer(results, query, name, request_id, admitted)) is not None:
                    yield answer
                while True:
                    pending = pending or asyncio.ensure_future(anext(results))
                    done, _ = await asyncio.wait(
                        {pending, leaving}, timeout=self._keepalive(),
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                    if pending not in done:
                        if leaving.done():
                            going_away = True
                            break
                        if (revoked := await self._recheck(request)) is not None:
                            yield revoked
                            break
                        yield ": keep-alive\n\n"
                        continue
                    result, pending = pending.result(), None
                    self.throttle.annotate(result, admitted, refund=False)
                    yield _next(result, request_id)
                    if result.data is None and result.errors:
                        break
            except StopAsyncIteration:
                pass
            finally:
                self.operations.done(tracked)
                await _end(pending, results)
            # Going away, the operation is not complete: the client reconnects and resumes.
            yield GOING_AWAY if going_away else COMPLETE

    async def _recheck(self, request: Request) -> str | None:
        """At a keep-alive: the stream's last frame if its credential no longer holds."""
        try:
            if "token" in request.query_params:
                await self.stream_tokens.recheck(request)
            else:
                await self.keepalive_checks.check(
                    request.headers.get("authorization"), request.headers.get("x-tenant-id")
                )
        except DomainError as error:
            return _failed(error)
        except Exception:  # noqa: BLE001 - the database blinked: check at the next one
            log.warning("keep-alive could not re-check the credential", exc_info=True)
        return None

    async def _answer(
        self, results: AsyncIterator[ExecutionResult], query: str, name: str | None,
        request_id: str, admitted: throttle.Admitted,
    ) -> str | None:
        """A query's one frame, or its OPERATION_TIMEOUT; None for a subscription (no deadline)."""
        if deadline.is_subscription(query, name, self.settings.max_tokens):
            return None
        try:
            head = await deadline.first(results, self.settings.operation_timeout, request_id)
        except deadline.OperationTimeout as error:
            return _failed(error)
        self.throttle.annotate(head, admitted)
        return None if head is None else _next(head, request_id)

    def _keepalive(self) -> float | None:
        return self.settings.ws_keepalive_seconds or None


class _Counted(StreamingResponse):
    """A stream that gives its connection slot back however it ends: completed, failed, or
    cancelled when the client goes away (even before its first event)."""

    def __init__(self, slot: Releasable, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.slot = slot

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        metrics.SSE_STREAMS.inc()
        try:
            await super().__call__(scope, receive, send)
        finally:
            metrics.SSE_STREAMS.dec()
            self.slot.release()


async def _end(pending: asyncio.Task[Any] | None, results: broadcast.Results) -> None:
    if pending is not None:
        pending.cancel()
        with contextlib.suppress(BaseException):
            await pending
    await results.aclose()


async def _guarded(events: AsyncIterator[str], request_id: str) -> AsyncIterator[str]:
    """The stream; a dependency failing once it is open ends it with an error frame (and the
    request id) rather than a dropped connection."""
    try:
        async for event in events:
            yield event
    except Exception as error:
        if not outage.is_outage(error):
            raise
        log.warning("stream ended, dependency unavailable: %r", error)
        yield _failed(outage.unavailable(error, request_id))
        yield COMPLETE


def _resume(payload: dict[str, Any], last_event_id: str | None) -> None:
    if last_event_id and DECLARES_AFTER.search(payload["query"]):
        payload["variables"] = {**(payload.get("variables") or {}), "after": last_event_id}


def _failed(error: DomainError) -> str:
    return f"event: next\ndata: {orjson.dumps(operation.error_body(error)).decode()}\n\n"


def _next(result: ExecutionResult, request_id: str) -> str:
    body: dict[str, Any] = {"data": result.data}
    if result.errors:
        body["errors"] = [translate(error, request_id).formatted for error in result.errors]
        metrics.count_errors(body["errors"])
    if result.extensions:
        body["extensions"] = result.extensions
    cursor = _cursor(result.data)
    head = "event: next\n" + (f"id: {cursor}\n" if cursor else "")
    return f"{head}data: {orjson.dumps(body).decode()}\n\n"


def _cursor(data: Any) -> str | None:
    if isinstance(data, dict):
        for value in data.values():
            if isinstance(value, dict) and isinstance(value.get("cursor"), str):
                return str(value["cursor"])
    return None
