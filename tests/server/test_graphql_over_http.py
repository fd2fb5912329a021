"""GraphQL over HTTP (graphql-http's server audits, src/audits/server.ts, by their ids): the
media type chosen by `Accept`, and the status codes each media type gives request errors."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest
from gql import Client, gql
from gql.transport.exceptions import TransportQueryError
from gql.transport.httpx import HTTPXAsyncTransport

from server.app import create_app
from tests.conftest import TenantHandle

GRJ = "application/graphql-response+json"
JSON = "application/json"
APOLLO = "application/graphql-response+json, application/json;q=0.9"
"""What the spec tells clients to send, and what Apollo Client 4 and urql 4 send by default."""
SLUG = "{ tenant { slug } }"
COUNT_PRODUCTS = "query Count($first: Int!) { products(first: $first) { edges { cursor } } }"
CREATE = 'mutation { createCategory(input: {name: "Tees", handle: "tees"}) { category { id } } }'
CATEGORIES = "{ categories { id } }"


async def post(tenant: TenantHandle, body: Any, accept: str | None, **headers: str) -> httpx.Response:
    """POST /graphql with `accept` (None: no Accept header at all)."""
    request = tenant.client.build_request(
        "POST", "/graphql", content=orjson.dumps(body),
        headers={"authorization": f"Bearer {tenant.key}", "content-type": JSON, **headers},
    )
    if accept is None:
        del request.headers["accept"]
    else:
        request.headers["accept"] = accept
    return await tenant.client.send(request)


def media(response: httpx.Response) -> str:
    return response.headers["content-type"]


@pytest.mark.parametrize(("accept", "chosen"), [
    (GRJ, GRJ),  # 22EB
    (JSON, JSON),  # 4655
    ("*/*", JSON),  # 47DE
    (None, JSON),  # 80D8
    ("", JSON),
    (APOLLO, GRJ),
    (f"{JSON}, {GRJ}", GRJ),
    (f"{JSON}; charset=utf-8, {GRJ}; charset=utf-8", GRJ),
    (f"{JSON}, {GRJ};q=0.5", JSON),
    (f"{GRJ};q=0.5, */*", JSON),
    ("application/*", JSON),
    ("text/html, */*;q=0.8", JSON),
])
async def test_the_media_type_follows_accept(
    tenant_a: TenantHandle, accept: str | None, chosen: str
) -> None:
    response = await post(tenant_a, {"query": SLUG}, accept)
    assert response.status_code == 200
    assert media(response) == f"{chosen}; charset=utf-8"  # 82A3
    assert "Accept" in response.headers["vary"]
    assert response.json() == {"data": {"tenant": {"slug": tenant_a.slug}}}


@pytest.mark.parametrize("accept", ["text/html", "text/plain, image/*", f"{JSON};q=0, {GRJ};q=0"])
async def test_an_accept_allowing_neither_is_406_and_runs_nothing(
    tenant_a: TenantHandle, accept: str
) -> None:
    response = await post(tenant_a, {"query": CREATE}, accept)
    assert response.status_code == 406
    assert media(response) == "application/problem+json"
    assert response.json()["supported"] == [GRJ, JSON]
    assert accept in response.json()["detail"]
    assert (await tenant_a.gql(CATEGORIES))["data"] == {"categories": []}


REQUEST_ERRORS = {
    "parse": {"query": "{"},  # 572B, 556A, D586
    "validation": {"query": "{ noSuchField }"},  # FDE2, 74FF, 5E5B
    "coercion": {"query": COUNT_PRODUCTS, "variables": {"first": "ten"}},  # 7B9B, 86EE
    "missing variable": {"query": COUNT_PRODUCTS},
    "unknown operation": {"query": SLUG, "operationName": "Nope"},
    # Strawberry alone would run the first; the spec (and graphql-core) refuse to guess.
    "several operations, none named": {"query": "query A { tenant { slug } } query B { __typename }"},
}


@pytest.mark.parametrize("case", sorted(REQUEST_ERRORS))
async def test_a_request_error_is_200_under_json(tenant_a: TenantHandle, case: str) -> None:
    response = await post(tenant_a, REQUEST_ERRORS[case], JSON)
    assert response.status_code == 200, response.text
    assert media(response) == f"{JSON}; charset=utf-8"
    assert response.json()["errors"] and response.json().get("data") is None


@pytest.mark.parametrize("case", sorted(REQUEST_ERRORS))
async def test_a_request_error_is_400_without_data_under_graphql_response_json(
    tenant_a: TenantHandle, case: str
) -> None:
    response = await post(tenant_a, REQUEST_ERRORS[case], APOLLO)
    assert response.status_code == 400, response.text
    assert media(response) == f"{GRJ}; charset=utf-8"
    body = response.json()
    assert "data" not in body and body["errors"][0]["message"]
    assert body["errors"][0]["extensions"]["code"]


@pytest.mark.parametrize("accept", [JSON, GRJ])
async def test_a_field_error_with_data_is_200_under_both(tenant_a: TenantHandle, accept: str) -> None:
    response = await post(tenant_a, {"query": '{ tenant { slug } product(id: "nope") { id } }'}, accept)
    assert response.status_code == 200
    body = response.json()
    assert body["data"] == {"tenant": {"slug": tenant_a.slug}, "product": None}
    assert body["errors"][0]["path"] == ["product"]


@pytest.mark.parametrize("accept", [JSON, GRJ])
async def test_an_executed_operation_whose_data_went_null_is_200_under_both(
    tenant_a: TenantHandle, accept: str
) -> None:
    reader = await tenant_a.key_with("orders:read")
    response = await post(tenant_a, {"query": "{ tenant { slug } categories { id } }"}, accept,
                          authorization=f"Bearer {reader}")
    assert response.status_code == 200
    assert response.json()["data"] is None
    assert response.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"


@pytest.mark.parametrize(("body", "says"), [
    (b"NONSENSE", "not valid JSON"),  # BCF8, B7N8
    (b'{"query":', "not valid JSON"),
    (b'{"qeury": "{ tenant { slug } }"}', "'query'"),  # 3E3A
    (b'{"query": "{ tenant { slug } }", "variables": [7]}', "'variables'"),
    (b'{"query": 1}', "'query'"),  # 8764
    (b"", "not valid JSON"),  # A5BF
    (b'[{"query": "{ tenant { slug } }"}]', "batched requests"),
])
@pytest.mark.parametrize("accept", [JSON, APOLLO])
async def test_a_request_that_is_not_graphql_over_http_is_400_under_both(
    tenant_a: TenantHandle, body: bytes, says: str, accept: str
) -> None:
    response = await tenant_a.client.post("/graphql", content=body, headers={
        "authorization": f"Bearer {tenant_a.key}", "content-type": JSON, "accept": accept,
    })
    assert response.status_code == 400
    assert says in response.json()["errors"][0]["message"]
    assert ("data" in response.json()) is (accept == JSON)


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
async def test_a_post_that_is_not_json_is_415(tenant_a: TenantHandle, content_type: str | None) -> None:
    request = tenant_a.client.build_request(
        "POST", "/graphql", content=b'{"query": "{ tenant { slug } }"}',
        headers={"authorization": f"Bearer {tenant_a.key}", "accept": APOLLO},
    )
    if content_type is None:
        request.headers.pop("content-type", None)  # 9ABE
    else:
        request.headers["content-type"] = content_type
    response = await tenant_a.client.send(request)
    assert response.status_code == 415 and "data" not in response.json()


@pytest.mark.parametrize("accept", [JSON, APOLLO])
async def test_refusals_before_graphql_keep_their_status(tenant_a: TenantHandle, accept: str) -> None:
    unknown = await tenant_a.client.post(
        "/graphql", json={"query": SLUG}, headers={"authorization": "Bearer tg_nope", "accept": accept}
    )
    assert unknown.status_code == 401 and unknown.headers["www-authenticate"] == "Bearer"
    assert unknown.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert ("data" in unknown.json()) is (accept == JSON)
    assert media(unknown).startswith(JSON if accept == JSON else GRJ)
    large = await post(tenant_a, {"query": SLUG, "variables": {"pad": "x" * 1_100_000}}, accept)
    assert large.status_code == 413 and ("data" in large.json()) is (accept == JSON)


@pytest.mark.parametrize("accept", [JSON, APOLLO])
async def test_get_runs_a_query_from_the_query_string(tenant_a: TenantHandle, accept: str) -> None:
    response = await tenant_a.client.get("/graphql", params={  # 13EE, B8B3, 6A70, D6D5
        "query": COUNT_PRODUCTS, "operationName": "Count", "variables": '{"first": 1}',
    }, headers={"authorization": f"Bearer {tenant_a.key}", "accept": accept})
    assert response.status_code == 200
    assert response.json() == {"data": {"products": {"edges": []}}}
    assert media(response).startswith(JSON if accept == JSON else GRJ)


@pytest.mark.parametrize("accept", [JSON, APOLLO])
async def test_a_mutation_over_get_is_405_and_does_not_run(tenant_a: TenantHandle, accept: str) -> None:
    response = await tenant_a.client.get("/graphql", params={"query": CREATE}, headers={  # 9C48
        "authorization": f"Bearer {tenant_a.key}", "accept": accept,
    })
    assert response.status_code == 405 and response.headers["allow"] == "POST"
    assert response.json()["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"
    assert (await tenant_a.gql(CATEGORIES))["data"] == {"categories": []}


@pytest.mark.parametrize("accept", [JSON, APOLLO])
async def test_extensions_map_and_utf8_without_charset_are_accepted(
    tenant_a: TenantHandle, accept: str
) -> None:
    document = 'mutation { createCategory(input: {name: "Été ☀", handle: "ete"}) { category { name } } }'
    body = orjson.dumps({"query": document, "extensions": {"client": "test"}})
    response = await tenant_a.client.post("/graphql", content=body, headers={  # 78D5, 1B7A
        "authorization": f"Bearer {tenant_a.key}", "content-type": JSON, "accept": accept,
    })
    assert response.status_code == 200
    assert response.json()["data"]["createCategory"]["category"]["name"] == "Été ☀"


def gql_client(tenant: TenantHandle, **headers: str) -> Client:
    transport = HTTPXAsyncTransport(
        url="http://tenantgraph.test/graphql",
        headers={"authorization": f"Bearer {tenant.key}", **headers},
        transport=tenant.client._transport,
    )
    return Client(transport=transport)


@pytest.mark.parametrize("headers", [{}, {"accept": APOLLO}, {"accept": GRJ}])
async def test_the_gql_http_client_reads_answers_and_request_errors(
    tenant_a: TenantHandle, headers: dict[str, str]
) -> None:
    async with gql_client(tenant_a, **headers) as session:
        assert await session.execute(gql(SLUG)) == {"tenant": {"slug": tenant_a.slug}}
        with pytest.raises(TransportQueryError) as refused:
            await session.execute(gql(COUNT_PRODUCTS), variable_values={"first": "ten"})
    assert refused.value.errors and "first" in refused.value.errors[0]["message"]


async def test_the_event_stream_is_not_negotiated(settings: Any, tenant_a: TenantHandle) -> None:
    """SSE answers text/event-stream as before, to an Accept that allows no JSON at all."""
    transport = httpx.ASGITransport(app=create_app(settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://tenantgraph.test") as http:
        async with http.stream("POST", "/graphql/stream", json={"query": SLUG}, headers={
            "authorization": f"Bearer {tenant_a.key}", "accept": "text/event-stream",
        }) as response:
            text = "".join([chunk async for chunk in response.aiter_text()])
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert "event: next" in text and tenant_a.slug in text and "event: complete" in text
