"""GraphiQL in a real browser (Debian's Chromium driven by Playwright) under the served
Content-Security-Policy: the page loads, runs a query against a real `tenantgraph serve`,
opens a same-origin WebSocket and downloads the tenant's SDL, with no CSP violation; and runs
a subscription over graphql-transport-ws to the tenant named in its URL, showing the event a
mutation makes.

The CDN cannot be reached from here: its files are answered from the same npm packages it
serves them from (fetched with `npm pack`, cached under .data/npm), so the browser still checks
their integrity hashes and the policy still sees their https://unpkg.com URLs."""

from __future__ import annotations

import asyncio
import json
import mimetypes
import re
import shutil
import subprocess
import tarfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from playwright.async_api import Route, async_playwright
from strawberry.http.ides import get_graphql_ide_html

from tests import live
from tests.conftest import TenantHandle
from tests.documents import CREATE_PRODUCT, payload, product_input
from tests.processes import ROOT

CDN = "https://unpkg.com/"
QUERY = "{ products(first: 1) { edges { cursor } } }"
SUBSCRIPTION = "subscription { events(types: [\"product.created\"]) { type aggregateId } }"
WATCH_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__violations.push(`${event.violatedDirective} ${event.blockedURI}`);
});
"""
OPEN_WEBSOCKET = """
() => new Promise((resolve) => {
  const socket = new WebSocket(location.href.replace(/^http/, "ws").split("?")[0],
                               "graphql-transport-ws");
  socket.onopen = () => { socket.close(); resolve("open"); };
  socket.onerror = () => resolve("error");
})
"""


def cdn_files() -> dict[str, tuple[str, str]]:
    """Each CDN URL of the GraphiQL page: (npm package spec, path inside the package)."""
    html = get_graphql_ide_html("graphiql")
    found = {}
    for url in re.findall(rf"(?:src|href)=\"({re.escape(CDN)}[^\"]+)\"", html):
        match = re.fullmatch(r"((?:@[^/]+/)?[^/@]+@[^/]+)/(.+)", url.removeprefix(CDN))
        assert match, url
        found[url] = (match[1], match[2])
    return found


@pytest.fixture(scope="module")
def packages() -> dict[str, Path]:
    """The npm tarballs of the page's CDN files, by package spec."""
    cache = ROOT / ".data" / "npm"
    cache.mkdir(parents=True, exist_ok=True)
    specs = sorted({spec for spec, _ in cdn_files().values()})
    tarballs = {spec: cache / (re.sub(r"^@", "", spec).replace("/", "-").replace("@", "-") + ".tgz")
                for spec in specs}
    missing = [spec for spec, tarball in tarballs.items() if not tarball.exists()]
    if missing:
        subprocess.run(["npm", "pack", "--silent", "--pack-destination", str(cache), *missing],
                       check=True, capture_output=True, timeout=300)
    return tarballs


def read_from(tarball: Path, path: str) -> bytes:
    with tarfile.open(tarball) as archive:
        member = archive.extractfile(f"package/{path}")
        assert member is not None, path
        return member.read()


@pytest.fixture(scope="module")
async def stack(server_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
                ) -> AsyncIterator[live.Stack]:
    async with live.stack(server_env, tmp_path_factory.mktemp("graphiql")) as made:
        yield made


