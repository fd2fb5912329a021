"""An EventSource in a real browser (Debian's Chromium driven by Playwright): a page served from
another origin, allowed for its tenant, opens /graphql/stream with a stream token (a browser
cannot send Authorization there) on a real `tenantgraph serve`; a mutation commits an event and
the page receives it, with no console error. A page of an origin the tenant does not allow
receives nothing: CORS covers the stream."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import pytest
from playwright.async_api import ConsoleMessage, Page, async_playwright

from services import access
from tests import frontend as pages
from tests import live
from tests.conftest import TenantHandle
from tests.server.test_sse import EVENTS, SETTLE, create_product
from tests.server.test_stream_tokens import token_of

PAGE = b"<!doctype html><title>dashboard</title><p>a dashboard on another origin</p>"
LISTEN = """
(url) => new Promise((resolve) => {
  window.__events = [];
  const source = new EventSource(url);
  source.addEventListener("next", (event) => window.__events.push(
    {id: event.lastEventId, data: JSON.parse(event.data)}));
  source.onopen = () => resolve("open");
  source.onerror = () => { source.close(); resolve("error"); };
  window.__source = source;
})
"""


@pytest.fixture(scope="module")
async def stack(server_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
                ) -> AsyncIterator[live.Stack]:
    async with live.stack(server_env, tmp_path_factory.mktemp("stream-browser")) as made:
        yield made


@pytest.fixture
async def frontend() -> AsyncIterator[str]:
    async with pages.serve(PAGE) as origin:
        yield origin


async def listen(page: Page, stack: live.Stack, token: str) -> Any:
    url = f"{stack.api.url}/graphql/stream?{urlencode({'query': EVENTS, 'token': token})}"
    return await page.evaluate(LISTEN, url)


async def test_an_event_source_with_a_stream_token_receives_an_event(
    stack: live.Stack, frontend: str, tenant_a: TenantHandle, tenant_b: TenantHandle
) -> None:
    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is needed: `make browser` installs it"
    await access.set_allowed_origins(tenant_id=tenant_a.id, allowed=[frontend])
    mine, theirs = await token_of(stack.api, tenant_a.key), await token_of(stack.api, tenant_b.key)
    errors: list[str] = []

    def note(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = await browser.new_page()
            page.on("console", note)
            page.on("pageerror", lambda error: errors.append(str(error)))
            await page.goto(f"{frontend}/dashboard")
            opened = await listen(page, stack, mine)
            await asyncio.sleep(SETTLE)
            await create_product(tenant_a, "Seen in the browser")
            await page.wait_for_function("window.__events.length > 0", timeout=5000)
            received: Any = await page.evaluate("window.__events")
            await page.evaluate("window.__source.close()")
            clean = list(errors)
            refused = await listen(page, stack, theirs)  # tenant B allows no origin
        finally:
            await browser.close()

    assert opened == "open"
    [event] = received
    assert event["data"]["data"]["events"]["type"] == "product.created"
    assert event["id"] == event["data"]["data"]["events"]["cursor"]
    assert clean == []
    assert refused == "error"
    assert any("CORS" in error or "Access-Control-Allow-Origin" in error for error in errors), errors
