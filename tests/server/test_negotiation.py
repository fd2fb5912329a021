"""server.negotiation on its own: the answers that need an outage or a crafted header."""

from __future__ import annotations

import orjson
import pytest

from domain.errors import ServiceUnavailable
from server import unavailable
from server.negotiation import GRAPHQL_RESPONSE, JSON, choose_media_type, finish_response


@pytest.mark.parametrize(("accept", "chosen"), [
    ("APPLICATION/GRAPHQL-RESPONSE+JSON", GRAPHQL_RESPONSE),
    (f"{GRAPHQL_RESPONSE};q=abc, {JSON}", JSON),
    (f"{GRAPHQL_RESPONSE};q=0.8, {JSON};q=0.9", JSON),
    (f"{GRAPHQL_RESPONSE};q=0.9, {JSON};q=0.9", GRAPHQL_RESPONSE),
    (f"{JSON};q=0.9, {GRAPHQL_RESPONSE};q=0.9", GRAPHQL_RESPONSE),
    (f"{JSON};q=0, */*", GRAPHQL_RESPONSE),
    ("application/*;q=0.5, text/html", JSON),
    ("text/html;q=1, */*;q=0", None),
    ("text/event-stream", None),
])
def test_accept_is_read_by_quality_and_specificity(accept: str, chosen: str | None) -> None:
    assert choose_media_type(accept) == chosen


def test_an_outage_is_a_503_with_no_data_under_graphql_response_json() -> None:
    response = unavailable.graphql_error(ServiceUnavailable("PostgreSQL is unavailable"), "r1")

    finish_response(response, GRAPHQL_RESPONSE)

    assert response.status_code == 503
    body = orjson.loads(bytes(response.body))
    assert "data" not in body and body["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"
    assert response.headers["content-length"] == str(len(response.body))
    assert response.headers["content-type"] == f"{GRAPHQL_RESPONSE}; charset=utf-8"
    assert response.headers["retry-after"]


def test_an_outage_keeps_its_null_data_under_json() -> None:
    response = unavailable.graphql_error(ServiceUnavailable("Redis is unavailable"), "r1")

    finish_response(response, JSON)

    assert response.status_code == 503
    assert orjson.loads(bytes(response.body))["data"] is None
    assert response.headers["vary"] == "Accept"