async def test_graphiql_loads_and_queries_under_its_policy(
    stack: live.Stack, tenant_a: TenantHandle, packages: dict[str, Path]
) -> None:
    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is needed: `make browser` installs it"
    files = cdn_files()
    elsewhere: list[str] = []

    async def answer(route: Route) -> None:
        url = route.request.url
        if url not in files:
            elsewhere.append(url)
            await route.abort()
            return
        spec, path = files[url]
        await route.fulfill(
            status=200, body=read_from(packages[spec], path),
            content_type=mimetypes.guess_type(path)[0] or "application/octet-stream",
            headers={"access-control-allow-origin": "*"},
        )

    headers = json.dumps({"Authorization": f"Bearer {tenant_a.key}"})
    page_url = f"{stack.api.url}/graphql?q={quote(QUERY)}&headers={quote(headers)}"
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = await browser.new_page()
            console = []
            page.on("console", lambda message: console.append(message.text))
            await page.route(f"{CDN}**", answer)
            await page.add_init_script(WATCH_VIOLATIONS)
            response = await page.goto(page_url)
            assert response is not None and response.status == 200
            assert "frame-ancestors 'none'" in (await response.header_value("content-security-policy") or "")
            await page.locator(".graphiql-execute-button").click(timeout=20_000)
            result = page.locator(".graphiql-response")
            await result.get_by_text('"products"').wait_for(timeout=20_000)
            text = await result.inner_text()
            assert '"edges": []' in text and '"errors"' not in text, text
            assert await page.evaluate(OPEN_WEBSOCKET) == "open"
            async with page.expect_download() as downloading:
                await page.get_by_role("button", name="Download the schema (SDL)").click()
            download = await downloading.value
            sdl = Path(await download.path()).read_text()
            violations = await page.evaluate("window.__violations")
        finally:
            await browser.close()
    assert violations == [], sorted(set(violations))
    assert not [line for line in console if "Content Security Policy" in line], console
    assert elsewhere == []
    assert download.suggested_filename == f"{tenant_a.slug}.graphql"
    assert "type Query {" in sdl and "products(" in sdl and "fashion" not in sdl.lower()


async def test_graphiql_subscribes_over_graphql_transport_ws_to_the_tenant_in_its_url(
    stack: live.Stack, tenant_a: TenantHandle, packages: dict[str, Path]
) -> None:
    """The page at /graphql?tenant=<slug> subscribes at ws://host/graphql?tenant=<slug>, its
    headers (the credential) sent in connection_init, and shows the event a mutation makes."""
    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is needed: `make browser` installs it"
    files = cdn_files()

    async def answer(route: Route) -> None:
        spec, path = files[route.request.url]
        await route.fulfill(status=200, body=read_from(packages[spec], path),
                            content_type=mimetypes.guess_type(path)[0] or "application/octet-stream",
                            headers={"access-control-allow-origin": "*"})

    headers = json.dumps({"Authorization": f"Bearer {tenant_a.key}"})
    page_url = (f"{stack.api.url}/graphql?tenant={tenant_a.slug}&q={quote(SUBSCRIPTION)}"
                f"&headers={quote(headers)}")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = await browser.new_page()
            sockets: list[str] = []
            page.on("websocket", lambda socket: sockets.append(socket.url))
            await page.route(f"{CDN}**", answer)
            await page.add_init_script(WATCH_VIOLATIONS)
            await page.goto(page_url)
            await page.locator(".graphiql-execute-button").click(timeout=20_000)
            await live_subscriptions(stack, 1)
            created = payload(await tenant_a.gql(
                CREATE_PRODUCT, {"input": product_input("Tee", [f"SKU-{uuid.uuid4().hex[:8]}"])}
            ), "createProduct")
            result = page.locator(".graphiql-response")
            await result.get_by_text(created["product"]["id"]).wait_for(timeout=20_000)
            text = await result.inner_text()
            violations = await page.evaluate("window.__violations")
        finally:
            await browser.close()
    assert '"type": "product.created"' in text and '"errors"' not in text, text
    assert sockets == [f"{stack.api.ws_url(tenant_a.slug)}"], sockets
    assert violations == []


async def live_subscriptions(stack: live.Stack, count: int, timeout: float = 20) -> None:
    """Until the API process holds `count` listeners for live events."""
    deadline = asyncio.get_running_loop().time() + timeout
    async with httpx.AsyncClient(base_url=stack.api.url, timeout=5) as http:
        while (await http.get("/healthz")).json()["live"]["listeners"] < count:
            assert asyncio.get_running_loop().time() < deadline, "GraphiQL did not subscribe"
            await asyncio.sleep(0.1)
