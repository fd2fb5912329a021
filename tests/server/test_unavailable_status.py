"""When an outage makes a GraphQL answer a 503 (retry it) and when a 200 with field errors."""

from __future__ import annotations

from typing import Any

from server.graphql import _unavailable

OUTAGE = {"message": "the database is unavailable", "extensions": {"code": "SERVICE_UNAVAILABLE"}}
OTHER = {"message": "no such product", "extensions": {"code": "NOT_FOUND"}}


def body(data: Any, *errors: dict[str, Any]) -> dict[str, Any]:
    return {"data": data, "errors": list(errors)}


def test_an_outage_that_answered_nothing_is_a_503() -> None:
    assert _unavailable(body(None, OUTAGE))
    assert _unavailable(body({"products": None}, OUTAGE))
    assert _unavailable(body({"a": None, "b": None}, OUTAGE, OUTAGE))


def test_a_first_mutation_that_committed_is_never_answered_with_a_retry() -> None:
    committed = {"createOrder": {"order": {"number": 7}}, "capturePayment": None}

    assert not _unavailable(body(committed, OUTAGE))


def test_other_errors_are_not_an_outage() -> None:
    assert not _unavailable(body(None, OTHER))
    assert not _unavailable({"data": {"products": []}})
