"""What graphql-transport-ws messages and upgrades say, read without a connection: the
tenant of an upgrade, the credential of a connection_init, the key under which equal
subscriptions share one stream; and Close, how a connection is ended with a code."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import orjson
from starlette.requests import HTTPConnection

from server import auth, deadline


class Close(Exception):
    """Close the connection with this graphql-transport-ws code and reason."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def shared_key(caller: auth.Caller, payload: dict[str, Any], max_tokens: int) -> Hashable | None:
    """What makes two operations' results equal, when they may share one stream (see
    server.broadcast); None for anything else: queries, mutations, streams from a cursor."""
    query, name, variables = payload["query"], payload.get("operationName"), payload.get("variables")
    if "after" in query or not isinstance(name, str | None) or not isinstance(variables, dict | None):
        return None
    if not deadline.is_subscription(query, name, max_tokens):
        return None
    try:
        variables_key = orjson.dumps(variables or {}, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return None
    tenant, principal = caller.tenant, caller.principal
    return (tenant.id, tenant.fingerprint, query, name, variables_key,
            principal.kind, principal.tenant_id, principal.scopes)


def authorization(payload: Any) -> str | None:
    if not isinstance(payload, dict):
        return None
    for key in ("Authorization", "authorization"):
        if isinstance(payload.get(key), str):
            return str(payload[key])
    token = payload.get("token") or payload.get("apiKey")
    return f"Bearer {token}" if isinstance(token, str) else None


def payload_of(message: dict[str, Any]) -> dict[str, Any]:
    return {"payload": message["payload"]} if "payload" in message else {}


def tenant_of(websocket: HTTPConnection) -> str | None:
    """`?tenant=<slug>`, else the first label of a host like acme.api.example.com (or, in
    development, acme.localhost)."""
    named = websocket.query_params.get("tenant")
    if named:
        return named
    host = (websocket.headers.get("host") or "").split(":")[0].lower()
    labels = host.split(".")
    if host.replace(".", "").isdigit():
        return None
    if len(labels) >= 3 or (len(labels) == 2 and labels[1] == "localhost"):
        return labels[0] or None
    return None
