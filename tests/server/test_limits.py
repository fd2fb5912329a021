"""Safe defaults on /graphql: request limits, HTTP semantics, production settings, masked errors."""

from __future__ import annotations

import dataclasses
import types
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
import strawberry

from domain.config import Settings
from domain.errors import NotFound
from schema.errors import DomainErrors
from tests.documents import codes

SMALL = {"max_query_depth": 3, "max_aliases": 2, "max_tokens": 40, "max_body_bytes": 600}

TENANT = "query Tenant { tenant { slug } }"

DEEP = """
query Deep { products(first: 1) { edges { node { variants { price { amount } } } } } }
"""

SHALLOW = "query Shallow { tenant { slug modules } }"

ALIASES = "query Aliased { a: tenant { slug } b: tenant { slug } c: tenant { slug } }"

TWO_ALIASES = "query TwoAliases { a: tenant { slug } b: tenant { name } }"

MANY_TOKENS = "query Many { " + " ".join(f"f{n}: tenant {{ slug }}" for n in range(20)) + " }"

SYNTAX_ERROR = "query Broken { tenant { slug "

INTROSPECTION = "query Introspect { __schema { queryType { name } } }"

ARCHIVE = """
mutation Archive { archiveProduct(id: "00000000-0000-0000-0000-000000000000") { product { id } } }
"""

TWO_OPERATIONS = "query A { tenant { slug } } query B { tenant { name } }"


@strawberry.type
class ProbeQuery:
    @strawberry.field
    def broken(self) -> str:
        raise RuntimeError("secret: the connection string is postgres://owner:hunter2@db")

    @strawberry.field
    def missing(self) -> str:
        raise NotFound("no such widget")

    @strawberry.field
    def fine(self) -> str:
        return "ok"

    @strawberry.field
    def optional(self) -> str | None:
        raise ValueError("unexpected")


PROBE = strawberry.Schema(query=ProbeQuery, extensions=[DomainErrors])


@pytest.fixture
def small_settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, **SMALL)


@pytest.fixture
def production_settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, introspection=False, graphiql=False)


@pytest.fixture
async def small(client_for: Any, small_settings: Settings) -> httpx.AsyncClient:
    small_client: httpx.AsyncClient = client_for(small_settings)
    return small_client


@pytest.fixture
async def production(client_for: Any, production_settings: Settings) -> httpx.AsyncClient:
    production_client: httpx.AsyncClient = client_for(production_settings)
    return production_client


def bearer(tenant: Any) -> dict[str, str]:
    return {"authorization": f"Bearer {tenant.key}"}


async def post(client: httpx.AsyncClient, tenant: Any, query: str) -> httpx.Response:
    return await client.post("/graphql", json={"query": query}, headers=bearer(tenant))


def error_codes(response: httpx.Response) -> list[str | None]:
    """Codes of the errors, None for an error without one (codes() would raise instead)."""
    return [e.get("extensions", {}).get("code") for e in response.json().get("errors", [])]


def first_error(response: httpx.Response) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["errors"][0]
    return error


# Query limits.


async def test_too_deep_query_is_refused(small: httpx.AsyncClient, tenant_a: Any) -> None:
    response = await post(small, tenant_a, DEEP)

    assert response.status_code == 400
    assert codes(response.json()) == ["GRAPHQL_VALIDATION_FAILED"]
    assert "exceeds maximum operation depth of 3" in first_error(response)["message"]


async def test_query_within_depth_runs(small: httpx.AsyncClient, tenant_a: Any) -> None:
    response = await post(small, tenant_a, SHALLOW)

    assert response.status_code == 200
    assert response.json()["data"]["tenant"]["slug"] == tenant_a.slug


async def test_too_many_aliases_are_refused(small: httpx.AsyncClient, tenant_a: Any) -> None:
    response = await post(small, tenant_a, ALIASES)

    assert response.status_code == 400
    assert codes(response.json()) == ["GRAPHQL_VALIDATION_FAILED"]
    assert first_error(response)["message"] == "3 aliases found. Allowed: 2"


async def test_aliases_within_the_limit_run(small: httpx.AsyncClient, tenant_a: Any) -> None:
    response = await post(small, tenant_a, TWO_ALIASES)

    assert response.status_code == 200
    assert response.json()["data"]["a"] == {"slug": tenant_a.slug}


async def test_too_many_tokens_are_refused(small: httpx.AsyncClient, tenant_a: Any) -> None:
    response = await post(small, tenant_a, MANY_TOKENS)

    assert response.status_code == 400
    assert error_codes(response) == ["GRAPHQL_PARSE_FAILED"]
    assert "more than 40 tokens" in first_error(response)["message"]


async def test_default_limits_allow_what_small_limits_refuse(tenant_a: Any) -> None:
    response = await tenant_a.post(MANY_TOKENS)

    assert response.status_code == 200
    assert "errors" not in response.json()


