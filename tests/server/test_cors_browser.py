"""CORS as a browser enforces it (Debian's Chromium driven by Playwright): a page served from
another origin calls a real `tenantgraph serve` with fetch (Authorization, traceparent and
X-Request-ID make it preflighted) and opens a WebSocket. Allowed for tenant A, the page reads
A's answer and an exposed header; naming tenant B, the browser blocks both."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from typing import Any

import pytest
from playwright.async_api import async_playwright

from services import access
from tests import frontend as pages
from tests import live
from tests.conftest import TenantHandle

PAGE = b"<!doctype html><title>frontend</title><p>a frontend on another origin</p>"
FETCH = """
async ({url, key}) => {
  try {
    const response = await fetch(url, {
      method: "POST",
      headers: {"Content-Type": "application/json", "Authorization": `Bearer ${key}`,
                "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                "X-Request-ID": "from-the-browser"},
      body: JSON.stringify({query: "{ tenant { slug } }"}),
    });
    return {status: response.status, body: await response.json(),
            requestId: response.headers.get("x-request-id")};
  } catch (error) {
    return {blocked: String(error)};
  }
}
"""
OPEN_WEBSOCKET = """
(url) => new Promise((resolve) => {
  const socket = new WebSocket(url, "graphql-transport-ws");
  socket.onopen = () => { socket.close(); resolve("open"); };
  socket.onerror = () => resolve("error");
})
"""


@pytest.fixture(scope="module")
async def stack(server_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
                ) -> AsyncIterator[live.Stack]:
    async with live.stack(server_env, tmp_path_factory.mktemp("cors-browser"), workers=0) as made:
        yield made


@pytest.fixture
async def frontend() -> AsyncIterator[str]:
    async with pages.serve(PAGE) as origin:
        yield origin


async def test_a_page_on_an_allowed_origin_calls_its_tenant_only(
    stack: live.Stack, frontend: str, tenant_a: TenantHandle, tenant_b: TenantHandle
) -> None:
    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is needed: `make browser` installs it"
    await access.set_allowed_origins(tenant_id=tenant_a.id, allowed=[frontend])
    api, ws = stack.api.url, stack.api.ws_url()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = await browser.new_page()
            await page.goto(f"{frontend}/app")
            mine: Any = await page.evaluate(FETCH, {"url": f"{api}/graphql?tenant={tenant_a.slug}",
                                                    "key": tenant_a.key})
            theirs: Any = await page.evaluate(FETCH, {"url": f"{api}/graphql?tenant={tenant_b.slug}",
                                                      "key": tenant_b.key})
            socket_a = await page.evaluate(OPEN_WEBSOCKET, f"{ws}?tenant={tenant_a.slug}")
            socket_b = await page.evaluate(OPEN_WEBSOCKET, f"{ws}?tenant={tenant_b.slug}")
        finally:
            await browser.close()
    assert mine == {"status": 200, "body": {"data": {"tenant": {"slug": tenant_a.slug}}},
                    "requestId": "from-the-browser"}, mine
    assert "blocked" in theirs, theirs
    assert (socket_a, socket_b) == ("open", "error")
