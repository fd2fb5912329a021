"""A webhook receiver for tests, run as a process of its own (`python -m tests.receiver PORT`):
it verifies every request's signature with the `standardwebhooks` library, once per secret it
was given for the path, records what it got, and answers as scripted.

Control: POST /_script {"path", "secrets", "answers": [{"status", "headers", "delay"}...]}
(answers are used in turn, then 200); GET /_received -> every request recorded, in order."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import orjson
import uvicorn
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


class Receiver:
    def __init__(self) -> None:
        self.scripts: dict[str, dict[str, Any]] = {}
        self.received: list[dict[str, Any]] = []

    async def script(self, request: Request) -> Response:
        script = await request.json()
        self.scripts[script["path"]] = {"secrets": script.get("secrets", []),
                                        "answers": list(script.get("answers", []))}
        return JSONResponse({"ok": True})

    async def list(self, request: Request) -> Response:
        return JSONResponse(self.received)

    async def hook(self, request: Request) -> Response:
        path = request.url.path
        payload = await request.body()
        script = self.scripts.setdefault(path, {"secrets": [], "answers": []})
        headers = {k: v for k, v in request.headers.items()}
        self.received.append({
            "path": path,
            "msg_id": headers.get("webhook-id"),
            "signatures": headers.get("webhook-signature", "").split(" "),
            "verified": [_verifies(secret, payload, headers) for secret in script["secrets"]],
            "body": orjson.loads(payload) if payload else None,
            "headers": headers,
        })
        answer = script["answers"].pop(0) if script["answers"] else {}
        if answer.get("delay"):
            await asyncio.sleep(answer["delay"])
        return Response(answer.get("body", "ok"), status_code=answer.get("status", 200),
                        headers=answer.get("headers", {}))


def _verifies(secret: str, payload: bytes, headers: dict[str, str]) -> bool:
    try:
        Webhook(secret).verify(payload, headers)
    except (WebhookVerificationError, ValueError, UnicodeDecodeError):
        return False
    return True


def app() -> Starlette:
    receiver = Receiver()
    return Starlette(routes=[
        Route("/_script", receiver.script, methods=["POST"]),
        Route("/_received", receiver.list, methods=["GET"]),
        Route("/{path:path}", receiver.hook, methods=["POST"]),
    ])


if __name__ == "__main__":
    uvicorn.run(app(), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
