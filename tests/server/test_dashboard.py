"""The dashboard's page and assets as the app serves them: its own Content-Security-Policy (no
inline code, same origin only), cache headers with revalidation, and every asset the page
names present. What it does in a browser is tests/server/test_dashboard_browser.py."""

from __future__ import annotations

import re

import httpx

from server import dashboard


async def test_the_page_is_served_under_its_own_policy_and_revalidated(client: httpx.AsyncClient) -> None:
    response = await client.get("/dashboard")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    policy = response.headers["content-security-policy"]
    assert policy == dashboard.POLICY
    assert "unsafe-inline" not in policy and "script-src 'self'" in policy
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-frame-options"] == "DENY"
    again = await client.get("/dashboard", headers={"if-none-match": response.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


async def test_every_asset_the_page_names_is_served_with_cache_headers(client: httpx.AsyncClient) -> None:
    page = (await client.get("/dashboard")).text
    named = re.findall(r'(?:src|href)="(/dashboard/assets/[^"]+)"', page)
    assert named, page
    for path in named:
        response = await client.get(path)
        assert response.status_code == 200, path
        assert response.headers["cache-control"] == dashboard.ASSET_CACHE
        assert response.headers["etag"]
    script = await client.get("/dashboard/assets/app.js")
    assert script.headers["content-type"].startswith("text/javascript")
    imported = re.findall(r'from "\./([^"]+)"', script.text)
    for name in imported:
        assert (await client.get(f"/dashboard/assets/{name}")).status_code == 200, name


async def test_an_unknown_asset_is_a_404_that_names_it(client: httpx.AsyncClient) -> None:
    response = await client.get("/dashboard/assets/nothing.js")
    assert response.status_code == 404
    assert response.json() == {"detail": "no dashboard asset 'nothing.js'"}
    assert (await client.get("/dashboard/assets/..%2F__init__.py")).status_code == 404


async def test_the_page_has_no_inline_script_or_style(client: httpx.AsyncClient) -> None:
    page = (await client.get("/dashboard")).text
    assert not re.search(r"<script(?![^>]*\ssrc=)[^>]*>", page)
    assert "<style" not in page and " style=" not in page and " on" + "click=" not in page
