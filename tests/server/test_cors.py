"""CORS on /graphql: preflights answered for the global list and the tenant's own list (named by
?tenant= or the subdomain), refused with a 403 and no CORS headers otherwise; actual requests
judged by the tenant they authenticated as; never `*` with credentials; requests without an
Origin untouched. The per-tenant list is set and read by its admins."""

from __future__ import annotations

import dataclasses
from typing import Any

import httpx
import pytest

from domain.config import Settings
from tests.conftest import TenantHandle

SHOP = "https://shop.example"
ADMIN = "https://admin.example"
EVIL = "https://evil.example"
SET_ORIGINS = """
mutation Set($origins: [String!]!) {
  setAllowedOrigins(origins: $origins) { allowedOrigins errors { field message code } }
}"""
ALLOWED_ORIGINS = "{ allowedOrigins }"
TYPENAME = "{ __typename }"
SENT_HEADERS = (
    "authorization, content-type, x-tenant-id, x-price-list, traceparent, idempotency-key, x-request-id"
)


@pytest.fixture
def cors_client(client_for: Any, settings: Settings) -> httpx.AsyncClient:
    """A client of an app whose CORS_ORIGINS is ADMIN."""
    made: httpx.AsyncClient = client_for(dataclasses.replace(settings, cors_origins=(ADMIN,)))
    return made


async def preflight(
    http: httpx.AsyncClient, origin: str, path: str = "/graphql", **headers: str
) -> httpx.Response:
    return await http.options(path, headers={
        "origin": origin, "access-control-request-method": "POST",
        "access-control-request-headers": SENT_HEADERS, **headers,
    })


def cors_headers(response: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.startswith("access-control-")}


async def allow(tenant: TenantHandle, *allowed: str) -> None:
    body = await tenant.gql(SET_ORIGINS, {"origins": list(allowed)})
    assert body["data"]["setAllowedOrigins"]["errors"] == [], body


async def test_a_preflight_from_the_global_list_is_answered(cors_client: httpx.AsyncClient) -> None:
    response = await preflight(cors_client, ADMIN)
    assert response.status_code == 204, response.text
    assert response.headers["access-control-allow-origin"] == ADMIN
    assert response.headers["access-control-allow-credentials"] == "true"
    methods = response.headers["access-control-allow-methods"].replace(" ", "").split(",")
    assert {"GET", "POST"} <= set(methods)
    allowed = {h.strip().lower() for h in response.headers["access-control-allow-headers"].split(",")}
    assert {h.strip() for h in SENT_HEADERS.split(",")} <= allowed
    assert int(response.headers["access-control-max-age"]) > 0
    assert "origin" in response.headers["vary"].lower()


async def test_a_preflight_from_another_origin_is_refused_without_cors_headers(
    cors_client: httpx.AsyncClient,
) -> None:
    response = await preflight(cors_client, EVIL)
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/json"
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "ORIGIN_NOT_ALLOWED" and EVIL in error["message"]
    assert cors_headers(response) == {}
    assert "origin" in response.headers["vary"].lower()


async def test_a_tenant_list_allows_its_origins_for_that_tenant_only(
    cors_client: httpx.AsyncClient, tenant_a: TenantHandle, tenant_b: TenantHandle
) -> None:
    await allow(tenant_a, SHOP)
    for_a = await preflight(cors_client, SHOP, f"/graphql?tenant={tenant_a.slug}")
    assert for_a.status_code == 204 and for_a.headers["access-control-allow-origin"] == SHOP
    by_id = await preflight(cors_client, SHOP, f"/graphql/stream?tenant={tenant_a.id}")
    assert by_id.status_code == 204
    by_subdomain = await preflight(cors_client, SHOP, host=f"{tenant_a.slug}.api.example")
    assert by_subdomain.status_code == 204
    for_b = await preflight(cors_client, SHOP, f"/graphql?tenant={tenant_b.slug}")
    assert for_b.status_code == 403 and cors_headers(for_b) == {}
    unnamed = await preflight(cors_client, SHOP)
    assert unnamed.status_code == 403
    unknown = await preflight(cors_client, SHOP, "/graphql?tenant=no-such-tenant")
    assert unknown.status_code == 403


