"""graphql-transport-ws on /graphql: authenticate in connection_init, run operations, stream.

The tenant is chosen at the upgrade (`?tenant=<slug>` or the host's subdomain), because
browsers cannot set headers on a WebSocket; the credential in connection_init must belong to
it (else 4403). Each operation gets its own context. A server ping every keep-alive interval
also re-checks the credential: a revoked key or an expired token closes the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
import weakref
from collections.abc import Hashable
from typing import Any, cast

import orjson
from graphql import GraphQLError
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from domain.config import Settings
from domain.errors import DomainError
from resolvers.context import Fanout, Jobs
from schema import outage
from schema.build import SchemaCache
from server import auth, broadcast, deadline, throttle, ws_admission, ws_protocol
from server import logging as logs
from server.connections import Connections, Slot, TooManyConnections
from server.draining import Draining
from server.live_limits import LiveLimits
from server.operation import Live
from server.refusals import Refused
from server.watchdog import Operations
from server.ws_protocol import Close
from telemetry import metrics
from telemetry.tracing import NO_SPAN, Tracing

log = logging.getLogger("tenantgraph.ws")

PROTOCOL = "graphql-transport-ws"
TOO_MANY_CONNECTIONS = 4430
"""Close code when the credential or tenant holds its cap of connections: graphql-transport-ws
gives 4429 to a second connection_init (and graphql-ws clients never retry it), so the next
code; clients retry it with backoff."""
ALL_OPERATIONS = (OperationType.QUERY, OperationType.MUTATION, OperationType.SUBSCRIPTION)


class GraphQLWebSocket(Live):
    def __init__(
        self, settings: Settings, schemas: SchemaCache, jobs: Jobs, fanout: Fanout,
        operations: Operations, connections: Connections, draining: Draining | None = None,
        tracing: Tracing | None = None, limits: LiveLimits | None = None,
    ) -> None:
        super().__init__(settings, schemas, jobs, fanout, operations, connections, draining, limits)
        self.tracing = tracing or Tracing.off()
        self.broadcasts = broadcast.Broadcasts(fanout, settings.subscription_buffer, self.tracing)
        self.callers: weakref.WeakValueDictionary[Hashable, auth.Caller] = (
            weakref.WeakValueDictionary()
        )

    def shared(self, caller: auth.Caller) -> auth.Caller:
        """An equal caller that another connection already holds, else this one: ten thousand
        connections with one key keep one tenant and principal, not ten thousand copies."""
        key = (caller.tenant.id, caller.principal)
        known = self.callers.get(key)
        if known is not None and known == caller:
            return known
        self.callers[key] = caller
        return caller

    async def results(
        self, caller: auth.Caller, payload: dict[str, Any], request_id: str, fanout: Fanout
    ) -> broadcast.Results:
        """The operation's stream of results, in a context of its own."""
        logs.request_id.set(request_id)
        logs.tenant.set(caller.tenant.slug)
        tenant_schema = self.schemas.for_tenant(caller.tenant)
        context = self.context(caller, tenant_schema, request_id, fanout=fanout)
        variables = payload.get("variables")
        results = await tenant_schema.schema.stream(
            payload["query"],
            variable_values=variables if isinstance(variables, dict) else None,
            context_value=context,
            operation_name=payload.get("operationName"),
            allowed_operation_types=ALL_OPERATIONS,
        )
        return cast(broadcast.Results, results)

    async def handle(self, websocket: WebSocket) -> None:
        if PROTOCOL not in websocket.scope.get("subprotocols", []):
            # Closing before accept would be an HTTP 403 that no client can tell apart:
            # accept without a subprotocol, then close with the protocol's code.
            await websocket.accept()
            await _close(websocket, 4406, "Subprotocol not acceptable")
            return
        await websocket.accept(subprotocol=PROTOCOL)
        session = _Session(self, websocket, ws_protocol.tenant_of(websocket))
        metrics.WEBSOCKET_CONNECTIONS.inc()
        try:
            with self.draining.live(session.go_away):
                await session.run()
        except Close as closing:
            await session.close(closing.code, closing.reason)
        except WebSocketDisconnect:
            pass
        finally:
            metrics.WEBSOCKET_CONNECTIONS.dec()
            await session.stop()


