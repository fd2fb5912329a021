"""Against real `serve` processes: WebSocket upgrades from a browser Origin are refused unless
the origin is allowed for the tenant the upgrade names (or globally), clients without an
Origin are served, and a tenant's new list applies at the next request in every process while
each process remembers the list between changes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
from websockets.exceptions import InvalidStatus

from domain.config import Settings
from server.api_key_cache import ApiKeyCache
from server.cors import OriginCache
from services import access
from tests import live
from tests.conftest import TenantHandle
from tests.processes import cli

SHOP = "https://shop.example"
ADMIN = "https://admin.example"
TENANT_SLUG = "{ tenant { slug } }"


@pytest.fixture(scope="module")
async def stack(server_env: dict[str, str], tmp_path_factory: Any) -> AsyncIterator[live.Stack]:
    env = {"CORS_ORIGINS": ADMIN}
    async with live.stack(server_env, tmp_path_factory.mktemp("cors"), apis=2, workers=0, env=env) as made:
        yield made


async def refused(stack: live.Stack, tenant: str | None, origin: str) -> InvalidStatus:
    with pytest.raises(InvalidStatus) as raised:
        async with live.connect(stack.api, tenant=tenant, headers={"Origin": origin}):
            pass
    return raised.value


async def test_an_upgrade_from_an_origin_not_allowed_is_refused_before_it_opens(
    stack: live.Stack, tenant_a: TenantHandle, tenant_b: TenantHandle
) -> None:
    await access.set_allowed_origins(tenant_id=tenant_a.id, allowed=[SHOP])
    rejection = await refused(stack, tenant_b.slug, SHOP)
    assert rejection.response.status_code == 403
    body = orjson.loads(rejection.response.body or b"{}")
    assert body["errors"][0]["extensions"]["code"] == "ORIGIN_NOT_ALLOWED"
    assert (await refused(stack, None, SHOP)).response.status_code == 403
    assert (await refused(stack, tenant_a.slug, "https://evil.example")).response.status_code == 403


async def test_an_allowed_origin_and_a_client_without_one_are_served(
    stack: live.Stack, tenant_a: TenantHandle
) -> None:
    await access.set_allowed_origins(tenant_id=tenant_a.id, allowed=[SHOP])
    for headers in ({"Origin": SHOP}, {"Origin": ADMIN}, {}):
        async with live.connect(stack.api, tenant=tenant_a.slug, key=tenant_a.key, headers=headers) as socket:
            await socket.subscribe("1", TENANT_SLUG)
            [result] = await socket.results("1", 1)
            assert result["data"] == {"tenant": {"slug": tenant_a.slug}}


async def preflight(api: live.Api, tenant: str, origin: str) -> int:
    async with httpx.AsyncClient(base_url=api.url, timeout=10) as http:
        response = await http.options(f"/graphql?tenant={tenant}", headers={
            "origin": origin, "access-control-request-method": "POST",
        })
    return response.status_code


async def test_a_new_list_applies_at_the_next_request_in_every_process(
    stack: live.Stack, server_env: dict[str, str], tenant_a: TenantHandle
) -> None:
    assert [await preflight(api, tenant_a.slug, SHOP) for api in stack.apis] == [403, 403]
    done = await cli(server_env, "tenant", "set-origins", tenant_a.slug, SHOP, "http://localhost:5173")
    assert done.returncode == 0, done.stderr
    assert f"{tenant_a.slug}: allowed origins http://localhost:5173 {SHOP}" in done.stdout
    await eventually(lambda: all_answer(stack, tenant_a.slug, SHOP, 204))
    cleared = await cli(server_env, "tenant", "set-origins", tenant_a.slug)
    assert cleared.returncode == 0, cleared.stderr
    await eventually(lambda: all_answer(stack, tenant_a.slug, SHOP, 403))
    wrong = await cli(server_env, "tenant", "set-origins", tenant_a.slug, "https://shop.example/app")
    assert wrong.returncode == 1 and "no path" in wrong.stderr


async def all_answer(stack: live.Stack, tenant: str, origin: str, status: int) -> bool:
    return all([await preflight(api, tenant, origin) == status for api in stack.apis])


async def eventually(check: Any, timeout: float = 5) -> None:
    """A change announced by another process reaches this one within moments."""
    for _ in range(int(timeout / 0.05)):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the change never applied")


async def test_a_process_remembers_the_list_until_a_change_is_announced(
    settings: Settings, app_pool: None, tenant_a: TenantHandle, owner_dsn: str
) -> None:
    changes = ApiKeyCache(settings)
    await changes.start()
    try:
        for _ in range(200):
            if changes.listening:
                break
            await asyncio.sleep(0.05)
        cache = OriginCache(changes)
        assert await cache.of(tenant_a.slug) == frozenset()
        await raw_set(owner_dsn, tenant_a, [SHOP])  # a write that announces nothing
        assert await cache.of(tenant_a.slug) == frozenset()  # remembered: no lookup
        await access.set_allowed_origins(tenant_id=tenant_a.id, allowed=[ADMIN])

        async def seen() -> bool:
            return await cache.of(tenant_a.slug) == {ADMIN}

        await eventually(seen)
    finally:
        await changes.stop()


async def raw_set(owner_dsn: str, tenant: TenantHandle, allowed: list[str]) -> None:
    connection = await asyncpg.connect(owner_dsn)
    try:
        await connection.execute(
            "update tenants set settings = jsonb_build_object('allowedOrigins', $2::text::jsonb) "
            "where id = $1", tenant.id, orjson.dumps(allowed).decode(),
        )
    finally:
        await connection.close()
