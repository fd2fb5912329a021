"""Credentials and roles through /graphql: API keys, JWTs, platform keys, scopes, X-Tenant-ID."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest

from domain import credentials
from domain.config import Settings
from tables import api_keys
from tests.documents import (
    CREATE_PRODUCT,
    PRODUCTS,
    codes,
    error_codes,
    error_fields,
    payload,
    product_input,
)

TENANT = "query { tenant { id slug } }"

TENANT_MODULES = "query { tenant { slug modules } }"

API_KEYS = "query { apiKeys { prefix name scopes lastUsedAt revokedAt expiresAt } }"

CREATE_API_KEY = """
mutation CreateKey($input: ApiKeyInput!) {
  createApiKey(input: $input) {
    token apiKey { prefix name scopes lastUsedAt revokedAt } errors { field message code }
  }
}
"""

REVOKE_API_KEY = """
mutation Revoke($prefix: String!) {
  revokeApiKey(prefix: $prefix) { apiKey { prefix revokedAt } errors { field message code } }
}
"""

SET_TENANT_MODULES = """
mutation SetModules($modules: [String!]!) {
  setTenantModules(modules: $modules) { tenant { slug modules } errors { field message code } }
}
"""


async def post(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    return await client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers or {}
    )


def bearer(token: str, **extra: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}", **extra}


def assert_unauthenticated(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert response.headers["www-authenticate"].lower().startswith("bearer")


def make_jwt(
    settings: Settings, tenant: str, scopes: list[str] | None = None, *,
    secret: str | None = None, drop: str | None = None, **claims: Any,
) -> str:
    payload: dict[str, Any] = {
        "sub": "user-1",
        "tenant": tenant,
        "scopes": scopes if scopes is not None else ["catalog:read"],
        "exp": datetime.now(UTC) + timedelta(minutes=5),
        **claims,
    }
    if drop is not None:
        del payload[drop]
    return jwt.encode(payload, secret or str(settings.jwt_secret), algorithm="HS256")


async def create_key(tenant: Any, name: str, scopes: list[str]) -> dict[str, Any]:
    body = await tenant.gql(CREATE_API_KEY, {"input": {"name": name, "scopes": scopes}})
    return payload(body, "createApiKey")


def listed(body: dict[str, Any], prefix: str) -> dict[str, Any]:
    matching = [key for key in body["data"]["apiKeys"] if key["prefix"] == prefix]
    assert len(matching) == 1, body
    return matching[0]


# --- missing or bad credentials: 401 -------------------------------------------------------


async def test_missing_authorization_is_401(client: httpx.AsyncClient) -> None:
    assert_unauthenticated(await post(client, TENANT))


@pytest.mark.parametrize("header", ["Basic dXNlcjpwdw==", "Bearer", "Bearer    ", "Token abc", "tg_x"])
async def test_malformed_authorization_is_401(client: httpx.AsyncClient, header: str) -> None:
    assert_unauthenticated(await post(client, TENANT, headers={"authorization": header}))


async def test_unknown_api_key_is_401(client: httpx.AsyncClient, tenant_a: Any) -> None:
    unknown = credentials.issue().token
    assert_unauthenticated(await post(client, TENANT, headers=bearer(unknown)))


async def test_api_key_with_right_prefix_and_wrong_secret_is_401(
    client: httpx.AsyncClient, tenant_a: Any
) -> None:
    prefix, _ = credentials.parse(tenant_a.key) or ("", "")
    forged = f"tg_{prefix}_{credentials.issue().secret}"
    assert_unauthenticated(await post(client, TENANT, headers=bearer(forged)))


async def test_revoked_api_key_is_401(client: httpx.AsyncClient, tenant_a: Any) -> None:
    key, token = await api_keys.create(tenant_id=tenant_a.id, name="old", scopes={"catalog:read"})
    await api_keys.revoke(key.prefix, tenant_id=tenant_a.id)
    assert_unauthenticated(await post(client, TENANT, headers=bearer(token)))


async def test_expired_api_key_is_401(client: httpx.AsyncClient, tenant_a: Any) -> None:
    _, token = await api_keys.create(
        tenant_id=tenant_a.id, name="expired", scopes={"catalog:read"},
        expires_at=datetime.now(UTC) - timedelta(minutes=1),
    )
    response = await post(client, TENANT, headers=bearer(token))
    assert response.status_code == 401, response.text
    assert response.json()["errors"][0]["extensions"]["code"] == "API_KEY_EXPIRED"


async def test_api_key_expiring_later_works(client: httpx.AsyncClient, tenant_a: Any) -> None:
    _, token = await api_keys.create(
        tenant_id=tenant_a.id, name="later", scopes={"catalog:read"},
        expires_at=datetime.now(UTC) + timedelta(hours=1),
    )
    response = await post(client, TENANT, headers=bearer(token))
    assert response.json() == {"data": {"tenant": {"id": str(tenant_a.id), "slug": tenant_a.slug}}}


# --- JWTs -----------------------------------------------------------------------------------


async def test_jwt_acts_for_its_tenant(
    client: httpx.AsyncClient, settings: Settings, tenant_a: Any
) -> None:
    token = make_jwt(settings, tenant_a.slug)
    response = await post(client, TENANT, headers=bearer(token))
    assert response.status_code == 200
    assert response.json()["data"]["tenant"]["slug"] == tenant_a.slug


async def test_jwt_may_name_its_tenant_by_id(
    client: httpx.AsyncClient, settings: Settings, tenant_a: Any
) -> None:
    token = make_jwt(settings, str(tenant_a.id))
    response = await post(client, TENANT, headers=bearer(token))
    assert response.json()["data"]["tenant"]["slug"] == tenant_a.slug


async def test_jwt_reads_only_its_tenants_catalog(
    client: httpx.AsyncClient, settings: Settings, tenant_a: Any, tenant_b: Any
) -> None:
    for tenant, title, sku in [(tenant_a, "Grinder", "GRIND-1"), (tenant_b, "Other", "OTHER-1")]:
        payload(await tenant.gql(CREATE_PRODUCT, {"input": product_input(title, [sku])}), "createProduct")

    response = await post(client, PRODUCTS, {"first": 10}, headers=bearer(make_jwt(settings, tenant_a.slug)))

    titles = [edge["node"]["title"] for edge in response.json()["data"]["products"]["edges"]]
    assert titles == ["Grinder"]


async def test_jwt_with_write_scope_creates_products(
    client: httpx.AsyncClient, settings: Settings, tenant_a: Any
) -> None:
    token = make_jwt(settings, tenant_a.slug, ["catalog:write"])
    variables = {"input": product_input("Carafe", ["CARAFE-1"])}
    response = await post(client, CREATE_PRODUCT, variables, headers=bearer(token))
    assert payload(response.json(), "createProduct")["product"]["title"] == "Carafe"


async def test_expired_jwt_is_401(client: httpx.AsyncClient, settings: Settings, tenant_a: Any) -> None:
    token = make_jwt(settings, tenant_a.slug, exp=datetime.now(UTC) - timedelta(minutes=1))
    assert_unauthenticated(await post(client, TENANT, headers=bearer(token)))


async def test_jwt_signed_with_another_secret_is_401(
    client: httpx.AsyncClient, settings: Settings, tenant_a: Any
) -> None:
    token = make_jwt(settings, tenant_a.slug, secret="another-secret-of-at-least-32-characters!")
    assert_unauthenticated(await post(client, TENANT, headers=bearer(token)))


@pytest.mark.parametrize("claim", ["sub", "tenant", "exp"])
async def test_jwt_missing_a_required_claim_is_401(
    client: httpx.AsyncClient, settings: Settings, tenant_a: Any, claim: str
) -> None:
    token = make_jwt(settings, tenant_a.slug, drop=claim)
    assert_unauthenticated(await post(client, TENANT, headers=bearer(token)))


async def test_unsigned_jwt_with_alg_none_is_401(client: httpx.AsyncClient, tenant_a: Any) -> None:
    claims = {
        "sub": "user-1", "tenant": tenant_a.slug, "scopes": ["admin"],
        "exp": datetime.now(UTC) + timedelta(minutes=5),
    }
    token = jwt.encode(claims, None, algorithm="none")
    assert_unauthenticated(await post(client, TENANT, headers=bearer(token)))


@pytest.mark.parametrize("tenant_ref", ["no-such-tenant", "00000000-0000-0000-0000-000000000000"])
async def test_jwt_naming_an_unknown_tenant_is_401(
    client: httpx.AsyncClient, settings: Settings, tenant_ref: str
) -> None:
    token = make_jwt(settings, tenant_ref)
    assert_unauthenticated(await post(client, TENANT, headers=bearer(token)))


async def test_garbage_bearer_token_is_401(client: httpx.AsyncClient) -> None:
    assert_unauthenticated(await post(client, TENANT, headers=bearer("not.a.jwt")))


async def test_jwt_platform_scope_cannot_change_modules(
    client: httpx.AsyncClient, settings: Settings, tenant_a: Any
) -> None:
    token = make_jwt(settings, tenant_a.slug, ["platform", "admin"])

    response = await post(client, SET_TENANT_MODULES, {"modules": []}, headers=bearer(token))

    assert response.status_code == 200
    assert codes(response.json()) == ["FORBIDDEN"]
    after = await tenant_a.gql(TENANT_MODULES)
    assert after["data"]["tenant"]["modules"] == ["catalog"]


async def test_jwt_platform_scope_cannot_select_another_tenant(
    client: httpx.AsyncClient, settings: Settings, tenant_a: Any, tenant_b: Any
) -> None:
    token = make_jwt(settings, tenant_a.slug, ["platform"])
    response = await post(client, TENANT, headers=bearer(token, **{"x-tenant-id": tenant_b.slug}))
    assert response.status_code == 403
    assert codes(response.json()) == ["FORBIDDEN"]


async def test_jwt_without_write_scope_cannot_create_products(
    client: httpx.AsyncClient, settings: Settings, tenant_a: Any
) -> None:
    token = make_jwt(settings, tenant_a.slug, ["catalog:read"])
    variables = {"input": product_input("Nope", ["NOPE-1"])}

    response = await post(client, CREATE_PRODUCT, variables, headers=bearer(token))

    assert response.status_code == 200
    assert codes(response.json()) == ["FORBIDDEN"]


# --- scopes and X-Tenant-ID with tenant keys --------------------------------------------------


async def test_api_key_without_the_scope_is_forbidden_with_http_200(tenant_a: Any) -> None:
    reader = await tenant_a.key_with("catalog:read")

    response = await tenant_a.post(CREATE_PRODUCT, {"input": product_input("No", ["NO-1"])}, key=reader)

    assert response.status_code == 200
    assert codes(response.json()) == ["FORBIDDEN"]
    assert response.json().get("data") is None


async def test_api_key_with_a_module_scope_reads_the_catalog(tenant_a: Any) -> None:
    reader = await tenant_a.key_with("catalog:read")
    body = await tenant_a.gql(PRODUCTS, {"first": 1}, key=reader)
    assert body == {"data": {"products": {"edges": [], "pageInfo": {
        "hasNextPage": False, "hasPreviousPage": False, "startCursor": None, "endCursor": None,
    }}}}


@pytest.mark.parametrize("ref", ["slug", "id"])
async def test_tenant_key_naming_another_tenant_is_403(tenant_a: Any, tenant_b: Any, ref: str) -> None:
    other = tenant_b.slug if ref == "slug" else str(tenant_b.id)

    response = await tenant_a.post(TENANT, headers={"x-tenant-id": other})

    assert response.status_code == 403
    assert codes(response.json()) == ["FORBIDDEN"]


@pytest.mark.parametrize("ref", ["slug", "id"])
async def test_tenant_key_naming_its_own_tenant_works(tenant_a: Any, ref: str) -> None:
    own = tenant_a.slug if ref == "slug" else str(tenant_a.id)

    response = await tenant_a.post(TENANT, headers={"x-tenant-id": own})

    assert response.status_code == 200
    assert response.json()["data"]["tenant"]["slug"] == tenant_a.slug


async def test_tenant_key_naming_its_own_tenant_by_uppercase_id_works(tenant_a: Any) -> None:
    """A UUID is case-insensitive; the platform-key path already accepts any case."""
    response = await tenant_a.post(TENANT, headers={"x-tenant-id": str(tenant_a.id).upper()})
    assert response.status_code == 200


# --- platform keys ----------------------------------------------------------------------------


@pytest.mark.parametrize("ref", ["slug", "id"])
async def test_platform_key_acts_for_the_selected_tenant(
    client: httpx.AsyncClient, platform_key: str, tenant_b: Any, ref: str
) -> None:
    selected = tenant_b.slug if ref == "slug" else str(tenant_b.id)

    response = await post(client, TENANT, headers=bearer(platform_key, **{"x-tenant-id": selected}))

    assert response.json() == {"data": {"tenant": {"id": str(tenant_b.id), "slug": tenant_b.slug}}}


async def test_platform_key_without_a_tenant_is_400(client: httpx.AsyncClient, platform_key: str) -> None:
    response = await post(client, TENANT, headers=bearer(platform_key))
    assert response.status_code == 400
    assert codes(response.json()) == ["BAD_REQUEST"]


@pytest.mark.parametrize("ref", ["no-such-tenant", "00000000-0000-0000-0000-000000000000"])
async def test_platform_key_selecting_an_unknown_tenant_is_404(
    client: httpx.AsyncClient, platform_key: str, ref: str
) -> None:
    response = await post(client, TENANT, headers=bearer(platform_key, **{"x-tenant-id": ref}))
    assert response.status_code == 404
    assert codes(response.json()) == ["NOT_FOUND"]


async def test_platform_key_changes_a_tenants_modules(
    client: httpx.AsyncClient, platform_key: str, tenant_a: Any
) -> None:
    headers = bearer(platform_key, **{"x-tenant-id": tenant_a.slug})

    response = await post(client, SET_TENANT_MODULES, {"modules": []}, headers=headers)

    assert response.json() == {"data": {"setTenantModules": {
        "tenant": {"slug": tenant_a.slug, "modules": []}, "errors": []
    }}}


async def test_tenant_admin_cannot_change_modules(tenant_a: Any) -> None:
    body = await tenant_a.gql(SET_TENANT_MODULES, {"modules": []})
    assert codes(body) == ["FORBIDDEN"]


# --- API keys managed over GraphQL ------------------------------------------------------------


async def test_created_api_key_works(tenant_a: Any) -> None:
    created = await create_key(tenant_a, "reader", ["catalog:read"])

    body = await tenant_a.gql(TENANT, key=created["token"])

    assert created["apiKey"]["scopes"] == ["catalog:read"]
    assert created["token"].startswith(f"tg_{created['apiKey']['prefix']}_")
    assert body["data"]["tenant"]["slug"] == tenant_a.slug


async def test_created_api_key_secret_is_never_listed(tenant_a: Any) -> None:
    created = await create_key(tenant_a, "reader", ["catalog:read"])
    prefix, secret = credentials.parse(created["token"]) or ("", "")

    response = await tenant_a.post(API_KEYS)

    assert listed(response.json(), prefix)["name"] == "reader"
    assert secret not in response.text
    assert credentials.hash_secret(secret) not in response.text


async def test_revoked_api_key_fails_on_the_next_request(tenant_a: Any) -> None:
    created = await create_key(tenant_a, "short-lived", ["catalog:read"])
    assert (await tenant_a.post(TENANT, key=created["token"])).status_code == 200

    revoked = await tenant_a.gql(REVOKE_API_KEY, {"prefix": created["apiKey"]["prefix"]})

    assert payload(revoked, "revokeApiKey")["apiKey"]["revokedAt"] is not None
    assert_unauthenticated(await tenant_a.post(TENANT, key=created["token"]))


async def test_admin_cannot_revoke_another_tenants_key(tenant_a: Any, tenant_b: Any) -> None:
    victim = await create_key(tenant_b, "victim", ["catalog:read"])

    body = await tenant_a.gql(REVOKE_API_KEY, {"prefix": victim["apiKey"]["prefix"]})

    assert error_codes(body, "revokeApiKey") == ["NOT_FOUND"]
    still = await tenant_b.post(TENANT, key=victim["token"])
    assert still.status_code == 200
    assert still.json()["data"]["tenant"]["slug"] == tenant_b.slug


async def test_admin_lists_only_its_own_keys(tenant_a: Any, tenant_b: Any) -> None:
    other = await create_key(tenant_b, "other", ["catalog:read"])

    body = await tenant_a.gql(API_KEYS)

    prefixes = {key["prefix"] for key in body["data"]["apiKeys"]}
    assert other["apiKey"]["prefix"] not in prefixes
    assert [key["name"] for key in body["data"]["apiKeys"]] == ["admin"]


async def test_last_used_at_is_set_after_use(tenant_a: Any) -> None:
    created = await create_key(tenant_a, "used", ["catalog:read"])
    prefix = created["apiKey"]["prefix"]
    before = listed(await tenant_a.gql(API_KEYS), prefix)

    await tenant_a.post(TENANT, key=created["token"])

    after = listed(await tenant_a.gql(API_KEYS), prefix)
    assert before["lastUsedAt"] is None
    assert after["lastUsedAt"] is not None


async def test_non_admin_key_cannot_list_api_keys(tenant_a: Any) -> None:
    writer = await tenant_a.key_with("catalog:write")
    body = await tenant_a.gql(API_KEYS, key=writer)
    assert codes(body) == ["FORBIDDEN"]


async def test_non_admin_key_cannot_create_api_keys(tenant_a: Any) -> None:
    writer = await tenant_a.key_with("catalog:write")

    body = await tenant_a.gql(CREATE_API_KEY, {"input": {"name": "x", "scopes": ["admin"]}}, key=writer)

    assert codes(body) == ["FORBIDDEN"]
    names = [key["name"] for key in (await tenant_a.gql(API_KEYS))["data"]["apiKeys"]]
    assert "x" not in names


async def test_non_admin_key_cannot_revoke_api_keys(tenant_a: Any) -> None:
    writer = await tenant_a.key_with("catalog:write")
    prefix, _ = credentials.parse(tenant_a.key) or ("", "")

    body = await tenant_a.gql(REVOKE_API_KEY, {"prefix": prefix}, key=writer)

    assert codes(body) == ["FORBIDDEN"]
    assert (await tenant_a.post(TENANT)).status_code == 200


async def test_unknown_scope_in_create_api_key_is_bad_input(tenant_a: Any) -> None:
    body = await tenant_a.gql(CREATE_API_KEY, {"input": {"name": "x", "scopes": ["catalog:delete"]}})
    assert error_codes(body, "createApiKey") == ["BAD_USER_INPUT"]


async def test_unknown_scope_error_names_the_input_path(tenant_a: Any) -> None:
    """Like every payload error, `field` is the input path (here input.scopes)."""
    body = await tenant_a.gql(CREATE_API_KEY, {"input": {"name": "x", "scopes": ["catalog:delete"]}})
    assert error_fields(body, "createApiKey") == {"input.scopes": "unknown: catalog:delete"}


async def test_tenant_admin_cannot_mint_a_platform_key(tenant_a: Any) -> None:
    body = await tenant_a.gql(CREATE_API_KEY, {"input": {"name": "x", "scopes": ["platform"]}})
    assert error_fields(body, "createApiKey") == {"input.scopes": "unknown: platform"}


async def test_create_api_key_without_scopes_is_bad_input(tenant_a: Any) -> None:
    body = await tenant_a.gql(CREATE_API_KEY, {"input": {"name": "x", "scopes": []}})
    assert error_codes(body, "createApiKey") == ["BAD_USER_INPUT"]
    assert error_fields(body, "createApiKey") == {"input.scopes": "empty"}