class _Session:
    __slots__ = ("authorization", "caller", "init_received", "operations", "pinging", "ping_timer",
                 "send_lock", "server", "settings", "slot", "subscribed", "tenant", "websocket")

    def __init__(self, server: GraphQLWebSocket, websocket: WebSocket, tenant: str | None) -> None:
        self.server = server
        self.settings = server.settings
        self.websocket = websocket
        self.tenant = tenant
        self.caller: auth.Caller | None = None
        self.init_received = False
        self.authorization: str | None = None
        self.operations: dict[str, asyncio.Task[None] | broadcast.Member] = {}
        self.send_lock = asyncio.Lock()
        self.ping_timer: asyncio.TimerHandle | None = None
        self.pinging: asyncio.Task[None] | None = None
        self.slot: Slot | None = None
        self.subscribed: set[str] = set()

    async def go_away(self) -> None:
        """The process stops: what queries and mutations in flight return is sent, then 1001."""
        await self.server.draining.settle(o for k, o in self.operations.items() if k not in self.subscribed)
        await self.close(1001, "Going away: the server is restarting")

    async def run(self) -> None:
        await self.await_init()
        while True:
            await self.dispatch(await self.receive())

    async def await_init(self) -> None:
        """Messages until connection_init, which must come within WS_INIT_TIMEOUT: pings
        before it do not extend the wait."""
        timeout = self.settings.ws_init_timeout
        deadline = asyncio.get_running_loop().time() + timeout
        while not self.init_received:
            remaining = deadline - asyncio.get_running_loop().time()
            try:
                message = await asyncio.wait_for(self.receive(), remaining if timeout > 0 else None)
            except TimeoutError:
                raise Close(4408, "Connection initialisation timeout") from None
            await self.dispatch(message)

    async def stop(self) -> None:
        if self.slot is not None:
            self.slot.release()
        if self.ping_timer is not None:
            self.ping_timer.cancel()
            self.ping_timer = None
        running = [*self.operations.values(), *([self.pinging] if self.pinging else [])]
        # The timer and the members refer back to this session: without those cycles a closed
        # connection is freed at once, not at the collector's next full pass.
        self.operations.clear()
        for operation in running:
            operation.cancel()
            self.server.limits.release(operation)
        for operation in running:
            if isinstance(operation, asyncio.Task):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await operation

    async def receive(self) -> dict[str, Any]:
        received = await self.websocket.receive()
        if received["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(received.get("code", 1000), received.get("reason"))
        text = received.get("text")
        if text is None:
            raise Close(4400, "Invalid message received: binary frames are not supported")
        limit = self.settings.ws_max_message_bytes
        if len(text) > limit or len(text.encode()) > limit:
            raise Close(1009, "Message too big")
        try:
            message = orjson.loads(text)
        except orjson.JSONDecodeError:
            raise Close(4400, "Invalid message received: not JSON") from None
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            raise Close(4400, "Invalid message received: no type")
        return message

    async def dispatch(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "connection_init":
            await self.init(message.get("payload"))
        elif kind == "ping":
            await self.send({"type": "pong", **ws_protocol.payload_of(message)})
        elif kind == "pong":
            return
        elif kind == "subscribe":
            await self.subscribe(message)
        elif kind == "complete":
            task = self.operations.pop(str(message.get("id")), None)
            if task is not None:
                task.cancel()
                self.server.limits.release(task)
        else:
            raise Close(4400, f"Invalid message received: unknown type {kind!r}")

    async def init(self, payload: Any) -> None:
        if self.init_received:
            raise Close(4429, "Too many initialisation requests")
        self.init_received = True
        authorization = ws_protocol.authorization(payload)
        try:
            caller = await self.server.limits.authenticate(self.websocket.scope, authorization, self.tenant)
        except Refused as error:  # the protocol's "too many initialisation requests"
            raise Close(4429, error.message) from None
        except DomainError as error:
            raise Close(4403, f"Forbidden: {error.message}") from None
        except Exception as error:
            if not outage.is_outage(error):
                raise  # no operation yet to answer: close with 1013, "try again later"
            raise Close(1013, "Service unavailable: retry shortly") from error
        try:
            self.slot = self.server.connections.open(caller)
        except TooManyConnections as error:
            raise Close(TOO_MANY_CONNECTIONS, error.message) from None
        self.caller = self.server.shared(caller)
        self.authorization = authorization
        await self.send({"type": "connection_ack"})
        self.schedule_ping()

    async def subscribe(self, message: dict[str, Any]) -> None:
        if self.caller is None:
            raise Close(4401, "Unauthorized")
        op_id, payload = message.get("id"), message.get("payload")
        if not isinstance(op_id, str) or not op_id or not isinstance(payload, dict):
            raise Close(4400, "Invalid message received: subscribe needs an id and a payload")
        if op_id in self.operations:
            raise Close(4409, f"Subscriber for {op_id} already exists")
        if len(self.operations) >= self.settings.ws_max_subscriptions:
            limit = self.settings.ws_max_subscriptions
            await self.send_error(
                op_id, f"at most {limit} operations per connection", "TOO_MANY_OPERATIONS"
            )
            return
        admission = await ws_admission.admit(self, op_id, payload)
        if admission is None:
            return
        payload = admission.payload
        key = ws_protocol.shared_key(self.caller, payload, self.settings.max_tokens)
        if key is None:
            self.operations[op_id] = asyncio.create_task(
                self.operate(op_id, payload, admission.admitted)
            )
        else:
            caller = self.caller
            self.operations[op_id] = self.server.broadcasts.join(
                key, self, op_id, uuid.uuid4().hex,
                lambda fanout: self.server.results(caller, payload, uuid.uuid4().hex, fanout),
            )
        self.server.limits.hold(self.operations[op_id], admission.held)

    async def operate(
        self, op_id: str, payload: dict[str, Any], admitted: throttle.Admitted = throttle.NOTHING
    ) -> None:
        assert self.caller is not None
        request_id = uuid.uuid4().hex
        query, name = payload["query"], payload.get("operationName")
        subscription = isinstance(name, str | None) and deadline.is_subscription(
            query, name, self.settings.max_tokens
        )
        limit = 0.0 if subscription else self.settings.operation_timeout
        if subscription:
            self.subscribed.add(op_id)
        try:
            with self.server.operations.track(request_id, self.caller.tenant.slug, query):
                fanout = broadcast.traced(self.server.fanout, self.server.tracing)
                results = await self.server.results(self.caller, payload, request_id, fanout)
                async with contextlib.aclosing(results):  # ends the stream (and its listener) at once
                    head = await deadline.first(results, limit, request_id)
                    self.server.throttle.annotate(head, admitted, refund=not subscription)
                    if head is not None and not await self.deliver(op_id, head, request_id, fanout):
                        return
                    async for result in results:
                        self.server.throttle.annotate(result, admitted, refund=False)
                        if not await self.deliver(op_id, result, request_id, fanout):
                            return
            await self.send({"type": "complete", "id": op_id})
        except asyncio.CancelledError:
            raise
        except WebSocketDisconnect:
            return
        except deadline.OperationTimeout as error:
            await self.send_error(op_id, error.message, error.code, request_id)
        except Exception as error:  # noqa: BLE001 - one failed operation must not end the connection
            await self.failed(op_id, error, request_id)
        finally:
            # A completed id may already run again as a new operation: leave that one be.
            if self.operations.get(op_id) is asyncio.current_task():
                del self.operations[op_id]
                self.subscribed.discard(op_id)

    async def failed(self, op_id: str, error: Exception, request_id: str) -> None:
        """An outage is SERVICE_UNAVAILABLE, anything else a logged internal error."""
        if outage.is_outage(error):
            unavailable = outage.unavailable(error, request_id)
            await self.send_error(op_id, unavailable.message, unavailable.code, request_id)
            return
        log.error("operation %s failed", op_id, exc_info=error)
        await self.send_error(op_id, "Internal server error", "INTERNAL_SERVER_ERROR", request_id)

    async def deliver(
        self, op_id: str, result: ExecutionResult, request_id: str, fanout: object = None
    ) -> bool:
        """Send one result; False when the operation ended with it. Traced, a span."""
        made, ends = broadcast.messages(op_id, result, request_id)
        with fanout.pushing() if isinstance(fanout, broadcast.Traced) else NO_SPAN:
            for message in made:
                await self.send(message)
        return not ends

    async def send_error(
        self, op_id: str, message: str, code: str, request_id: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        extensions: dict[str, Any] = {"code": code, **(details or {})}
        if request_id is not None:
            extensions["requestId"] = request_id
        error = GraphQLError(message, extensions=extensions)
        metrics.count_errors((error.formatted,))
        await self.send({"type": "error", "id": op_id, "payload": [error.formatted]})

    async def send(self, message: dict[str, Any]) -> None:
        """Send one message; WebSocketDisconnect once the socket is closed (by either side)."""
        await self.send_text(orjson.dumps(message).decode())

    async def send_text(self, text: str) -> None:
        async with self.send_lock:
            if self.websocket.application_state == WebSocketState.DISCONNECTED:
                raise WebSocketDisconnect(1000)
            await self.websocket.send_text(text)

    def ended(self, op_id: str, member: broadcast.Member) -> None:
        """A shared operation sent its last message."""
        if self.operations.get(op_id) is member:
            del self.operations[op_id]
        self.server.limits.release(member)

    async def close(self, code: int, reason: str) -> None:
        async with self.send_lock:  # never in the middle of another message
            await _close(self.websocket, code, reason)

    def schedule_ping(self) -> None:
        """Ping now and then; each time, make sure the credential still holds. A timer, not
        a task, waits in between: an idle connection holds as little as it can."""
        interval = self.settings.ws_keepalive_seconds
        if interval > 0:
            self.ping_timer = asyncio.get_running_loop().call_later(interval, self._ping_due)

    def _ping_due(self) -> None:
        self.pinging = asyncio.create_task(self.keep_alive())

    async def keep_alive(self) -> None:
        try:
            # The tenant as it is now: its modules and cost limits apply to the next operation.
            caller = await self.server.keepalive_checks.check(self.authorization, self.tenant)
            self.caller = self.server.shared(caller)
        except DomainError as error:
            await self.close(4403, f"Forbidden: {error.message}")
            return
        except Exception:  # noqa: BLE001 - the database blinked: check again at the next ping
            log.warning("keep-alive could not re-check the credential", exc_info=True)
        try:
            await self.send({"type": "ping"})
        except WebSocketDisconnect:
            return
        finally:
            self.pinging = None
        self.schedule_ping()


async def _close(websocket: WebSocket, code: int, reason: str) -> None:
    if websocket.application_state != WebSocketState.DISCONNECTED:
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):
            await websocket.close(code=code, reason=reason.encode()[:123].decode(errors="ignore"))


__all__ = ["GraphQLWebSocket"]