async def test_an_actual_request_gets_the_headers_of_its_own_tenant(
    cors_client: httpx.AsyncClient, tenant_a: TenantHandle, tenant_b: TenantHandle
) -> None:
    await allow(tenant_a, SHOP)
    sent = {"origin": SHOP, "authorization": f"Bearer {tenant_a.key}"}
    response = await cors_client.post(f"/graphql?tenant={tenant_a.slug}", json={"query": TYPENAME},
                                      headers=sent)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == SHOP
    assert response.headers["access-control-allow-credentials"] == "true"
    exposed = {h.strip().lower() for h in response.headers["access-control-expose-headers"].split(",")}
    assert {"x-request-id", "retry-after", "ratelimit", "ratelimit-policy"} <= exposed
    assert "origin" in response.headers["vary"].lower()
    # Tenant B's key from A's origin, even naming A in the URL: B's answer is not readable there.
    as_b = await cors_client.post(f"/graphql?tenant={tenant_a.slug}", json={"query": TYPENAME},
                                  headers={"origin": SHOP, "authorization": f"Bearer {tenant_b.key}"})
    assert as_b.status_code == 200 and cors_headers(as_b) == {}
    refused = await cors_client.post("/graphql", json={"query": TYPENAME},
                                     headers={"origin": ADMIN, "authorization": "Bearer tg_wrong"})
    assert refused.status_code == 401 and refused.headers["access-control-allow-origin"] == ADMIN


async def test_a_request_without_an_origin_is_left_alone(
    cors_client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    response = await cors_client.post("/graphql", json={"query": TYPENAME},
                                      headers={"authorization": f"Bearer {tenant_a.key}"})
    assert response.status_code == 200 and cors_headers(response) == {}
    assert response.headers["vary"] == "Accept"  # the media type's, none of CORS's
    plain_options = await cors_client.options("/graphql")
    assert plain_options.status_code == 405


async def test_a_same_origin_page_needs_no_cors(
    cors_client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    response = await cors_client.post("/graphql", json={"query": TYPENAME}, headers={
        "origin": "http://tenantgraph.test", "authorization": f"Bearer {tenant_a.key}",
    })
    assert response.status_code == 200 and cors_headers(response) == {}


async def test_webhooks_get_no_cors(cors_client: httpx.AsyncClient) -> None:
    response = await preflight(cors_client, ADMIN, "/webhooks/purchase-flow")
    assert response.status_code == 405 and cors_headers(response) == {}


async def test_a_global_wildcard_never_allows_credentials(
    client_for: Any, settings: Settings, tenant_a: TenantHandle
) -> None:
    http = client_for(dataclasses.replace(settings, cors_origins=("*",)))
    anyone = await preflight(http, EVIL)
    assert anyone.status_code == 204
    assert anyone.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in anyone.headers
    await allow(tenant_a, SHOP)
    listed = await preflight(http, SHOP, f"/graphql?tenant={tenant_a.slug}")
    assert listed.headers["access-control-allow-origin"] == SHOP
    assert listed.headers["access-control-allow-credentials"] == "true"


async def test_admins_set_and_read_the_list_checked(
    tenant_a: TenantHandle, tenant_b: TenantHandle
) -> None:
    body = await tenant_a.gql(SET_ORIGINS, {"origins": ["HTTPS://Shop.Example:443", ADMIN, ADMIN]})
    assert body["data"]["setAllowedOrigins"] == {"allowedOrigins": [ADMIN, SHOP], "errors": []}
    assert (await tenant_a.gql(ALLOWED_ORIGINS))["data"] == {"allowedOrigins": [ADMIN, SHOP]}
    assert (await tenant_b.gql(ALLOWED_ORIGINS))["data"] == {"allowedOrigins": []}
    for wrong in ("*", "https://shop.example/app", "shop.example"):
        refused = (await tenant_a.gql(SET_ORIGINS, {"origins": [wrong]}))["data"]["setAllowedOrigins"]
        assert refused["allowedOrigins"] is None and refused["errors"][0]["code"] == "BAD_USER_INPUT"
    assert (await tenant_a.gql(ALLOWED_ORIGINS))["data"] == {"allowedOrigins": [ADMIN, SHOP]}
    reader = await tenant_a.key_with("catalog:read")
    forbidden = await tenant_a.gql(SET_ORIGINS, {"origins": [EVIL]}, key=reader)
    assert forbidden["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    cleared = await tenant_a.gql(SET_ORIGINS, {"origins": []})
    assert cleared["data"]["setAllowedOrigins"]["allowedOrigins"] == []
