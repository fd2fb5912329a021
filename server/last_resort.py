"""The outermost ASGI middleware: whatever escapes an endpoint becomes a JSON answer with the
request id, never Starlette's text/plain 500. A dependency that failed is a 503 with
Retry-After; anything else is a bug: 500, logged with its traceback."""

from __future__ import annotations

import logging
import uuid

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from domain.errors import ServiceUnavailable
from schema import outage
from server import logging as logs

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
            await _answer(send, scope, error, request_id)


async def _answer(send: Send, scope: Scope, error: Exception, request_id: str) -> None:
    unavailable = outage.is_outage(error)
    status = 503 if unavailable else 500
    if scope["path"].startswith("/webhooks/"):
        detail = outage.unavailable(error, request_id).message if unavailable else INTERNAL
        title = "Service unavailable" if unavailable else "Internal server error"
        body = {"type": "about:blank", "title": title, "status": status, "detail": detail,
                "requestId": request_id}
        media_type = b"application/problem+json"
    else:
        failure = outage.unavailable(error, request_id) if unavailable else None
        message = failure.message if failure else INTERNAL
        code = failure.code if failure else "INTERNAL_SERVER_ERROR"
        body = {"data": None, "errors": [{"message": message, "extensions": {
            "code": code, "requestId": request_id}}]}
        media_type = b"application/json"
    headers = [(b"content-type", media_type), (b"x-request-id", request_id.encode())]
    if unavailable:
        headers.append((b"retry-after", str(ServiceUnavailable.retry_after).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": orjson.dumps(body)})


def _request_id(scope: Scope) -> str:
    """The id the endpoint gave the request (it set the log context), else the caller's."""
    known = logs.request_id.get()
    if known != "-":
        return known
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id" and value:
            return str(value.decode("latin-1"))[:64]
    return uuid.uuid4().hex
