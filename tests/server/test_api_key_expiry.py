"""API keys with an expiry, and rotation with a grace period: over GraphQL (admin scope, one
tenant's keys only) and from the CLI; an expired or rotated-out key is refused with
API_KEY_EXPIRED, by a serving process that remembers keys and on a live connection at its next
keep-alive check."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests import live
from tests.conftest import TenantHandle
from tests.processes import cli

KEEPALIVE = 0.5
TYPENAME = "{ __typename }"
EVENTS = "subscription { events { cursor type } }"
CREATE_API_KEY = """
mutation Create($input: ApiKeyInput!) {
  createApiKey(input: $input) { token apiKey { prefix expiresAt } errors { field message code } }
}"""
ROTATE_API_KEY = """
mutation Rotate($prefix: String!, $grace: Int) {
  rotateApiKey(prefix: $prefix, graceSeconds: $grace) {
    token apiKey { prefix name scopes expiresAt } previous { prefix expiresAt }
    errors { field message code }
  }
}"""


def prefix(token: str) -> str:
    return token.split("_")[1]


def soon(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


async def create(tenant: TenantHandle, expires_at: str | None, scopes: tuple[str, ...] = ("admin",)) -> Any:
    body = await tenant.gql(CREATE_API_KEY, {"input": {
        "name": "expiring", "scopes": list(scopes), "expiresAt": expires_at,
    }})
    return body["data"]["createApiKey"]


async def status_and_code(tenant: TenantHandle, token: str) -> tuple[int, str | None]:
    response = await tenant.post(TYPENAME, key=token)
    errors = response.json().get("errors") or [{}]
    return response.status_code, errors[0].get("extensions", {}).get("code")


async def test_a_key_works_until_it_expires_then_says_so(tenant_a: TenantHandle) -> None:
    created = await create(tenant_a, soon(1.5))
    assert created["errors"] == [] and created["apiKey"]["expiresAt"] is not None
    assert await status_and_code(tenant_a, created["token"]) == (200, None)
    await asyncio.sleep(1.6)
    response = await tenant_a.post(TYPENAME, key=created["token"])
    assert response.status_code == 401
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "API_KEY_EXPIRED" and "expired" in error["message"]
    # A wrong secret with the same prefix learns nothing about the key.
    forged = f"tg_{prefix(created['token'])}_not-the-secret"
    assert await status_and_code(tenant_a, forged) == (401, "UNAUTHENTICATED")


async def test_an_expiry_in_the_past_is_refused(tenant_a: TenantHandle) -> None:
    created = await create(tenant_a, soon(-60))
    assert created["token"] is None
    assert created["errors"] == [
        {"field": "input.expiresAt", "message": "in the past", "code": "BAD_USER_INPUT"}
    ]


async def test_a_rotated_key_works_during_its_grace_then_is_refused(tenant_a: TenantHandle) -> None:
    old = (await create(tenant_a, None, ("catalog:read", "orders:read")))["token"]
    body = await tenant_a.gql(ROTATE_API_KEY, {"prefix": prefix(old), "grace": 2})
    rotated = body["data"]["rotateApiKey"]
    assert rotated["errors"] == [], body
    assert rotated["apiKey"]["name"] == "expiring" and rotated["apiKey"]["expiresAt"] is None
    assert rotated["apiKey"]["scopes"] == ["catalog:read", "orders:read"]
    assert rotated["previous"]["prefix"] == prefix(old) and rotated["previous"]["expiresAt"]
    new = rotated["token"]
    assert new != old and rotated["apiKey"]["prefix"] != prefix(old)
    assert await status_and_code(tenant_a, old) == (200, None)
    assert await status_and_code(tenant_a, new) == (200, None)
    again = (await tenant_a.gql(ROTATE_API_KEY, {"prefix": prefix(old)}))["data"]["rotateApiKey"]
    assert again["token"] is None and again["errors"][0]["code"] == "CONFLICT"
    await asyncio.sleep(2.1)
    assert await status_and_code(tenant_a, old) == (401, "API_KEY_EXPIRED")
    assert await status_and_code(tenant_a, new) == (200, None)


async def test_a_tenant_cannot_rotate_another_tenants_key(
    tenant_a: TenantHandle, tenant_b: TenantHandle
) -> None:
    body = await tenant_a.gql(ROTATE_API_KEY, {"prefix": prefix(tenant_b.key)})
    rotated = body["data"]["rotateApiKey"]
    assert rotated["token"] is None and rotated["errors"][0]["code"] == "NOT_FOUND"
    assert await status_and_code(tenant_b, tenant_b.key) == (200, None)
    reader = await tenant_a.key_with("catalog:read")
    forbidden = await tenant_a.gql(ROTATE_API_KEY, {"prefix": prefix(reader)}, key=reader)
    assert forbidden["errors"][0]["extensions"]["code"] == "FORBIDDEN"


@pytest.fixture(scope="module")
async def stack(server_env: dict[str, str], tmp_path_factory: Any) -> AsyncIterator[live.Stack]:
    env = {"WS_KEEPALIVE_SECONDS": str(KEEPALIVE)}
    async with live.stack(server_env, tmp_path_factory.mktemp("keys"), workers=0, env=env) as made:
        yield made


async def test_a_live_connection_ends_when_its_key_expires(stack: live.Stack, tenant_a: TenantHandle) -> None:
    token = (await create(tenant_a, soon(2)))["token"]
    async with live.connect(stack.api, tenant=tenant_a.slug, key=token) as socket:
        await socket.subscribe("s", EVENTS)
        code, reason = await socket.closed(timeout=2 + KEEPALIVE * 6)
    assert code == 4403 and reason is not None and "expired" in reason


async def serving_status(stack: live.Stack, token: str) -> tuple[int, str | None]:
    async with httpx.AsyncClient(base_url=stack.api.url, timeout=10) as http:
        response = await http.post("/graphql", json={"query": TYPENAME},
                                   headers={"authorization": f"Bearer {token}"})
    errors = response.json().get("errors") or [{}]
    return response.status_code, errors[0].get("extensions", {}).get("code")


async def test_the_cli_issues_expiring_keys_and_rotates_them(
    stack: live.Stack, server_env: dict[str, str], tenant_a: TenantHandle
) -> None:
    created = await cli(server_env, "apikey", "create", "--tenant", tenant_a.slug, "--name", "ci",
                        "--scopes", "catalog:read", "--expires-in", "3600")
    assert created.returncode == 0, created.stderr
    old = created.stdout.strip()
    # Remembered by the serving process, as every key in use is.
    assert await serving_status(stack, old) == (200, None)
    assert await serving_status(stack, old) == (200, None)

    rotated = await cli(server_env, "apikey", "rotate", prefix(old), "--grace", "0")
    assert rotated.returncode == 0, rotated.stderr
    new, until = rotated.stdout.strip().splitlines()
    assert until.startswith(f"{prefix(old)} stays valid until ")
    assert await serving_status(stack, new) == (200, None)
    assert await serving_status(stack, old) == (401, "API_KEY_EXPIRED")

    past = await cli(server_env, "apikey", "create", "--tenant", tenant_a.slug, "--expires-at",
                     "2001-01-01T00:00:00Z")
    assert past.returncode == 1 and "future" in past.stderr
    garbled = await cli(server_env, "apikey", "create", "--tenant", tenant_a.slug, "--expires-at", "soon")
    assert garbled.returncode == 1 and "ISO 8601" in garbled.stderr
    unknown = await cli(server_env, "apikey", "rotate", "000000000000")
    assert unknown.returncode == 1 and "not found" in unknown.stderr
