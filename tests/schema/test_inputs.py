"""What a client sends, checked at the GraphQL boundary: a NUL character or a string longer
than its column is a BAD_USER_INPUT naming the input path (literals when validated, variables
before execution, on the planned path too, subscriptions included) and writes nothing; a
PostgreSQL data exception is a BAD_USER_INPUT, not a server error; an integer too long for
its type is out of range; production shows neither suggestions nor the schema."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx
import orjson
import pytest

from domain.config import Settings
from tests.conftest import TenantHandle
from tests.documents import CREATE_PRODUCT, PRODUCT_BY_SKU, PRODUCTS

NUL = "must not contain a NUL character"
MODULES = ("catalog", "customers", "inventory")

CREATE_CATEGORY = """
mutation Category($input: CategoryInput!) {
  createCategory(input: $input) { category { id } errors { field message } }
}
"""
CATEGORIES = "query Categories { categories { handle } }"
CREATE_API_KEY = """
mutation Key($input: ApiKeyInput!) { createApiKey(input: $input) { token errors { field } } }
"""
API_KEYS = "query Keys { apiKeys { name } }"
CREATE_ENDPOINT = """
mutation Endpoint($token: String) {
  createWebhookEndpoint(flow: PURCHASE, verifyToken: $token) { endpoint { flow } errors { field } }
}
"""
ENDPOINTS = "query Endpoints { webhookEndpoints { flow } }"
CUSTOMER_BY_EMAIL = "query ByEmail($email: String!) { customerByEmail(email: $email) { id } }"
STOCK = """
subscription Stock($sku: String) { inventoryChanged(sku: $sku) { cursor sku } }
"""


@pytest.fixture
async def shop(make_tenant: Any) -> TenantHandle:
    tenant: TenantHandle = await make_tenant(MODULES)
    return tenant


def refused(response: httpx.Response, path: str, what: str, status: int = 400) -> dict[str, Any]:
    """The single error of a refused request, checked: BAD_USER_INPUT naming `path`."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body.get("data") is None, body
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    assert error["extensions"]["fields"] == {path: what}, error
    assert path in error["message"] and what in error["message"], error
    return error  # type: ignore[no-any-return]


def server_errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


# NUL characters, in every kind of place.


@pytest.mark.parametrize(("query", "variables", "path"), [
    ('{ productBySku(sku: "a\\u0000b") { id } }', None, "sku"),
    (PRODUCT_BY_SKU, {"sku": "a\x00b"}, "sku"),
    ('{ customerByEmail(email: "a\\u0000@b.c") { id } }', None, "email"),
    (CUSTOMER_BY_EMAIL, {"email": "a\x00@b.c"}, "email"),
    ('{ products(filter: {search: "t\\u0000"}) { edges { cursor } } }', None, "filter.search"),
    (PRODUCTS, {"filter": {"handle": "\x00"}}, "filter.handle"),
    ('query ($s: String = "\\u0000") { productBySku(sku: $s) { id } }', None, "$s"),
], ids=["sku", "sku variable", "email", "email variable", "filter", "filter variable", "default"])
async def test_a_nul_in_a_query_argument_is_bad_user_input(
    shop: TenantHandle, caplog: pytest.LogCaptureFixture, query: str, variables: Any, path: str
) -> None:
    refused(await shop.post(query, variables), path, NUL)
    assert not server_errors(caplog)


async def test_a_nul_in_a_variable_of_a_planned_query_is_the_same_error(
    shop: TenantHandle, caplog: pytest.LogCaptureFixture
) -> None:
    for _ in range(2):  # the second run is answered by the planner
        clean = await shop.post(PRODUCTS, {"first": 5, "filter": {"search": "tee"}})
        assert clean.status_code == 200 and "errors" not in clean.json(), clean.text
    refused(await shop.post(PRODUCTS, {"first": 5, "filter": {"search": "t\x00"}}), "filter.search", NUL)
    assert not server_errors(caplog)


@pytest.mark.parametrize("literal", [True, False], ids=["literal", "variables"])
async def test_a_nul_in_a_nested_mutation_input_writes_nothing(
    shop: TenantHandle, caplog: pytest.LogCaptureFixture, literal: bool
) -> None:
    variant = {"sku": "TEE-1", "price": {"amount": 100, "currency": "EUR"}, "title": "Red\x00"}
    if literal:
        response = await shop.post(
            'mutation { createProduct(input: {title: "Tee", variants: [{sku: "TEE-1", '
            'price: {amount: 100, currency: "EUR"}, title: "Red\\u0000"}]}) { product { id } } }'
        )
    else:
        response = await shop.post(CREATE_PRODUCT, {"input": {"title": "Tee", "variants": [variant]}})
    refused(response, "input.variants[0].title", NUL)
    assert (await shop.gql(PRODUCTS))["data"]["products"]["edges"] == []
    assert not server_errors(caplog)


