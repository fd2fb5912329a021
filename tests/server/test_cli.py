"""`tenantgraph` commands as real subprocesses on the session's database."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.processes import cli

PRODUCTS = "{ products(first: 1) { edges { node { id } } } }"


async def ok(env: dict[str, str], *args: str) -> str:
    done = await cli(env, *args)
    assert done.returncode == 0, f"{args}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def new_slug() -> str:
    return f"c-{uuid.uuid4().hex[:10]}"


async def post(
    client: httpx.AsyncClient, token: str, query: str = PRODUCTS, tenant: str | None = None
) -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"} | ({"x-tenant-id": tenant} if tenant else {})
    return await client.post("/graphql", json={"query": query}, headers=headers)


@pytest.fixture
async def cli_tenant(server_env: dict[str, str]) -> str:
    slug = new_slug()
    await ok(server_env, "tenant", "create", slug, "--name", "CLI shop", "--modules", "catalog")
    return slug


async def test_tenant_create_prints_the_slug(server_env: dict[str, str]) -> None:
    slug = new_slug()

    out = await ok(server_env, "tenant", "create", slug, "--name", "Shop",
                   "--modules", "catalog", "--extensions", "banban")

    assert slug in out


async def test_tenant_list_includes_a_created_tenant(server_env: dict[str, str], cli_tenant: str) -> None:
    out = await ok(server_env, "tenant", "list")

    assert cli_tenant in [line.split("\t")[0] for line in out.splitlines()]


@pytest.mark.parametrize(
    ("options", "named"),
    [
        (["--modules", "catalog,warehouse"], "warehouse"),
        (["--modules", "", "--extensions", "banban"], "banban"),
    ],
    ids=["unknown-module", "extension-without-its-module"],
)
async def test_tenant_create_refuses_bad_module_sets(
    server_env: dict[str, str], options: list[str], named: str
) -> None:
    slug = new_slug()

    done = await cli(server_env, "tenant", "create", slug, "--name", "Shop", *options)

    assert done.returncode != 0
    assert named in done.stderr
    assert slug not in await ok(server_env, "tenant", "list")


async def test_apikey_create_prints_a_working_token(
    server_env: dict[str, str], cli_tenant: str, client: httpx.AsyncClient
) -> None:
    token = (await ok(server_env, "apikey", "create", "--tenant", cli_tenant,
                      "--scopes", "catalog:read")).strip()

    response = await post(client, token)

    assert token.startswith("tg_")
    assert response.status_code == 200
    assert response.json() == {"data": {"products": {"edges": []}}}


async def test_apikey_revoke_makes_the_token_fail(
    server_env: dict[str, str], cli_tenant: str, client: httpx.AsyncClient
) -> None:
    token = (await ok(server_env, "apikey", "create", "--tenant", cli_tenant,
                      "--scopes", "catalog:read")).strip()
    assert (await post(client, token)).status_code == 200
    prefix = token.split("_")[1]

    out = await ok(server_env, "apikey", "revoke", prefix)
    response = await post(client, token)

    assert prefix in out
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_platform_key_acts_for_a_tenant_named_in_x_tenant_id(
    server_env: dict[str, str], cli_tenant: str, client: httpx.AsyncClient
) -> None:
    token = (await ok(server_env, "apikey", "create", "--platform", "--scopes", "platform")).strip()

    response = await post(client, token, "{ tenant { slug } }", tenant=cli_tenant)

    assert response.status_code == 200
    assert response.json() == {"data": {"tenant": {"slug": cli_tenant}}}


async def test_export_schema_includes_extension_fields_only_where_enabled(
    server_env: dict[str, str], make_tenant: Any
) -> None:
    fashion = await make_tenant(("catalog",), ("banban",))
    plain = await make_tenant(("catalog",))

    fashion_sdl = await ok(server_env, "export-schema", "--tenant", fashion.slug)
    plain_sdl = await ok(server_env, "export-schema", "--tenant", plain.slug)

    assert "fashionCollection" in fashion_sdl
    assert "type Product" in plain_sdl
    assert "fashionCollection" not in plain_sdl


@pytest.mark.parametrize(
    "command",
    [["tenant", "list"], ["migrate"], ["serve"], ["worker"], ["export-schema", "--tenant", "acme"]],
    ids=lambda command: " ".join(command),
)
async def test_a_bad_setting_exits_2_naming_it(server_env: dict[str, str], command: list[str]) -> None:
    done = await cli({**server_env, "PORT": "abc"}, *command)

    assert done.returncode == 2
    assert "PORT" in done.stderr


async def test_migrate_is_idempotent(server_env: dict[str, str]) -> None:
    first = await ok(server_env, "migrate")
    second = await ok(server_env, "migrate")

    assert "migrations applied" in first
    assert "migrations applied" in second
