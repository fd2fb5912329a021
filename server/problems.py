"""RFC 7807 problem details: every REST error answers with one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from starlette.responses import Response

from domain.errors import DomainError

MEDIA_TYPE = "application/problem+json"


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    errors: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, object] | None = None,
) -> Response:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    if errors:
        body["errors"] = dict(errors)
    body.update(extra or {})
    return Response(orjson.dumps(body), status_code=status, media_type=MEDIA_TYPE, headers=headers)


def from_error(error: DomainError, status: int | None = None, title: str | None = None) -> Response:
    fields = error.details.get("fields")
    return problem(
        status or error.http_status,
        title or error.code.replace("_", " ").capitalize(),
        error.message,
        errors=fields if isinstance(fields, Mapping) else None,
    )