async def test_syntax_error_is_parse_failed(tenant_a: Any) -> None:
    response = await tenant_a.post(SYNTAX_ERROR)

    assert response.status_code == 400
    assert error_codes(response) == ["GRAPHQL_PARSE_FAILED"]
    assert first_error(response)["message"].startswith("Syntax Error")


async def test_unknown_field_is_validation_failed(tenant_a: Any) -> None:
    response = await tenant_a.post("query Unknown { tenant { nickname } }")

    assert response.status_code == 400
    assert codes(response.json()) == ["GRAPHQL_VALIDATION_FAILED"]


async def test_unknown_operation_name_is_a_bad_request(tenant_a: Any) -> None:
    response = await tenant_a.client.post(
        "/graphql",
        json={"query": TWO_OPERATIONS, "operationName": "Nope"},
        headers=bearer(tenant_a),
    )

    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] in {
        "BAD_REQUEST", "GRAPHQL_VALIDATION_FAILED"
    }


async def test_operation_name_picks_one_of_several_operations(tenant_a: Any) -> None:
    response = await tenant_a.client.post(
        "/graphql",
        json={"query": TWO_OPERATIONS, "operationName": "B"},
        headers=bearer(tenant_a),
    )

    assert response.status_code == 200
    assert response.json() == {"data": {"tenant": {"name": tenant_a.tenant.name}}}


# The request body.


async def test_oversized_body_with_content_length_is_413(
    small: httpx.AsyncClient, tenant_a: Any
) -> None:
    body = orjson.dumps({"query": TENANT, "variables": {"pad": "x" * 1000}})

    response = await small.post(
        "/graphql", content=body, headers={**bearer(tenant_a), "content-type": "application/json"}
    )

    assert response.status_code == 413
    assert codes(response.json()) == ["PAYLOAD_TOO_LARGE"]
    assert "600 bytes" in first_error(response)["message"]


async def test_oversized_streamed_body_without_length_is_413(
    small: httpx.AsyncClient, tenant_a: Any
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"query": "' + TENANT.encode() + b'", "variables": {"pad": "'
        for _ in range(20):
            yield b"x" * 100
        yield b'"}}'

    request = small.build_request(
        "POST", "/graphql", content=chunks(),
        headers={**bearer(tenant_a), "content-type": "application/json"},
    )
    assert "content-length" not in request.headers

    response = await small.send(request)

    assert response.status_code == 413
    assert codes(response.json()) == ["PAYLOAD_TOO_LARGE"]


async def test_streamed_body_within_the_limit_runs(small: httpx.AsyncClient, tenant_a: Any) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"query": '
        yield orjson.dumps(TENANT)
        yield b"}"

    response = await small.post(
        "/graphql", content=chunks(), headers={**bearer(tenant_a), "content-type": "application/json"}
    )

    assert response.status_code == 200
    assert response.json() == {"data": {"tenant": {"slug": tenant_a.slug}}}


async def test_wrong_content_type_is_415(tenant_a: Any) -> None:
    response = await tenant_a.client.post(
        "/graphql",
        content=orjson.dumps({"query": TENANT}),
        headers={**bearer(tenant_a), "content-type": "text/plain"},
    )

    assert response.status_code == 415
    assert codes(response.json()) == ["UNSUPPORTED_MEDIA_TYPE"]


async def test_graphql_response_content_type_is_accepted(tenant_a: Any) -> None:
    response = await tenant_a.client.post(
        "/graphql",
        content=orjson.dumps({"query": TENANT}),
        headers={**bearer(tenant_a), "content-type": "application/graphql-response+json; charset=utf-8"},
    )

    assert response.status_code == 200


async def test_invalid_json_is_400(tenant_a: Any) -> None:
    response = await tenant_a.client.post(
        "/graphql",
        content=b'{"query": "{ tenant { slug } }"',
        headers={**bearer(tenant_a), "content-type": "application/json"},
    )

    assert response.status_code == 400
    assert codes(response.json()) == ["BAD_REQUEST"]
    assert "not valid JSON" in first_error(response)["message"]


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ([{"query": TENANT}], "batched requests"),
        ("query", "JSON object"),
        ({}, "'query'"),
        ({"query": ""}, "'query'"),
        ({"query": 42}, "'query'"),
        ({"query": TENANT, "variables": [1, 2]}, "'variables'"),
        ({"query": TENANT, "variables": "{}"}, "'variables'"),
        ({"query": TENANT, "operationName": 7}, "'operationName'"),
    ],
    ids=["list", "string", "no-query", "empty-query", "number-query", "list-variables",
         "string-variables", "number-operation-name"],
)
async def test_malformed_payload_is_400(tenant_a: Any, payload: Any, message: str) -> None:
    response = await tenant_a.client.post("/graphql", json=payload, headers=bearer(tenant_a))

    assert response.status_code == 400
    assert codes(response.json()) == ["BAD_REQUEST"]
    assert message in first_error(response)["message"]


# GET.


