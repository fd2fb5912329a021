"""Security headers on every kind of response: GraphQL results and errors, webhook problem
bodies, health, routing errors and GraphiQL; HSTS only where TLS is in front of us."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from strawberry.http.ides import get_graphql_ide_html

from domain.config import Settings
from server.headers import HSTS, LOCKED, graphiql_policy
from tests.conftest import TenantHandle

COMMON = {"x-content-type-options": "nosniff", "referrer-policy": "no-referrer", "x-frame-options": "DENY"}
Request = Callable[[httpx.AsyncClient, TenantHandle], Awaitable[httpx.Response]]
RESPONSES: dict[str, tuple[Request, int, str]] = {
    "graphql result": (
        lambda http, t: t.post("{ products(first: 1) { edges { cursor } } }"), 200,
        "application/graphql-response+json"
    ),
    "graphql error": (lambda http, t: t.post("{ products {", key="tg_wrong"), 401,
                      "application/graphql-response+json"),
    "webhook problem": (
        lambda http, t: http.post(f"/webhooks/purchase-flow?tenant={t.slug}", content=b"{}"),
        404, "application/problem+json",
    ),
    "webhook routing problem": (
        lambda http, t: http.put("/webhooks/purchase-flow"), 405, "application/problem+json"
    ),
    "healthz": (lambda http, t: http.get("/healthz"), 200, "application/json"),
    "not found": (lambda http, t: http.get("/no-such-page"), 404, "application/json"),
    "method not allowed": (lambda http, t: http.delete("/graphql"), 405, "application/json"),
    "stream refused": (lambda http, t: http.post("/graphql/stream", json={}), 400, "application/json"),
}


def assert_common(response: httpx.Response) -> None:
    assert {name: response.headers.get(name) for name in COMMON} == COMMON


@pytest.mark.parametrize("kind", sorted(RESPONSES))
async def test_every_kind_of_response_carries_the_headers(
    client: httpx.AsyncClient, tenant_a: TenantHandle, kind: str
) -> None:
    send, status, content_type = RESPONSES[kind]
    response = await send(client, tenant_a)
    assert (response.status_code, response.headers["content-type"].split(";")[0]) == (status, content_type)
    assert_common(response)
    assert response.headers["content-security-policy"] == LOCKED
    assert "strict-transport-security" not in response.headers


async def test_graphiql_gets_the_policy_of_its_own_page(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", headers={"accept": "text/html"})
    assert response.status_code == 200 and "GraphiQL" in response.text
    assert_common(response)
    assert response.headers["content-security-policy"] == graphiql_policy(response.text)


def test_the_graphiql_policy_allows_exactly_the_page_sources() -> None:
    html = get_graphql_ide_html("graphiql")
    directives = {
        part.split()[0]: part.split()[1:] for part in graphiql_policy(html).split("; ")
    }
    loaded = re.findall(r"<script\b[^>]*\ssrc=\"([^\"]+)\"", html)
    sheets = re.findall(r"rel=\"stylesheet\"\s+href=\"([^\"]+)\"", html)
    assert loaded and sheets
    assert [s for s in directives["script-src"] if not s.startswith("'sha256-")] == loaded
    assert [s for s in directives["style-src"] if not s.startswith("'sha256-")] == sheets
    assert all(url.startswith("https://unpkg.com/") for url in loaded + sheets)
    assert len([s for s in directives["script-src"] if s.startswith("'sha256-")]) == 1
    assert "'unsafe-inline'" not in graphiql_policy(html) and "'unsafe-eval'" not in graphiql_policy(html)
    assert directives["default-src"] == ["'none'"] and directives["frame-ancestors"] == ["'none'"]


async def test_trust_tls_adds_hsts(
    client_for: Any, settings: Settings, tenant_a: TenantHandle
) -> None:
    behind_tls = Settings.from_env({**_env(settings), "TRUST_TLS": "true"})
    response = await client_for(behind_tls).get("/healthz")
    assert response.headers["strict-transport-security"] == HSTS
    assert_common(response)


async def test_a_request_over_https_gets_hsts(app_pool: None, settings: Settings) -> None:
    from server.app import create_app

    transport = httpx.ASGITransport(app=create_app(settings))
    async with httpx.AsyncClient(transport=transport, base_url="https://tenantgraph.test") as https:
        response = await https.get("/no-such-page")
    assert response.status_code == 404
    assert response.headers["strict-transport-security"] == HSTS


def _env(settings: Settings) -> dict[str, str]:
    assert settings.database_url and settings.redis_url
    return {"TG_ENV": "test", "DATABASE_URL": settings.database_url, "REDIS_URL": settings.redis_url}
