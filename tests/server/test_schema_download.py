"""GET /schema.graphql: the caller's tenant's SDL, to its admins only."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import TenantHandle


async def download(tenant: TenantHandle, key: str | None, **headers: str) -> httpx.Response:
    credential = {"authorization": f"Bearer {key}"} if key is not None else {}
    return await tenant.client.get("/schema.graphql", headers={**credential, **headers})


async def test_an_admin_downloads_the_tenants_sdl(tenant_a: TenantHandle) -> None:
    response = await download(tenant_a, tenant_a.key)

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/graphql; charset=utf-8"
    assert response.headers["content-disposition"] == f'attachment; filename="{tenant_a.slug}.graphql"'
    assert response.headers["cache-control"] == "no-store"
    assert "type Query {" in response.text and "products(" in response.text
    assert response.text.endswith("}\n")


async def test_the_sdl_is_the_tenants_own(make_tenant: Any) -> None:
    acme = await make_tenant(("catalog",))
    banban = await make_tenant(("catalog",), ("banban",))

    acme_sdl = (await download(acme, acme.key)).text
    banban_sdl = (await download(banban, banban.key)).text

    assert "fashionCollection" in banban_sdl and "type FashionAttributes" in banban_sdl
    assert "fashion" not in acme_sdl.lower()
    assert "type Query {" in acme_sdl


async def test_a_key_of_another_tenant_gets_its_own_tenants_sdl(make_tenant: Any) -> None:
    acme = await make_tenant(("catalog",))
    banban = await make_tenant(("catalog",), ("banban",))

    with_banban_key = (await download(acme, banban.key)).text
    naming_acme = await download(acme, banban.key, **{"x-tenant-id": str(acme.id)})

    assert "fashionCollection" in with_banban_key
    assert naming_acme.status_code == 403
    assert naming_acme.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(("key", "status"), [(None, 401), ("tg_nope", 401)])
async def test_without_a_valid_credential_it_is_401_problem(
    tenant_a: TenantHandle, key: str | None, status: int
) -> None:
    response = await download(tenant_a, key)

    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["status"] == status and response.json()["detail"]
    assert "type Query" not in response.text


async def test_a_key_without_the_admin_scope_is_403_problem(tenant_a: TenantHandle) -> None:
    reader = await tenant_a.key_with("catalog:read", "catalog:write")

    response = await download(tenant_a, reader)

    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert "admin" in response.json()["detail"]


async def test_a_platform_key_names_the_tenant(tenant_a: TenantHandle, platform_key: str) -> None:
    response = await download(tenant_a, platform_key, **{"x-tenant-id": str(tenant_a.id)})

    assert response.status_code == 200
    assert response.headers["content-disposition"].endswith(f'"{tenant_a.slug}.graphql"')
