"""What a WebSocket operation passes before it runs, in order: its trusted document (a hash
becomes its text), the request limits (the credential's subscribe rate, a live slot of its
tenant) and its query cost. A refusal answers that operation alone; the connection stays."""

from __future__ import annotations

import dataclasses
import uuid
from typing import TYPE_CHECKING, Any

from domain.errors import DomainError
from server import throttle
from server.live_limits import Held
from server.operation import error_body
from server.ws_protocol import Close

if TYPE_CHECKING:
    from server.websocket import _Session


@dataclasses.dataclass(frozen=True, slots=True)
class Admission:
    payload: dict[str, Any]
    held: Held | None
    """The live slot the operation holds until it ends (subscriptions only)."""
    admitted: throttle.Admitted


async def admit(session: _Session, op_id: str, payload: dict[str, Any]) -> Admission | None:
    """The operation as it will run, or None when it was refused (and told why)."""
    server, caller = session.server, session.caller
    assert caller is not None
    try:
        payload = await server.persisted.admit(payload, caller)
    except DomainError as error:
        await session.send_error(op_id, error.message, error.code)
        return None
    except Exception as error:  # noqa: BLE001 - the store unreachable fails this operation only
        await session.failed(op_id, error, uuid.uuid4().hex)
        return None
    if not isinstance(payload.get("query"), str):
        raise Close(4400, "Invalid message received: payload.query must be a string")
    try:
        held = await server.limits.subscribe(caller, payload)
    except DomainError as error:
        await session.send({"type": "error", "id": op_id, "payload": error_body(error)["errors"]})
        return None
    try:
        admitted = await server.throttle.admit(caller, server.schemas.for_tenant(caller.tenant), payload)
    except DomainError as error:
        if held is not None:
            held.release()
        await session.send_error(op_id, error.message, error.code, details=error.details)
        return None
    return Admission(payload, held, admitted)
