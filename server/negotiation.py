"""GraphQL over HTTP (https://graphql.github.io/graphql-over-http/draft/): the response's media
type chosen by `Accept`, and the status codes that go with it.

Under `application/graphql-response+json` a GraphQL request error (parse, validation, no operation
to run, variables that do not coerce) is a 400 with no `data` entry, and every 4xx or 5xx carries
no `data` either. Under `application/json`, the legacy media type, a GraphQL request error is a 200
(clients of that type read errors from the body only); refusals before GraphQL (401, 403, 405,
413, 415, 429, 503, a body that is not JSON) keep their status under both.
"""

from __future__ import annotations

import functools
from typing import Any

import orjson
from starlette.responses import Response

from server import problems

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
OFFERED = (GRAPHQL_RESPONSE, JSON)
CONTENT_TYPES = {offered: f"{offered}; charset=utf-8".encode() for offered in OFFERED}


class RequestError(Response):
    """A well-formed GraphQL response to a request error: its status depends on the media type."""

    def __init__(self, body: dict[str, Any], request_id: str) -> None:
        super().__init__(orjson.dumps(body), 400, {"x-request-id": request_id}, JSON)


@functools.lru_cache(maxsize=256)
def choose_media_type(accept: str | None) -> str | None:
    """The media type to answer in, or None when `Accept` allows neither (406).

    No `Accept` (or an empty one) is application/json, as graphql-http's audit 80D8 expects.
    Named with equal quality, application/graphql-response+json wins; reached only through a
    wildcard (`*/*`, `application/*`), application/json does, which is what a client that names
    nothing is likely to read."""
    if not accept or not accept.strip():
        return JSON
    ours = {offered: _quality(accept, offered) for offered in OFFERED}
    best = max(ours.values(), key=lambda found: found[0])
    if best[0] <= 0:
        return None
    response_q, response_named = ours[GRAPHQL_RESPONSE]
    if response_q == best[0] and (response_named or ours[JSON][0] < best[0]):
        return GRAPHQL_RESPONSE
    return JSON


def _quality(accept: str, offered: str) -> tuple[float, bool]:
    """The quality `accept` gives `offered` (by its most specific matching range, RFC 9110
    12.5.1), and whether the range named it."""
    kind = offered.split("/")[0]
    found: tuple[int, float] = (-1, 0.0)
    for item in accept.split(","):
        media, _, params = item.partition(";")
        media = media.strip().lower()
        specificity = 2 if media == offered else 1 if media == f"{kind}/*" else 0 if media == "*/*" else -1
        if specificity > found[0]:
            found = (specificity, _q(params))
    return found[1], found[0] == 2


def _q(params: str) -> float:
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                return min(max(float(value.strip()), 0.0), 1.0)
            except ValueError:
                return 0.0
    return 1.0


def not_acceptable(accept: str, request_id: str) -> Response:
    return problems.problem(
        406, "Not acceptable",
        f"Accept: {accept[:200]} allows neither {GRAPHQL_RESPONSE} nor {JSON}",
        headers={"x-request-id": request_id, "vary": "Accept"},
        extra={"supported": list(OFFERED)},
    )


def finish_response(response: Response, media: str) -> None:
    """Give `response` the chosen media type and its status code."""
    if isinstance(response, RequestError) and media == JSON:
        response.status_code = 200
    elif media == GRAPHQL_RESPONSE and response.status_code >= 400:
        _drop_data(response)
    headers = response.raw_headers  # in place: `response.headers` may already wrap this list
    headers[:] = [(name, value) for name, value in headers if name != b"content-type"]
    headers.append((b"content-type", CONTENT_TYPES[media]))
    if any(name == b"vary" for name, _ in headers):
        response.headers.add_vary_header("Accept")
    else:
        headers.append((b"vary", b"Accept"))


def _drop_data(response: Response) -> None:
    """No `data` entry: the operation did not run (a 503's `data` of nulls resolved nothing)."""
    raw = bytes(response.body)
    if not raw.startswith(b'{"data":'):
        return
    body = orjson.loads(raw)
    del body["data"]
    response.body = orjson.dumps(body)
    response.headers["content-length"] = str(len(response.body))
