"""The 503 answer to an outage, built here once per media type: GraphQL JSON (its errors say
SERVICE_UNAVAILABLE) on /graphql and SSE, an RFC 7807 problem on the REST routes. Both carry
Retry-After and the request id."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from domain.errors import ServiceUnavailable
from server import operation, problems


def graphql(body: dict[str, Any], request_id: str) -> Response:
    """A GraphQL response whose outage answered nothing (see server.graphql), as a 503."""
    retry = {"retry-after": str(ServiceUnavailable.retry_after)}
    return operation.json_response(body, 503, request_id, retry)


def graphql_error(error: ServiceUnavailable, request_id: str) -> Response:
    """No data, the one error: the operation did not run."""
    return graphql(operation.error_body(error), request_id)


def problem(error: ServiceUnavailable, request_id: str) -> Response:
    return problems.problem(
        503, "Service unavailable", error.message,
        headers={"retry-after": str(error.retry_after), "x-request-id": request_id},
        extra={"retryAfterSeconds": error.retry_after, "requestId": request_id},
    )
