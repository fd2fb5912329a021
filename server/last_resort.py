"""The outermost ASGI middleware: whatever escapes an endpoint becomes a JSON answer with the
request id, never Starlette's text/plain 500. A dependency that failed is a 503 with
Retry-After; anything else is a bug: 500, logged with its traceback."""

from __future__ import annotations

import logging
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from schema import outage
from server import logging as logs
from server import operation, problems, unavailable

log = logging.getLogger("tenantgraph.errors")
INTERNAL = "Internal server error: the request id finds it in the server's log"


class LastResort:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] in ("http.response.start", "websocket.accept",
                                                      "websocket.close", "websocket.http.response.start")
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception as error:
            request_id = _request_id(scope)
            if outage.is_outage(error):
                log.warning("dependency unavailable (request %s): %r", request_id, error)
            else:
                log.exception("unexpected error (request %s)", request_id)
            if started:
                return  # the answer is under way: nothing more can be said in it
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1011, "reason": "Internal error"})
                return
            await _answer(scope, receive, send, error, request_id)


async def _answer(scope: Scope, receive: Receive, send: Send, error: Exception, request_id: str) -> None:
    rest = scope["path"].startswith("/webhooks/")
    if outage.is_outage(error):
        failure = outage.unavailable(error, request_id)
        answer = unavailable.problem if rest else unavailable.graphql_error
        response = answer(failure, request_id)
    elif rest:
        response = problems.problem(500, "Internal server error", INTERNAL,
                                    headers={"x-request-id": request_id}, extra={"requestId": request_id})
    else:
        body = {"data": None, "errors": [{"message": INTERNAL, "extensions": {
            "code": "INTERNAL_SERVER_ERROR", "requestId": request_id}}]}
        response = operation.json_response(body, 500, request_id)
    await response(scope, receive, send)


def _request_id(scope: Scope) -> str:
    """The id the endpoint gave the request (it set the log context), else the caller's."""
    known = logs.request_id.get()
    if known != "-":
        return known
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id" and value:
            return str(value.decode("latin-1"))[:64]
    return uuid.uuid4().hex
