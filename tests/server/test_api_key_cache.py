"""The per-process credential cache never lets a revoked key (or a tenant's old module set)
outlive the announcement of the change, in this process or any other."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from domain.config import Settings
from domain.errors import Unauthenticated
from server.api_key_cache import ApiKeyCache
from server.embedded import free_port
from tables import api_keys, tenants
from tests.processes import cli, spawn, stop, wait_until

TYPENAME = "{ __typename }"


@pytest.fixture
async def cache(settings: Settings, app_pool: None) -> AsyncIterator[ApiKeyCache]:
    started = ApiKeyCache(settings)
    await started.start()
    await _eventually(lambda: started.listening)
    yield started
    await started.stop()


async def _eventually(check: Any, timeout: float = 10) -> None:
    """Waits for something another connection or process makes true; fails after `timeout`."""
    for _ in range(int(timeout / 0.05)):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("never happened")


async def _raw_revoke(owner_dsn: str, prefix: str) -> None:
    """A revocation that announces nothing (as a raw SQL update would)."""
    connection = await asyncpg.connect(owner_dsn)
    try:
        await connection.execute("update api_keys set revoked_at = now() where prefix = $1", prefix)
    finally:
        await connection.close()


def _prefix(key: str) -> str:
    return key.split("_")[1]


async def test_a_key_is_looked_up_once_then_remembered(
    cache: ApiKeyCache, tenant_a: Any, owner_dsn: str
) -> None:
    bearer = f"Bearer {tenant_a.key}"
    first = await cache.authenticate(bearer, None)
    await _raw_revoke(owner_dsn, _prefix(tenant_a.key))
    assert await cache.authenticate(bearer, None) == first  # remembered, not looked up


async def test_an_announced_revocation_is_refused_at_once(cache: ApiKeyCache, tenant_a: Any) -> None:
    bearer = f"Bearer {tenant_a.key}"
    await cache.authenticate(bearer, None)
    await api_keys.revoke(_prefix(tenant_a.key), tenant_id=tenant_a.id)

    async def refused() -> bool:
        try:
            await cache.authenticate(bearer, None)
        except Unauthenticated:
            return True
        return False

    for _ in range(200):
        if await refused():
            break
        await asyncio.sleep(0.05)
    assert await refused()


async def test_a_module_change_is_seen_on_the_next_lookup(
    cache: ApiKeyCache, make_tenant: Any
) -> None:
    tenant = await make_tenant(("catalog",), ("banban",))
    bearer = f"Bearer {tenant.key}"
    before = (await cache.authenticate(bearer, None)).tenant
    generation = cache._generation
    await tenants.set_modules(tenant_id=tenant.id, modules=["catalog"], extensions=[])
    await _eventually(lambda: cache._generation != generation)
    after = (await cache.authenticate(bearer, None)).tenant
    assert after.extensions != before.extensions and after.fingerprint != before.fingerprint


async def test_nothing_is_remembered_without_a_listening_connection(
    settings: Settings, app_pool: None, tenant_a: Any, owner_dsn: str
) -> None:
    deaf = ApiKeyCache(settings)  # never started
    bearer = f"Bearer {tenant_a.key}"
    await deaf.authenticate(bearer, None)
    await _raw_revoke(owner_dsn, _prefix(tenant_a.key))
    with pytest.raises(Unauthenticated):
        await deaf.authenticate(bearer, None)


async def test_a_change_heard_during_a_lookup_keeps_the_answer_out(
    cache: ApiKeyCache, tenant_a: Any, owner_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    lookup = api_keys.authenticate

    async def raced(token: str) -> Any:
        found = await lookup(token)
        cache.forget()  # a revocation announced while this lookup was on its way
        return found

    monkeypatch.setattr(api_keys, "authenticate", raced)
    bearer = f"Bearer {tenant_a.key}"
    await cache.authenticate(bearer, None)
    monkeypatch.setattr(api_keys, "authenticate", lookup)
    await _raw_revoke(owner_dsn, _prefix(tenant_a.key))
    with pytest.raises(Unauthenticated):
        await cache.authenticate(bearer, None)


async def test_other_credentials_take_the_uncached_path(cache: ApiKeyCache, platform_key: str) -> None:
    with pytest.raises(Unauthenticated):
        await cache.authenticate("Bearer tg_000000000000_nope", None)
    with pytest.raises(Unauthenticated):
        await cache.authenticate(None, None)
    assert cache._entries == {}


async def test_revoked_in_another_process_is_refused_by_a_serving_process(
    server_env: dict[str, str], tenant_a: Any, tmp_path: Path
) -> None:
    port = free_port()
    log = tmp_path / "serve.log"
    process = spawn(["serve"], {**server_env, "PORT": str(port)}, log)
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            async def post() -> httpx.Response:
                return await http.post("/graphql", json={"query": TYPENAME},
                                       headers={"authorization": f"Bearer {tenant_a.key}"})

            async def healthy() -> bool:
                return (await http.get("/healthz")).status_code == 200

            await wait_until(healthy, process, log)
            assert (await post()).status_code == 200
            assert (await post()).status_code == 200

            revoked = await cli(server_env, "apikey", "revoke", _prefix(tenant_a.key))
            assert revoked.returncode == 0, revoked.stderr

            response = await post()
            assert response.status_code == 401, response.text
            assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    finally:
        await stop(process)
