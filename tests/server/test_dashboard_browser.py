"""The live dashboard in a real browser (Debian's Chromium driven by Playwright) against real
`serve` and `worker` processes: sign in, tiles, a signed purchase webhook reaching the page
within 2 s, the API process restarted while an event commits (the page resumes from its last
cursor and shows it), the fashion panel for a tenant with the banban extension only (signed in
by keyboard, with a JWT, after signing out: nothing of the first tenant is left; the first
tenant's key under the second's slug is refused), a phone width,
no CSP violation, no console error. Screenshots go to .artifacts/."""

from __future__ import annotations

import asyncio
import re
import shutil
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from playwright.async_api import ConsoleMessage, Page, async_playwright, expect

from domain import tenancy
from tests import live
from tests import shop as shops
from tests import webhooks as hooks
from tests.processes import ROOT, spawn, stop, wait_until

ARTIFACTS = ROOT / ".artifacts"
MODULES = tuple(tenancy.MODULES)
LIVE_WITHIN_MS = 15_000
"""How long a test waits for the page to show a change: a bound on the wait, not a speed goal.
Orders and tiles change only on live events (the page polls nothing but webhook health), so
the change arriving at all shows the page is live; how fast is the bench's (g) to measure."""
WATCH_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__violations.push(`${event.violatedDirective} ${event.blockedURI}`);
});
"""
OUTAGE_NOISE = re.compile(r"ERR_CONNECTION_REFUSED|WebSocket connection to .* failed")
"""What Chromium itself logs while the API is deliberately down, and nothing else."""
LATEST_ORDER = "{ orders(first: 1, orderBy: {direction: DESC}) { edges { node { id number } } } }"


@pytest.fixture(scope="module")
async def stack(server_env: dict[str, str], tmp_path_factory: Any) -> AsyncIterator[live.Stack]:
    async with live.stack(server_env, tmp_path_factory.mktemp("dashboard")) as made:
        yield made


class Console:
    """Console errors, and those logged while the API was down on purpose."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.during_outage: list[str] = []
        self.outage = False

    def take(self, message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            (self.during_outage if self.outage else self.errors).append(message.text)


async def sign_in(page: Page, slug: str, key: str) -> None:
    await page.get_by_label("Tenant (slug)").fill(slug)
    await page.get_by_label("API key or JWT").fill(key)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#connection")).to_have_text("Live", timeout=15_000)


async def sign_in_by_keyboard(page: Page, slug: str, key: str) -> None:
    await page.get_by_label("Tenant (slug)").fill("")
    await page.get_by_label("API key or JWT").fill("")
    await page.locator("#tenant").focus()
    await page.keyboard.type(slug)
    await page.keyboard.press("Tab")
    await page.keyboard.type(key)
    await page.keyboard.press("Enter")
    await expect(page.locator("#connection")).to_have_text("Live", timeout=15_000)


async def post_purchase(api: live.Api, shop: shops.Shop, secret: str, order_id: str, mug_price: int) -> None:
    """2 TEE-S and 7 MUG; with a MUG price other than the shop's, the delivery is dead-lettered."""
    await post_signed(api, shop, "purchase-flow", secret, hooks.purchase(
        order_id, [("TEE-S", 2, shops.PRICES["TEE-S"]), ("MUG", 7, mug_price)],
        2 * shops.PRICES["TEE-S"] + 7 * mug_price, email="walk-in@example.com",
    ))


async def post_signed(api: live.Api, shop: shops.Shop, flow: str, secret: str, payload: Any) -> None:
    body = hooks.encode(payload)
    async with httpx.AsyncClient(base_url=api.url, timeout=10) as http:
        response = await http.post(hooks.url(shop.tenant, flow), content=body,
                                   headers=hooks.sign_standard(secret, body))
    assert response.status_code == 202, response.text


async def dead_letter(shop: shops.Shop) -> None:
    """Until the worker has dead-lettered one delivery."""
    for _ in range(100):
        found = await shop.gql("{ webhookDeliveries(status: DEAD) { edges { node { id } } } }")
        if found["data"]["webhookDeliveries"]["edges"]:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the mispriced purchase was not dead-lettered in 10 s")


async def restart(stack: live.Stack, api: live.Api, console: Console, while_down: Any) -> None:
    """Stop the API process, run `while_down`, start it again on the same port."""
    console.outage = True
    await stop(api.process)
    await while_down()
    api.process = spawn(["serve"], {**stack.env, "PORT": str(api.port)}, api.log.with_suffix(".2.log"))

    async def healthy() -> bool:
        async with httpx.AsyncClient(base_url=api.url, timeout=1) as http:
            return (await http.get("/healthz")).status_code == 200

    await wait_until(healthy, api.process, api.log.with_suffix(".2.log"))


def tile(page: Page, name: str) -> Any:
    return page.locator(f'[data-tile="{name}"]')


async def test_the_dashboard_follows_a_tenant_live_and_resumes_after_a_restart(
    stack: live.Stack, make_tenant: Any
) -> None:
    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is needed: `make browser` installs it"
    acme = await shops.open_shop(make_tenant, modules=MODULES)
    banban = await make_tenant(MODULES, ("banban",))
    console = Console()
    ARTIFACTS.mkdir(exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            context = await browser.new_context(viewport={"width": 1280, "height": 600})
            page = await context.new_page()
            page.on("console", console.take)
            page.on("pageerror", lambda error: console.errors.append(str(error)))
            await page.add_init_script(WATCH_VIOLATIONS)
            response = await page.goto(f"{stack.api.url}/dashboard")
            assert response is not None and response.status == 200

            await sign_in(page, acme.tenant.slug, acme.tenant.key)
            await expect(tile(page, "orders")).to_have_text("0")
            await expect(tile(page, "revenue")).to_have_text("0")
            await expect(page.locator("#orders")).to_contain_text("No orders yet")
            await expect(page.locator("#fashion-panel")).to_be_hidden()
            assert acme.tenant.key not in page.url and await context.cookies() == []

            secret = await hooks.endpoint(acme.tenant, "purchase-flow")
            await post_purchase(stack.api, acme, secret, "web-0", shops.PRICES["MUG"] - 100)
            await dead_letter(acme)
            started = time.monotonic()
            await post_purchase(stack.api, acme, secret, "web-1", shops.PRICES["MUG"])
            await expect(page.locator("#orders tr").first).to_contain_text("PENDING", timeout=LIVE_WITHIN_MS)
            await expect(page.locator("#orders")).to_contain_text("walk-in@example.com")
            await expect(page.locator("#low-stock")).to_contain_text("MUG at Main: 3 available")
            order = (await acme.gql(LATEST_ORDER))["data"]["orders"]["edges"][0]["node"]
            purchase_ms = (time.monotonic() - started) * 1000

            started = time.monotonic()
            await acme.change(order["id"], "PAID")
            await expect(tile(page, "orders")).to_have_text("1", timeout=LIVE_WITHIN_MS)
            await expect(tile(page, "units")).to_have_text("9", timeout=LIVE_WITHIN_MS)
            await expect(tile(page, "revenue")).to_contain_text("86.00", timeout=LIVE_WITHIN_MS)
            await expect(page.locator("#activity")).to_contain_text(f"#{order['number']}: PENDING → PAID")
            paid_ms = (time.monotonic() - started) * 1000

            # A POS sale is paid when it is made: one signed webhook, a new order and new tiles.
            sales = await hooks.endpoint(acme.tenant, "sales-flow")
            started = time.monotonic()
            await post_signed(stack.api, acme, "sales-flow", sales, hooks.sale(
                "pos-1", "sale", "main", [("TEE-M", 1, shops.PRICES["TEE-M"])], shops.PRICES["TEE-M"],
            ))
            await expect(page.locator("#orders tr")).to_have_count(2, timeout=LIVE_WITHIN_MS)
            await expect(page.locator("#orders tr").first).to_contain_text("FULFILLED")
            await expect(tile(page, "orders")).to_have_text("2", timeout=LIVE_WITHIN_MS)
            await expect(tile(page, "units")).to_have_text("10", timeout=LIVE_WITHIN_MS)
            await expect(tile(page, "revenue")).to_contain_text("101.00", timeout=LIVE_WITHIN_MS)
            sale_ms = (time.monotonic() - started) * 1000

            async def fulfil_while_down() -> None:
                await expect(page.locator("#connection")).to_have_text("Reconnecting…", timeout=10_000)
                await acme.change(order["id"], "FULFILLED")

            await restart(stack, stack.api, console, fulfil_while_down)
            await expect(page.locator("#connection")).to_have_text("Live · resynced", timeout=20_000)
            console.outage = False
            await expect(page.locator("#activity")).to_contain_text(
                f"#{order['number']}: PAID → FULFILLED", timeout=LIVE_WITHIN_MS)
            await expect(page.locator("#orders tr").first).to_contain_text("FULFILLED")
            await expect(page.locator("#webhook-counts [data-count=PROCESSED]")).to_have_text("2")
            await expect(page.locator("#webhook-counts [data-count=DEAD]")).to_have_text("1")
            await expect(page.locator("#webhook-problems")).to_contain_text("but the shop's price is 800 EUR")
            await page.screenshot(path=str(ARTIFACTS / "dashboard-acme.png"), full_page=True)

            await page.get_by_role("button", name="Replay delivery").click()
            await expect(page.locator("#webhook-note")).to_have_text("Replay queued.")

            await page.set_viewport_size({"width": 390, "height": 844})
            assert await page.evaluate("document.documentElement.scrollWidth") <= 390
            await page.screenshot(path=str(ARTIFACTS / "dashboard-acme-phone.png"), full_page=True)
            await page.set_viewport_size({"width": 1280, "height": 600})

            await page.get_by_role("button", name="Sign out").click()
            await expect(page.locator("#connection")).to_have_text("Signed out")
            assert await page.evaluate("sessionStorage.length") == 0
            await page.get_by_label("Tenant (slug)").fill(banban.slug)
            await page.get_by_label("API key or JWT").fill(acme.tenant.key)
            await page.get_by_role("button", name="Sign in").click()
            await expect(page.get_by_role("alert")).to_contain_text("belongs to another tenant")
            await expect(page.locator("#board")).to_be_hidden()
            token = live.jwt_token(banban.slug, scopes=["admin"], seconds=600)
            await sign_in_by_keyboard(page, banban.slug, token)
            await expect(page.locator("#fashion-panel")).to_be_visible()
            await expect(page.locator("#orders")).to_contain_text("No orders yet")
            await expect(tile(page, "orders")).to_have_text("0")
            await page.screenshot(path=str(ARTIFACTS / "dashboard-banban.png"), full_page=True)
            violations = await page.evaluate("window.__violations")
        finally:
            await browser.close()
    assert violations == [], violations
    assert console.errors == [], console.errors
    assert all(OUTAGE_NOISE.search(line) for line in console.during_outage), console.during_outage
    print(f"purchase on the page after {purchase_ms:.0f} ms, paid tiles after {paid_ms:.0f} ms, "
          f"a POS sale's order and tiles after {sale_ms:.0f} ms")
