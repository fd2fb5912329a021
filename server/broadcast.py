"""Live subscriptions shared by identical operations: one stream and one execution per event,
the serialized payload reused for every client of the group.

Operations share a group only when nothing can make their results differ: the same tenant and
schema, the same document, operation name and variables, the same principal scopes, and no
`after` cursor (a stream that starts at a cursor replays history of its own). Each client
(a `Member`) keeps its own backlog of messages, written by a task that exists only while the
backlog is not empty, so an idle client holds no task, context or stream of its own; a client
that falls `buffer` messages behind gets RESYNC_REQUIRED with the cursor of the last event
it was sent, without holding the others back.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable, Hashable
from typing import Any, Protocol
from uuid import UUID

import orjson
from graphql import GraphQLError
from opentelemetry.trace import SpanKind
from starlette.websockets import WebSocketDisconnect
from strawberry.types import ExecutionResult

from domain import events
from resolvers.context import Fanout, Listener
from schema.errors import translate
from telemetry import metrics, tracing
from telemetry.tracing import NO_SPAN, Tracing

log = logging.getLogger("tenantgraph.ws")

Results = AsyncGenerator[ExecutionResult, None]
"""What Schema.stream yields here. Strawberry types it wider, with the raw graphql-core frames
of incremental delivery (@defer, @stream), which no schema of ours enables."""


class Outlet(Protocol):
    """The connection a member writes to."""

    async def send_text(self, text: str) -> None: ...

    def ended(self, op_id: str, member: Member) -> None: ...


def messages(op_id: str, result: ExecutionResult, request_id: str) -> tuple[list[dict[str, Any]], bool]:
    """The messages one result makes for one operation, and whether the operation ends with
    them. Errors without a path (validation, or a stream that ended with RESYNC_REQUIRED or
    CURSOR_EXPIRED) are an `error` message."""
    errors = [translate(error, request_id).formatted for error in result.errors or ()]
    metrics.count_errors(errors)
    if result.data is None and errors and not any(e.get("path") for e in errors):
        return [{"type": "error", "id": op_id, "payload": errors}], True
    body: dict[str, Any] = {"data": result.data}
    if errors:
        body["errors"] = errors
    if result.extensions:
        body["extensions"] = result.extensions
    sent: list[dict[str, Any]] = [{"type": "next", "id": op_id, "payload": body}]
    if result.data is None and errors:
        return [*sent, {"type": "complete", "id": op_id}], True
    return sent, False


def dumps(message: dict[str, Any]) -> str:
    return orjson.dumps(message).decode()


class Member:
    """One client operation in a group: its backlog and where its stream stands."""

    __slots__ = ("_backlog", "_group", "_id_json", "_limit", "_outlet", "_writer", "cursor",
                 "ending", "op_id", "request_id")

    def __init__(self, group: Broadcast, outlet: Outlet, op_id: str, request_id: str) -> None:
        self._group = group
        self._outlet = outlet
        self._limit = group.buffer
        self._id_json = orjson.dumps(op_id).decode()
        self._backlog: collections.deque[tuple[str, int | None, bool]] | None = None
        """Messages to send: (text, seq, False), or (a result's payload, seq, True)."""
        self._writer: asyncio.Task[None] | None = None
        self.op_id = op_id
        self.request_id = request_id
        self.cursor: int | None = group.fanned
        """The last event this client was sent (or skipped), to resume from on overflow."""
        self.ending = False

    def next(self, payload: str, seq: int | None) -> None:
        """A result: its payload, shared by the group, is wrapped only when it is sent, so a
        client that falls behind holds references, not copies."""
        self._queue((payload, seq, True))

    def push(self, text: str, seq: int | None, *, last: bool = False) -> None:
        self._queue((text, seq, False), last=last)

    def _queue(self, entry: tuple[str, int | None, bool], *, last: bool = False) -> None:
        if self.ending:
            return
        if self._backlog is None:
            self._backlog = collections.deque()
        if len(self._backlog) >= self._limit:
            self._overflow()
            return
        self._backlog.append(entry)
        self.ending = last
        if self._writer is None:
            self._writer = asyncio.create_task(self._write())

    def cancel(self) -> None:
        """The client completed the operation or went away: nothing more is sent."""
        self.ending = True
        self._group.leave(self)
        if self._writer is not None:
            self._writer.cancel()

    def _overflow(self) -> None:
        assert self._backlog is not None
        self._backlog.clear()
        cursor = self.cursor if self.cursor is not None else self._group.start
        error = events.ResyncRequired(
            "the subscriber fell behind: resume from the cursor",
            details={} if cursor is None else {"cursor": str(cursor)},
        )
        formatted = translate(GraphQLError(error.message, original_error=error), self.request_id)
        metrics.count_errors((formatted.formatted,))
        self._group.leave(self)
        self.push(dumps({"type": "error", "id": self.op_id, "payload": [formatted.formatted]}),
                  None, last=True)

    async def _write(self) -> None:
        backlog = self._backlog
        assert backlog is not None
        try:
            while backlog:
                text, seq, is_payload = backlog.popleft()
                if seq is not None:
                    self.cursor = seq
                if is_payload:
                    text = f'{{"type":"next","id":{self._id_json},"payload":{text}}}'
                await self._outlet.send_text(text)
        except WebSocketDisconnect:
            return
        finally:
            self._writer = None
            self._backlog = None
        if self.ending:
            self._group.leave(self)
            self._outlet.ended(self.op_id, self)


class Broadcast:
    """One stream of results for every member of a group (see the module's docstring). It is
    the fan-out of that stream's context, and the listener the stream gets from it: so it knows
    which event each result came from."""

    def __init__(
        self, fanout: Fanout, buffer: int, forget: Callable[[Broadcast], None],
        tracing: Tracing | None = None,
    ) -> None:
        self.members: set[Member] = set()
        self.buffer = buffer
        self.fanned: int | None = None
        """The event the last result came from: members joining now get what follows it."""
        self.closed = False
        self._fanout = fanout
        self._forget = forget
        self.start: int | None = None
        """Where the stream started: what a member is owed before any result reached it."""
        self._position: int | None = None
        self._listener: Listener | None = None
        self._task: asyncio.Task[None] | None = None
        self._tracing = tracing or Tracing.off()
        self._tenant = ""
        self._traceparent: str | None = None
        """The trace context of the event the next result comes from, when traced."""

    def listen(self, tenant_id: UUID) -> Listener:
        self._listener = self._fanout.listen(tenant_id)
        self._tenant = str(tenant_id)
        return self

    async def next(self) -> events.Event | None:
        assert self._listener is not None
        event = await self._listener.next()
        if self._tracing.enabled:
            self._traceparent = None if event is None else event.traceparent
        return event

    def passed(self, seq: int) -> None:
        if self.start is None:
            self.start = seq
        self._position = seq

    def close(self) -> None:
        if self._listener is not None:
            self._listener.close()

    def run(self, results: Awaitable[Results]) -> None:
        self._task = asyncio.create_task(self._run(results))

    def join(self, outlet: Outlet, op_id: str, request_id: str) -> Member:
        member = Member(self, outlet, op_id, request_id)
        self.members.add(member)
        return member

    def leave(self, member: Member) -> None:
        self.members.discard(member)
        if not self.members and not self.closed:
            self._close()
            if self._task is not None:
                # Let go of it: its CancelledError's traceback holds this group's frames.
                self._task.cancel()
                self._task = None

    async def _run(self, pending: Awaitable[Results]) -> None:
        try:
            results = await pending
            async with contextlib.aclosing(results):
                async for result in results:
                    if not self._fan_out(result):
                        return
            self._end(lambda m: [{"type": "complete", "id": m.op_id}])
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - the members get an error, the process goes on
            log.exception("shared subscription failed")
            self._end(lambda m: [_internal_error(m)])
        finally:
            self._close()

    def _fan_out(self, result: ExecutionResult) -> bool:
        """Hand one result to every member; False when it ends the stream. Traced, the push of
        an event that carries a trace context is a span linked to it."""
        if self._tracing.enabled and self._traceparent is not None:
            with self._tracing.span(
                "subscription push", kind=SpanKind.PRODUCER, links=[self._traceparent],
                attributes={tracing.TENANT_ID: self._tenant, "subscription.members": len(self.members),
                            "event.seq": self._position or 0},
            ):
                return self._push(result)
        return self._push(result)

    def _push(self, result: ExecutionResult) -> bool:
        seq = self._position
        self.fanned = seq
        if not result.errors:
            payload = dumps({"data": result.data})
            for member in tuple(self.members):
                member.next(payload, seq)
            return True
        ends = result.data is None
        if ends:
            self._close()
        for member in tuple(self.members):
            made, _ = messages(member.op_id, result, member.request_id)
            for i, message in enumerate(made):
                member.push(dumps(message), seq, last=ends and i == len(made) - 1)
        return not ends

    def _end(self, final: Callable[[Member], list[dict[str, Any]]]) -> None:
        self._close()
        for member in tuple(self.members):
            made = final(member)
            for i, message in enumerate(made):
                member.push(dumps(message), None, last=i == len(made) - 1)

    def _close(self) -> None:
        if not self.closed:
            self.closed = True
            self._forget(self)


def _internal_error(member: Member) -> dict[str, Any]:
    extensions = {"code": "INTERNAL_SERVER_ERROR", "requestId": member.request_id}
    error = GraphQLError("Internal server error", extensions=extensions)
    return {"type": "error", "id": member.op_id, "payload": [error.formatted]}


class Traced:
    """A subscription's own stream (one with `after`) as the process's fan-out gives it, noting
    the trace context of the live event the next result comes from."""

    def __init__(self, fanout: Fanout, tracing_: Tracing) -> None:
        self._fanout = fanout
        self._tracing = tracing_
        self._listener: Listener | None = None
        self._tenant = ""
        self._traceparent: str | None = None

    def listen(self, tenant_id: UUID) -> Listener:
        self._listener = self._fanout.listen(tenant_id)
        self._tenant = str(tenant_id)
        return self

    async def next(self) -> events.Event | None:
        assert self._listener is not None
        event = await self._listener.next()
        self._traceparent = None if event is None else event.traceparent
        return event

    def passed(self, seq: int) -> None:
        assert self._listener is not None
        self._listener.passed(seq)

    def close(self) -> None:
        if self._listener is not None:
            self._listener.close()

    def pushing(self) -> contextlib.AbstractContextManager[object]:
        """A span around the push of a live event that carries a trace context, linked to it."""
        traceparent, self._traceparent = self._traceparent, None
        if traceparent is None:
            return NO_SPAN
        return self._tracing.span("subscription push", kind=SpanKind.PRODUCER, links=[traceparent],
                                  attributes={tracing.TENANT_ID: self._tenant, "subscription.members": 1})


def traced(fanout: Fanout, tracing_: Tracing) -> Fanout:
    """`fanout` itself when tracing is off; else a stand-in noting each event's trace context."""
    return Traced(fanout, tracing_) if tracing_.enabled else fanout


class Broadcasts:
    """The open groups of one process, by what makes their results equal."""

    def __init__(self, fanout: Fanout, buffer: int, tracing: Tracing | None = None) -> None:
        self._fanout = fanout
        self._buffer = buffer
        self._tracing = tracing
        self._groups: dict[Hashable, Broadcast] = {}

    def __len__(self) -> int:
        return len(self._groups)

    def join(
        self, key: Hashable, outlet: Outlet, op_id: str, request_id: str,
        start: Callable[[Fanout], Awaitable[Results]],
    ) -> Member:
        """Join the group of `key`, opening it (its stream made by `start`) when none is open."""
        group = self._groups.get(key)
        if group is None or group.closed:
            group = Broadcast(
                self._fanout, self._buffer, lambda made: self._forget(key, made), self._tracing
            )
            self._groups[key] = group
            member = group.join(outlet, op_id, request_id)
            group.run(start(group))
            return member
        return group.join(outlet, op_id, request_id)

    def _forget(self, key: Hashable, group: Broadcast) -> None:
        if self._groups.get(key) is group:
            del self._groups[key]
