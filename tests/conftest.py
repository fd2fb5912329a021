"""Real PostgreSQL and Redis for every test: the given DATABASE_URL/REDIS_URL, or embedded ones.

Each session migrates a fresh database; each test makes fresh tenants instead of rolling back.
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest

from domain import tenancy
from domain.config import Settings
from server.app import create_app
from server.embedded import ServiceUrls, embedded
from tables import api_keys, engine, tenants
from tables.migrate import migrate
from tests import outbound

ROOT = Path(__file__).resolve().parent.parent
SUITE_LIMITS = {"FAILED_AUTH_ADDRESS_BURST": "100000"}
"""Every test client is 127.0.0.1, and many tests fail to authenticate on purpose: one address
would run out of failures. The tests of that limit set their own (tests/server/test_request_limits.py)."""


@pytest.fixture(scope="session")
def service_urls() -> Iterator[ServiceUrls]:
    given_db, given_redis = os.environ.get("DATABASE_URL"), os.environ.get("REDIS_URL")
    if given_db and given_redis:
        yield ServiceUrls(given_db, given_redis)
        return
    with embedded(ROOT / ".data" / "test", fresh=True, durable=False) as services:
        yield ServiceUrls(given_db or services.database_url, given_redis or services.redis_url)


@pytest.fixture(scope="session")
async def owner_dsn(service_urls: ServiceUrls) -> AsyncIterator[str]:
    """A database of this session's own, migrated, reached as its owner."""
    name = f"tenantgraph_test_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(service_urls.database_url)
    await admin.execute(f'create database "{name}"')
    parts = urlsplit(service_urls.database_url)
    dsn = urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))
    await migrate(dsn, app_password="tenantgraph_app")
    try:
        yield dsn
    finally:
        await engine.stop()
        await admin.execute(f'drop database if exists "{name}" with (force)')
        await admin.close()


ROOMY_BUCKETS = {
    "COST_BUCKET_SIZE": "1000000", "COST_RESTORE_RATE": "1000000",
    "COST_CREDENTIAL_BUCKET_SIZE": "1000000", "COST_CREDENTIAL_RESTORE_RATE": "1000000",
    "COST_EXTENSIONS": "false",
}
"""Tests send bursts no tenant would be allowed in production, and compare whole bodies: the
cost tests give their tenants small buckets of their own and turn `extensions.cost` on."""


@pytest.fixture(scope="session")
def settings(owner_dsn: str, service_urls: ServiceUrls) -> Settings:
    env = {
        "TG_ENV": "test",
        "DATABASE_URL": owner_dsn,
        "REDIS_URL": service_urls.redis_url,
        "APP_DATABASE_PASSWORD": "tenantgraph_app",
        **ROOMY_BUCKETS,
        **SUITE_LIMITS,
    }
    return Settings.from_env(env)


@pytest.fixture(scope="session")
def server_env(settings: Settings) -> dict[str, str]:
    """Environment for subprocesses (CLI, uvicorn) that must reach the same database."""
    assert settings.database_url and settings.redis_url
    return {
        **os.environ,
        "TG_ENV": "test",
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "APP_DATABASE_PASSWORD": "tenantgraph_app",
        **ROOMY_BUCKETS,
        **SUITE_LIMITS,
    }


@pytest.fixture(scope="session")
async def app_pool(settings: Settings) -> AsyncIterator[None]:
    """The app role's pool, as the API's lifespan opens it (lifespan itself runs in
    the server-process tests)."""
    assert settings.database_url
    await engine.start(engine.app_dsn(settings.database_url, "tenantgraph_app"), max_size=40)
    yield


GRAPHQL_CLIENT_ACCEPT = "application/graphql-response+json, application/json;q=0.9"
"""What the GraphQL-over-HTTP spec asks clients to send (and Apollo Client and urql do): request
errors are 400s (see server.negotiation)."""


@pytest.fixture
async def receiver(tmp_path: Path) -> AsyncIterator[outbound.Receiver]:
    """A webhook receiver process on loopback that verifies every signature (tests.outbound)."""
    async with outbound.receiver(tmp_path) as made:
        yield made


@pytest.fixture
async def owner(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    """A connection as the database owner (row-level security does not apply)."""
    assert settings.database_url
    connection = await asyncpg.connect(settings.database_url)
    yield connection
    await connection.close()


@pytest.fixture
def app_dsn(settings: Settings) -> str:
    assert settings.database_url
    return engine.app_dsn(settings.database_url, str(settings.app_database_password))


@pytest.fixture
async def app_conn(app_dsn: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection as the app role, under row-level security."""
    connection = await asyncpg.connect(app_dsn)
    yield connection
    await connection.close()


@pytest.fixture
async def client_for(app_pool: None) -> AsyncIterator[Any]:
    clients: list[httpx.AsyncClient] = []

    def make(settings: Settings) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=create_app(settings))
        client = httpx.AsyncClient(transport=transport, base_url="http://tenantgraph.test",
                                   headers={"accept": GRAPHQL_CLIENT_ACCEPT})
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture
async def client(client_for: Any, settings: Settings) -> httpx.AsyncClient:
    return client_for(settings)


@dataclasses.dataclass
class TenantHandle:
    tenant: tenancy.Tenant
    key: str
    client: httpx.AsyncClient

    @property
    def id(self) -> uuid.UUID:
        return self.tenant.id

    @property
    def slug(self) -> str:
        return self.tenant.slug

    async def gql(
        self, query: str, variables: dict[str, Any] | None = None, *, key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        response = await self.post(query, variables, key=key, headers=headers)
        body: dict[str, Any] = response.json()
        return body

    async def post(
        self, query: str, variables: dict[str, Any] | None = None, *, key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        return await self.client.post(
            "/graphql",
            json={"query": query, "variables": variables or {}},
            headers={"authorization": f"Bearer {key or self.key}", **(headers or {})},
        )

    async def key_with(self, *scopes: str) -> str:
        _, token = await api_keys.create(tenant_id=self.id, name="test", scopes=scopes)
        return token


@pytest.fixture
async def make_tenant(client: httpx.AsyncClient) -> Any:
    async def make(
        modules: tuple[str, ...] = ("catalog",), extensions: tuple[str, ...] = ()
    ) -> TenantHandle:
        slug = f"t-{uuid.uuid4().hex[:10]}"
        tenant = await tenants.create(
            slug=slug, name=f"Tenant {slug}", modules=modules, extensions=extensions
        )
        _, key = await api_keys.create(tenant_id=tenant.id, name="admin", scopes={"admin"})
        return TenantHandle(tenant=tenant, key=key, client=client)

    return make


@pytest.fixture
async def tenant_a(make_tenant: Any) -> TenantHandle:
    return await make_tenant()


@pytest.fixture
async def tenant_b(make_tenant: Any) -> TenantHandle:
    return await make_tenant()


@pytest.fixture
async def platform_key(app_pool: None) -> str:
    _, token = await api_keys.create(tenant_id=None, name="platform", scopes={"platform"})
    return token
