"""`make run`'s command, `tenantgraph dev`, as a real process on the session's services."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import signal
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from server.embedded import free_port
from tests.processes import spawn, stop, wait_exit, wait_until

PRODUCT_TITLES = "{ products(first: 10, orderBy: {field: TITLE}) { edges { node { title } } } }"
FASHION = "{ products(first: 10) { edges { node { title fashion { season collection } } } } }"
BANNER = re.compile(
    r"GraphiQL:\s+(?P<url>\S+)\n"
    r"\s+acme\s+admin key:\s+(?P<acme>tg_\S+)\n"
    r"\s+banban\s+admin key:\s+(?P<banban>tg_\S+)\n"
    r"\s+platform key:\s+(?P<platform>tg_\S+)"
)


@dataclasses.dataclass
class Dev:
    process: subprocess.Popen[bytes]
    port: int
    url: str
    keys: dict[str, str]
    log: Path

    async def post(self, query: str, key: str, tenant: str | None = None) -> httpx.Response:
        headers = {"authorization": f"Bearer {key}"} | ({"x-tenant-id": tenant} if tenant else {})
        async with httpx.AsyncClient(timeout=10) as http:
            return await http.post(self.url, json={"query": query}, headers=headers)

    async def gql(self, query: str, key: str, tenant: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = (await self.post(query, key, tenant)).json()
        return body


StartDev = Callable[[], Awaitable[Dev]]


@pytest.fixture
async def start_dev(server_env: dict[str, str], tmp_path: Path) -> AsyncIterator[StartDev]:
    """Start `tenantgraph dev` (URLs set, so no embedded services), wait for its banner and
    for the API to answer; every run is stopped, with its process group, afterwards."""
    runs: list[Dev] = []

    async def start() -> Dev:
        port = free_port()
        log, out = tmp_path / f"dev-{port}.log", tmp_path / f"dev-{port}.out"
        env = {**server_env, "PORT": str(port), "DATA_DIR": str(tmp_path / "data")}
        process = spawn(["dev"], env, log, stdout=out)
        found: list[re.Match[str]] = []

        async def serving() -> bool:
            match = BANNER.search(out.read_text())
            if match is None:
                return False
            found.append(match)
            async with httpx.AsyncClient(timeout=1) as http:
                return (await http.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200

        await wait_until(serving, process, log, timeout=30)
        match = found[-1]
        keys = {name: match[name] for name in ("acme", "banban", "platform")}
        run = Dev(process, port, match["url"], keys, log)
        runs.append(run)
        return run

    yield start
    for run in runs:
        await stop(run.process, signal.SIGINT, timeout=15)


def titles(body: dict[str, Any]) -> list[str]:
    assert "errors" not in body, body
    return [edge["node"]["title"] for edge in body["data"]["products"]["edges"]]


async def test_banner_shows_graphiql_url_and_demo_keys(start_dev: StartDev) -> None:
    dev = await start_dev()

    assert dev.url == f"http://127.0.0.1:{dev.port}/graphql"
    assert len(set(dev.keys.values())) == 3


async def test_no_embedded_services_start_when_urls_are_set(start_dev: StartDev, tmp_path: Path) -> None:
    await start_dev()

    assert not (tmp_path / "data").exists() or list((tmp_path / "data").iterdir()) == []


async def test_acme_key_lists_acme_products(start_dev: StartDev) -> None:
    dev = await start_dev()

    body = await dev.gql(PRODUCT_TITLES, dev.keys["acme"])

    assert titles(body) == ["Burr Grinder", "Espresso Machine", "Milk Jug"]


async def test_banban_key_sees_fashion_fields(start_dev: StartDev) -> None:
    dev = await start_dev()

    body = await dev.gql(FASHION, dev.keys["banban"])

    assert "errors" not in body, body
    fashion = {edge["node"]["title"]: edge["node"]["fashion"] for edge in body["data"]["products"]["edges"]}
    assert fashion == {
        "Linen Shirt": {"season": "SS25", "collection": "Riviera"},
        "Wool Coat": {"season": "AW25", "collection": "Nordic"},
    }


async def test_acme_key_does_not_see_fashion_fields(start_dev: StartDev) -> None:
    dev = await start_dev()

    body = await dev.gql(FASHION, dev.keys["acme"])

    assert [e["extensions"]["code"] for e in body["errors"]] == ["GRAPHQL_VALIDATION_FAILED"]


async def test_platform_key_acts_for_the_tenant_it_names(start_dev: StartDev) -> None:
    dev = await start_dev()

    body = await dev.gql("{ tenant { slug extensions } }", dev.keys["platform"], tenant="banban")

    assert body == {"data": {"tenant": {"slug": "banban", "extensions": ["banban"]}}}


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
async def test_stop_signal_ends_dev_and_its_worker(start_dev: StartDev, sig: signal.Signals) -> None:
    """Ctrl+C (SIGINT) or `docker stop`/`kill` (SIGTERM) sent to dev alone: no worker outlives it."""
    dev = await start_dev()
    children = psutil.Process(dev.process.pid).children(recursive=True)
    assert children, "dev started no worker process"

    commands = sorted(child.cmdline()[-1] for child in children)
    assert commands == ["serve", "worker"], commands

    dev.process.send_signal(sig)
    code = await wait_exit(dev.process, timeout=15)
    _, alive = await asyncio.to_thread(psutil.wait_procs, children, 5)

    assert code is not None, f"dev still running 15 s after {sig.name}"
    leftover = [p.pid for p in alive if p.status() != psutil.STATUS_ZOMBIE]
    assert leftover == [], f"exit code {code}; still running: {leftover}\n{dev.log.read_text()}"
    assert code == 0, f"exit code {code}: a child did not stop cleanly\n{dev.log.read_text()}"


async def test_second_run_reseeds_nothing_and_replaces_demo_keys(start_dev: StartDev) -> None:
    first = await start_dev()
    await stop(first.process, signal.SIGINT, timeout=15)

    second = await start_dev()

    assert titles(await second.gql(PRODUCT_TITLES, second.keys["acme"])) == [
        "Burr Grinder", "Espresso Machine", "Milk Jug",
    ]
    for name, old in first.keys.items():
        assert old != second.keys[name]
        response = await second.post("{ tenant { slug } }", old, tenant="banban")
        assert response.status_code == 401, (name, response.text)


DEMO_COMMERCE = """
{
  customers(first: 10) { edges { node { email } } }
  orders(first: 10) { edges { node { number status total { amount } } } }
  stockLevels(first: 100) { edges { node { onHand } } }
  priceLists(first: 10) { edges { node { handle } } }
}
"""


async def test_demo_tenants_have_customers_stock_prices_and_orders(start_dev: StartDev) -> None:
    dev = await start_dev()

    for slug in ("acme", "banban"):
        body = await dev.gql(DEMO_COMMERCE, dev.keys[slug])
        assert "errors" not in body, body
        data = body["data"]
        assert len(data["customers"]["edges"]) == 3
        statuses = sorted(e["node"]["status"] for e in data["orders"]["edges"])
        assert statuses == ["FULFILLED", "PAID", "PENDING"]
        assert data["stockLevels"]["edges"] and all(
            e["node"]["onHand"] >= 0 for e in data["stockLevels"]["edges"]
        )
        assert [e["node"]["handle"] for e in data["priceLists"]["edges"]] == ["wholesale"]


async def test_every_graphql_example_in_the_readme_runs_on_the_demo(start_dev: StartDev) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    examples = re.findall(r"```graphql\n(.*?)```", readme, re.S)
    dev = await start_dev()

    assert len(examples) >= 2
    for example in examples:
        body = await dev.gql(example, dev.keys["acme"])
        assert "errors" not in body, (example, body)