async def test_a_nul_in_a_list_of_strings_is_named_by_its_index(shop: TenantHandle) -> None:
    response = await shop.post(
        "mutation C($input: CustomerCreateInput!) { createCustomer(input: $input) { customer { id } } }",
        {"input": {"email": "a@b.co", "tags": ["vip", "x\x00"]}},
    )
    refused(response, "input.tags[1]", NUL)
    assert (await shop.gql("{ customers { edges { cursor } } }"))["data"]["customers"]["edges"] == []


async def test_a_nul_in_a_subscription_argument_ends_the_stream_with_the_error(
    shop: TenantHandle, caplog: pytest.LogCaptureFixture
) -> None:
    async def stream() -> httpx.Response:
        return await shop.client.post(
            "/graphql/stream", json={"query": STOCK, "variables": {"sku": "a\x00"}},
            headers={"authorization": f"Bearer {shop.key}", "accept": "text/event-stream"},
        )

    response = await asyncio.wait_for(stream(), timeout=10)
    frames = [f for f in response.text.split("\n\n") if f.startswith("event: next")]
    [frame] = frames
    body = orjson.loads(frame.split("data: ", 1)[1])
    [error] = body["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "fields": {"sku": NUL}}, error
    assert not server_errors(caplog)


# Lengths, from the columns the fields are written to.


@pytest.mark.parametrize("literal", [True, False], ids=["literal", "variables"])
async def test_a_category_handle_longer_than_its_column_is_refused_and_nothing_written(
    shop: TenantHandle, caplog: pytest.LogCaptureFixture, literal: bool
) -> None:
    handle = "h" * 129
    if literal:
        response = await shop.post(
            f'mutation {{ createCategory(input: {{name: "Shoes", handle: "{handle}"}}) '
            "{ category { id } } }"
        )
    else:
        response = await shop.post(CREATE_CATEGORY, {"input": {"name": "Shoes", "handle": handle}})
    refused(response, "input.handle", "at most 120 characters")
    assert (await shop.gql(CATEGORIES))["data"]["categories"] == []
    assert not server_errors(caplog)


async def test_a_category_handle_of_exactly_the_column_length_is_accepted(shop: TenantHandle) -> None:
    body = await shop.gql(CREATE_CATEGORY, {"input": {"name": "Shoes", "handle": "h" * 120}})
    assert body["data"]["createCategory"]["category"]["id"], body


async def test_an_api_key_name_longer_than_its_column_is_refused(
    shop: TenantHandle, caplog: pytest.LogCaptureFixture
) -> None:
    response = await shop.post(CREATE_API_KEY, {"input": {"name": "k" * 201, "scopes": ["catalog:read"]}})
    refused(response, "input.name", "at most 200 characters")
    assert [k["name"] for k in (await shop.gql(API_KEYS))["data"]["apiKeys"]] == ["admin"]
    assert not server_errors(caplog)


async def test_every_problem_of_a_request_is_named(shop: TenantHandle) -> None:
    response = await shop.post(CREATE_CATEGORY, {"input": {"name": "n" * 201, "handle": "h\x00"}})
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["extensions"]["fields"] == {
        "input.name": "at most 200 characters", "input.handle": NUL,
    }


# PostgreSQL data exceptions (SQLSTATE class 22) that no check above caught.


async def test_a_postgresql_data_exception_is_bad_user_input_not_a_server_error(
    shop: TenantHandle, caplog: pytest.LogCaptureFixture
) -> None:
    response = await shop.post(CREATE_ENDPOINT, {"token": "t" * 129})
    assert response.status_code == 200, response.text
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    assert "value too long" in error["message"], error
    assert error["path"] == ["createWebhookEndpoint"]
    assert (await shop.gql(ENDPOINTS))["data"]["webhookEndpoints"] == []
    assert not server_errors(caplog)


# Integers too long for their type.


@pytest.mark.parametrize(("query", "scalar"), [
    ("{ products(first: %s) { edges { cursor } } }" % ("1" * 5000), "Int"),
    ("{ products(first: -%s) { edges { cursor } } }" % ("9" * 30), "Int"),
    (
        'mutation { createProduct(input: {title: "Tee", variants: [{sku: "A", '
        'price: {amount: %s, currency: "EUR"}}]}) { product { id } } }' % ("1" * 5000),
        "BigInt",
    ),
], ids=["5000 digits", "30 digits, negative", "BigInt in a nested input"])
async def test_an_integer_literal_too_long_for_its_type_is_out_of_range(
    shop: TenantHandle, query: str, scalar: str
) -> None:
    response = await shop.post(query)
    assert response.status_code == 400, response.text
    [error] = response.json()["errors"]
    assert error["message"].startswith(f"{scalar} out of range"), error
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "sys." not in response.text and "1" * 100 not in response.text


async def test_an_integer_variable_too_long_for_json_numbers_is_a_clear_400(shop: TenantHandle) -> None:
    body = b'{"query": "query P($first: Int) { products(first: $first) { edges { cursor } } }", ' \
        b'"variables": {"first": ' + b"1" * 5000 + b"}}"
    response = await shop.client.post(
        "/graphql", content=body,
        headers={"authorization": f"Bearer {shop.key}", "content-type": "application/json"},
    )
    assert response.status_code == 400, response.text
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "BAD_REQUEST"
    assert error["message"].startswith("body: number out of range at line 1"), error


# Production hides the schema: no introspection, no "Did you mean".


@pytest.fixture
def production_settings(settings: Settings) -> Settings:
    assert settings.database_url and settings.redis_url
    return Settings.from_env({
        "TG_ENV": "production", "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url, "APP_DATABASE_PASSWORD": "not-the-published-one",
        "JWT_SECRET": "production-test-secret-0123456789abcdef",
        "STREAM_TOKEN_SECRET": "production-stream-token-secret-0123456789",
    })


@pytest.fixture
async def production(client_for: Any, production_settings: Settings) -> httpx.AsyncClient:
    made: httpx.AsyncClient = client_for(production_settings)
    return made


MISTAKES = {
    "field": ("{ prodcts { edges { cursor } } }", "products"),
    "argument": ("{ products(frist: 1) { edges { cursor } } }", "first"),
    "enum value": ("{ products(orderBy: {field: TITEL}) { edges { cursor } } }", "TITLE"),
    "input field": ('{ products(filter: {serch: "x"}) { edges { cursor } } }', "search"),
    "type": ("query ($f: ProductFiltr) { products(filter: $f) { edges { cursor } } }", "ProductFilter"),
}


@pytest.mark.parametrize(("query", "hint"), MISTAKES.values(), ids=list(MISTAKES))
async def test_production_errors_suggest_nothing(
    production: httpx.AsyncClient, shop: TenantHandle, query: str, hint: str
) -> None:
    response = await production.post(
        "/graphql", json={"query": query}, headers={"authorization": f"Bearer {shop.key}"}
    )
    assert response.status_code == 400, response.text
    assert "Did you mean" not in response.text and hint not in response.text, response.text


async def test_production_variable_errors_suggest_nothing(
    production: httpx.AsyncClient, shop: TenantHandle
) -> None:
    response = await production.post(
        "/graphql", json={"query": PRODUCTS, "variables": {"filter": {"serch": "x"}}},
        headers={"authorization": f"Bearer {shop.key}"},
    )
    assert response.status_code == 400, response.text
    assert "Did you mean" not in response.text and "search" not in response.text, response.text


@pytest.mark.parametrize(("query", "hint"), [
    *MISTAKES.values(),
    ("subscription { evnts { cursor } }", "events"),
    ("subscription { events { crsor } }", "cursor"),
])
async def test_production_errors_on_the_event_stream_suggest_nothing(
    production: httpx.AsyncClient, shop: TenantHandle, query: str, hint: str
) -> None:
    """Streamed results leave before the operation ends: hints are dropped before that."""
    response = await production.post(
        "/graphql/stream", json={"query": query},
        headers={"authorization": f"Bearer {shop.key}", "accept": "text/event-stream"},
    )
    assert "GRAPHQL_VALIDATION_FAILED" in response.text, response.text
    assert "Did you mean" not in response.text and hint not in response.text, response.text


@pytest.mark.parametrize(("query", "hint"), MISTAKES.values(), ids=list(MISTAKES))
async def test_dev_errors_still_suggest(shop: TenantHandle, query: str, hint: str) -> None:
    response = await shop.post(query)
    assert "Did you mean" in response.text and hint in response.text, response.text


async def test_production_refuses_introspection(
    production: httpx.AsyncClient, shop: TenantHandle
) -> None:
    response = await production.post(
        "/graphql", json={"query": "{ __schema { types { name } } }"},
        headers={"authorization": f"Bearer {shop.key}"},
    )
    assert response.status_code == 400, response.text
    assert "ProductFilter" not in response.text
    errors = response.json()["errors"]
    assert errors and all("introspection has been disabled" in e["message"] for e in errors), errors


async def test_production_settings_turn_suggestions_and_introspection_off(
    production_settings: Settings,
) -> None:
    assert (production_settings.suggestions, production_settings.introspection) == (False, False)
    assert Settings.from_env({}).suggestions is True
    assert Settings.from_env({"SUGGESTIONS": "false"}).suggestions is False

