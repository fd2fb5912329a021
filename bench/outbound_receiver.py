"""The receiver of bench (i): `python -m bench.outbound_receiver PORT`. It verifies every
request's signature with the `standardwebhooks` library against the secret of its path, and
records when each arrived; a path set down answers 503.

Control: POST /_secrets {path: secret}; POST /_down {"path": ..., "down": bool};
GET /_stats -> [[path, webhook-id, unix time received, verified, status answered], ...]."""

from __future__ import annotations

import sys
import time
from typing import Any

import uvicorn
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


class Receiver:
    def __init__(self) -> None:
        self.verifiers: dict[str, Webhook] = {}
        self.down: set[str] = set()
        self.seen: list[tuple[str, str, float, bool, int]] = []

    async def secrets(self, request: Request) -> Response:
        given: dict[str, str] = await request.json()
        self.verifiers.update({path: Webhook(secret) for path, secret in given.items()})
        return JSONResponse({"ok": True})

    async def set_down(self, request: Request) -> Response:
        given: dict[str, Any] = await request.json()
        (self.down.add if given["down"] else self.down.discard)(given["path"])
        return JSONResponse({"ok": True})

    async def stats(self, request: Request) -> Response:
        return JSONResponse(self.seen)

    async def hook(self, request: Request) -> Response:
        arrived = time.time()
        path = request.url.path
        payload = await request.body()
        verifier = self.verifiers.get(path)
        verified = verifier is not None and _verifies(verifier, payload, dict(request.headers))
        status = 503 if path in self.down else (200 if verified else 401)
        self.seen.append((path, request.headers.get("webhook-id", ""), arrived, verified, status))
        return Response("down" if status == 503 else "ok", status_code=status)


def _verifies(verifier: Webhook, payload: bytes, headers: dict[str, str]) -> bool:
    try:
        verifier.verify(payload, headers)
    except (WebhookVerificationError, ValueError, UnicodeDecodeError):
        return False
    return True


def app() -> Starlette:
    receiver = Receiver()
    return Starlette(routes=[
        Route("/_secrets", receiver.secrets, methods=["POST"]),
        Route("/_down", receiver.set_down, methods=["POST"]),
        Route("/_stats", receiver.stats, methods=["GET"]),
        Route("/{path:path}", receiver.hook, methods=["POST"]),
    ])


if __name__ == "__main__":
    uvicorn.run(app(), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