async def test_query_over_get_works(tenant_a: Any) -> None:
    response = await tenant_a.client.get(
        "/graphql", params={"query": TENANT}, headers=bearer(tenant_a)
    )

    assert response.status_code == 200
    assert response.json() == {"data": {"tenant": {"slug": tenant_a.slug}}}


async def test_query_over_get_takes_json_variables(tenant_a: Any) -> None:
    response = await tenant_a.client.get(
        "/graphql",
        params={"query": "query Q($id: ID!) { product(id: $id) { id } }",
                "variables": '{"id": "00000000-0000-0000-0000-000000000000"}'},
        headers=bearer(tenant_a),
    )

    assert response.status_code == 200
    assert response.json() == {"data": {"product": None}}


async def test_invalid_json_variables_over_get_are_400(tenant_a: Any) -> None:
    response = await tenant_a.client.get(
        "/graphql", params={"query": TENANT, "variables": "{nope"}, headers=bearer(tenant_a)
    )

    assert response.status_code == 400
    assert codes(response.json()) == ["BAD_REQUEST"]


async def test_mutation_over_get_is_405(tenant_a: Any) -> None:
    response = await tenant_a.client.get(
        "/graphql", params={"query": ARCHIVE}, headers=bearer(tenant_a)
    )

    assert response.status_code == 405
    assert codes(response.json()) == ["METHOD_NOT_ALLOWED"]


async def test_graphiql_is_served_in_dev(tenant_a: Any) -> None:
    response = await tenant_a.client.get("/graphql", headers={"accept": "text/html"})

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "graphiql" in response.text.lower()


# Production-like settings.


async def test_introspection_is_refused_in_production(
    production: httpx.AsyncClient, tenant_a: Any
) -> None:
    response = await post(production, tenant_a, INTROSPECTION)

    assert response.status_code == 400
    assert set(codes(response.json())) == {"GRAPHQL_VALIDATION_FAILED"}
    assert "introspection has been disabled" in first_error(response)["message"]


async def test_introspection_is_answered_in_dev(tenant_a: Any) -> None:
    response = await tenant_a.post(INTROSPECTION)

    assert response.json() == {"data": {"__schema": {"queryType": {"name": "Query"}}}}


async def test_queries_still_run_in_production(production: httpx.AsyncClient, tenant_a: Any) -> None:
    response = await post(production, tenant_a, TENANT)

    assert response.json() == {"data": {"tenant": {"slug": tenant_a.slug}}}


async def test_graphiql_is_not_found_in_production(production: httpx.AsyncClient) -> None:
    response = await production.get("/graphql", headers={"accept": "text/html"})

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"


# Errors and request ids.


async def test_unexpected_errors_are_masked_with_the_request_id() -> None:
    result = await PROBE.execute("{ broken }", context_value=types.SimpleNamespace(request_id="req-42"))

    assert result.errors is not None
    assert [error.formatted for error in result.errors] == [{
        "message": "Internal server error",
        "locations": [{"line": 1, "column": 3}],
        "path": ["broken"],
        "extensions": {"code": "INTERNAL_SERVER_ERROR", "requestId": "req-42"},
    }]


async def test_masked_errors_do_not_leak_the_original_message() -> None:
    result = await PROBE.execute("{ broken }", context_value=types.SimpleNamespace(request_id="r"))

    assert result.errors is not None
    assert "hunter2" not in str([error.formatted for error in result.errors])


async def test_domain_errors_keep_their_message_and_code() -> None:
    result = await PROBE.execute("{ missing }", context_value=types.SimpleNamespace(request_id="r"))

    assert result.errors is not None
    assert result.errors[0].message == "no such widget"
    assert result.errors[0].extensions == {"code": "NOT_FOUND"}


async def test_masked_error_in_a_nullable_field_keeps_the_other_fields() -> None:
    result = await PROBE.execute(
        "{ fine optional }", context_value=types.SimpleNamespace(request_id="r")
    )

    assert result.data == {"fine": "ok", "optional": None}
    assert result.errors is not None
    assert [(e.message, e.path) for e in result.errors] == [("Internal server error", ["optional"])]


async def test_request_id_is_echoed(tenant_a: Any) -> None:
    response = await tenant_a.post(TENANT, headers={"x-request-id": "trace-abc-123"})

    assert response.headers["x-request-id"] == "trace-abc-123"


async def test_request_id_is_echoed_on_refused_requests(tenant_a: Any) -> None:
    response = await tenant_a.client.post(
        "/graphql",
        content=b"query { tenant { slug } }",
        headers={**bearer(tenant_a), "content-type": "application/graphql", "x-request-id": "r-415"},
    )

    assert response.status_code == 415
    assert response.headers["x-request-id"] == "r-415"


async def test_request_id_is_generated_when_absent(tenant_a: Any) -> None:
    response = await tenant_a.post(TENANT)

    assert len(response.headers["x-request-id"]) >= 16
