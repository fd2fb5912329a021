"""The scenarios of issue 6, each measured for tenantgraph and (where one exists) its baseline."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import hmac
import json
import random
import resource
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import websockets

from bench import wrk
from bench.procs import Proc, free_port, service_cpu_seconds, start
from bench.seed import Dataset
from domain import tenancy
from domain.errors import NotFound
from domain.webhooks import secret_key
from tables import api_keys, tenants

PRODUCT = """query($id: ID!) {
  product(id: $id) { id title handle variants { id sku price { amount currency } } } }"""
CATEGORY = """mutation($h: String!) { createCategory(input: {name: "B", handle: $h}) { category { id } } }"""
ORDERS = """{ orders(first: 50) { edges { node { id number status total { amount currency }
  customer { email } lines { sku quantity unitPrice { amount } variant { id sku } } } } } }"""
UNPUBLISHED = "select exists (select from events where published_at is null)"
CREATE_ORDER = """mutation($input: OrderCreateInput!) { createOrder(input: $input) {
  order { id number } errors { field message code } } }"""


@dataclasses.dataclass
class Context:
    owner: str
    env: dict[str, str]
    dataset: Dataset
    api: str
    baseline: str
    seconds: float
    warmup: float
    procs: dict[str, Proc]
    work: Path
    subscribers: list[int]
    workers: list[Proc] = dataclasses.field(default_factory=list)

    @property
    def tenant(self) -> str:
        return str(self.dataset.tenants["bench-a"])

    @property
    def key(self) -> str:
        return self.dataset.keys["bench-a"]


@dataclasses.dataclass(frozen=True)
class Scenario:
    letter: str
    title: str
    run: Callable[[Context], Awaitable[list[dict[str, Any]]]]


async def _sample(ctx: Context, sql: str, n: int = 200) -> list[Any]:
    connection = await asyncpg.connect(ctx.owner)
    try:
        rows = await connection.fetch(sql, ctx.dataset.tenants["bench-a"], n)
    finally:
        await connection.close()
    return [row[0] for row in rows]


def _gql(ctx: Context, query: str, variables: dict[str, Any] | None = None) -> wrk.Request:
    body = json.dumps({"query": query, "variables": variables or {}})
    return wrk.Request("POST", "/graphql", {"content-type": "application/json",
                                            "authorization": f"Bearer {ctx.key}"}, body)


async def _load(
    ctx: Context, name: str, system: str, url: str, requests: list[wrk.Request],
    connections: int = 32, proc: str | None = None, rate: float | None = None,
) -> dict[str, Any]:
    script = ctx.work / f"{name}-{system}.lua".replace("/", "-")
    if ctx.warmup:
        await asyncio.to_thread(wrk.run, url, requests, script, seconds=ctx.warmup,
                                connections=connections, rate=rate)
    watched = ctx.procs[proc or ("api" if system == "tenantgraph" else "baseline")]
    services = ctx.env["DATABASE_URL"], ctx.env["REDIS_URL"]
    before = (watched.cpu_seconds(), *map(service_cpu_seconds, services))
    result = await asyncio.to_thread(wrk.run, url, requests, script, seconds=ctx.seconds,
                                     connections=connections, rate=rate)
    after = (watched.cpu_seconds(), *map(service_cpu_seconds, services))
    cpu = [round((b - a) / result["seconds"], 3) for a, b in zip(before, after, strict=True)]
    return {"scenario": name, "system": system, **_round(result),
            "cpu_cores": {"app": cpu[0], "postgres": cpu[1], "redis": cpu[2]}}


def _round(result: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in result.items()}


async def product_by_id(ctx: Context) -> list[dict[str, Any]]:
    ids = await _sample(ctx, "select id from products where tenant_id = $1 order by random() limit $2")
    tg = [_gql(ctx, PRODUCT, {"id": str(i)}) for i in ids]
    base = [wrk.Request("GET", f"/{ctx.tenant}/product/{i}", {}) for i in ids]
    return [await _load(ctx, "a product(id)", "tenantgraph", ctx.api, tg),
            await _load(ctx, "a product(id)", "baseline", ctx.baseline, base)]


async def orders_page(ctx: Context) -> list[dict[str, Any]]:
    tg = [_gql(ctx, ORDERS)]
    base = [wrk.Request("GET", f"/{ctx.tenant}/orders", {})]
    return [await _load(ctx, "b 50 orders", "tenantgraph", ctx.api, tg, connections=16),
            await _load(ctx, "b 50 orders", "baseline", ctx.baseline, base, connections=16)]


async def create_order(ctx: Context) -> list[dict[str, Any]]:
    skus = await _sample(ctx, "select sku from variants where tenant_id = $1 order by random() limit $2")
    buyers = await _sample(ctx, "select id from customers where tenant_id = $1 order by random() limit $2")
    pairs = list(zip(skus, buyers, strict=False))
    tg = [_gql(ctx, CREATE_ORDER, {"input": {"customerId": str(c), "lines": [{"sku": s, "quantity": 1}]}})
          for s, c in pairs]
    base = [wrk.Request("POST", f"/{ctx.tenant}/orders", {"content-type": "application/json"},
                        json.dumps({"sku": s, "customer": str(c)})) for s, c in pairs]
    return [await _creating(ctx, _load(ctx, "c createOrder", "tenantgraph", ctx.api, tg, connections=16)),
            await _creating(ctx, _load(ctx, "c createOrder", "baseline", ctx.baseline, base, connections=16))]


async def _creating(ctx: Context, load: Awaitable[dict[str, Any]]) -> dict[str, Any]:
    """The run with the orders it wrote counted: a measured request that wrote no order (the
    warmup's all should) is an error, whatever its answer said."""
    count = "select count(*), $2::int from orders where tenant_id = $1"
    before = (await _sample(ctx, count))[0]
    result = await load
    created = (await _sample(ctx, count))[0] - before
    return {**result, "created": created, "errors": max(result["errors"], result["requests"] - created)}


PURCHASE_PRICE = 1250
"""What the signed purchases pay per unit: the price of the SKUs they buy (a purchase at another
price than the shop's is dead-lettered)."""


async def _purchasable(ctx: Context) -> list[Any]:
    return await _sample(ctx, f"""select sku from variants where tenant_id = $1
                                  and price_amount = {PURCHASE_PRICE} order by random() limit $2""")


def _signed(secret: str, path: str, skus: list[str], count: int) -> list[wrk.Request]:
    key, now = secret_key(secret), int(time.time())
    requests = []
    for _ in range(count):
        ref = uuid.uuid4().hex
        body = json.dumps({"version": 1, "order": {
            "id": ref, "currency": "EUR", "customer": {"email": f"c{random.randint(1, 9999)}@example.com"},
            "items": [{"sku": random.choice(skus), "quantity": 1, "unitPrice": PURCHASE_PRICE}],
            "total": PURCHASE_PRICE}})
        msg = f"msg_{ref}"
        signature = hmac.new(key, f"{msg}.{now}.{body}".encode(), hashlib.sha256).digest()
        headers = {"content-type": "application/json", "webhook-id": msg,
                   "webhook-timestamp": str(now),
                   "webhook-signature": "v1," + base64.b64encode(signature).decode()}
        requests.append(wrk.Request("POST", path, headers, body))
    return requests


STEADY_RATE = 1000


async def webhook_ingest(ctx: Context) -> list[dict[str, Any]]:
    """As fast as 32 connections go, then at a steady 1,000/s (wrk paced by a Lua delay()) for
    the latency; every request is a new delivery (a repeat would be a cheaper 200)."""
    skus = await _purchasable(ctx)
    secret = ctx.dataset.webhook_secrets["bench-a"]
    paths = {"tenantgraph": (ctx.api, "/webhooks/purchase-flow?tenant=bench-a"),
             "baseline": (ctx.baseline, f"/{ctx.tenant}/webhooks/purchase-flow")}
    rows = []
    for name, per_second, rate in (("d webhook ingest", 6000, None),
                                   ("d webhook ingest 1,000/s", STEADY_RATE * 1.2, STEADY_RATE)):
        for system, (url, path) in paths.items():
            requests = _signed(secret, path, skus, int(per_second * (ctx.seconds + ctx.warmup)))
            rows.append(await _load(ctx, name, system, url, requests, rate=rate))
    return rows


async def _subscribe(
    url: str, key: str, query: str = 'subscription { events(types: ["category.created"]) { cursor } }'
) -> Any:
    socket = await websockets.connect(url, subprotocols=["graphql-transport-ws"], compression=None,
                                      open_timeout=60, ping_interval=None)
    await _init(socket, key, query)
    return socket


async def _init(socket: Any, key: str, query: str) -> None:
    await socket.send(json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {key}"}}))
    await socket.recv()
    await socket.send(json.dumps({"type": "subscribe", "id": "1", "payload": {"query": query}}))


async def _listen(socket: Any, received: list[float]) -> None:
    async for message in socket:
        if '"next"' in str(message):
            received.append(time.perf_counter())
            return


async def subscriptions(ctx: Context) -> list[dict[str, Any]]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if not ctx.workers:  # events reach subscribers through the outbox relay
        ctx.workers = [start(["tenantgraph", "relay"], ctx.env, ctx.work / "relay.log")]
    await no_backlog(ctx)  # (a)-(d) ran without a relay: their events are published first,
    await vacuumed(ctx)  # then the rows the relay marked are vacuumed
    rows = []
    for n in ctx.subscribers:
        rows.append(await _subscribers(ctx, n))
        rows.append(await _bare_sockets(ctx, n))
    from bench import fanout  # it builds on this module

    rows.append(await fanout.many_tenants(ctx))
    return rows


async def _bench_tenants(count: int) -> dict[str, str]:
    """`count` small tenants (slug -> API key), made once and reused."""
    keys = {}
    for i in range(count):
        slug = f"bench-t{i:03d}"
        try:
            tenant = await tenants.get_by_slug(slug)
        except NotFound:
            tenant = await tenants.create(slug=slug, name=slug, modules=tenancy.MODULES)
        _, keys[slug] = await api_keys.create(tenant_id=tenant.id, name="bench", scopes={"admin"})
    return keys


async def _subscribers(ctx: Context, n: int) -> dict[str, Any]:
    port = free_port()
    api = start(["tenantgraph", "serve", "--workers", "1"], {**ctx.env, "PORT": str(port)})
    try:
        await api.ready(f"http://127.0.0.1:{port}/healthz")
        before = api.rss_bytes()
        url = f"ws://127.0.0.1:{port}/graphql?tenant=bench-a"
        sockets, errors = [], 0
        for batch in range(0, n, 200):
            made = await asyncio.gather(*(
                _subscribe(url, ctx.key)
                for _ in range(min(200, n - batch))), return_exceptions=True)
            sockets += [s for s in made if not isinstance(s, BaseException)]
            errors += sum(isinstance(s, BaseException) for s in made)
        await asyncio.sleep(2)
        per_subscriber = (api.rss_bytes() - before) / max(1, len(sockets))
        received: list[float] = []
        listeners = [asyncio.create_task(_listen(s, received)) for s in sockets]
        sent = time.perf_counter()
        body = {"query": CATEGORY, "variables": {"h": f"c-{uuid.uuid4().hex[:12]}"}}
        async with httpx.AsyncClient() as client:
            await client.post(f"http://127.0.0.1:{port}/graphql", json=body,
                              headers={"authorization": f"Bearer {ctx.key}"})
        await asyncio.wait(listeners, timeout=30)
        latencies = sorted((t - sent) * 1000 for t in received)
        for task in listeners:
            task.cancel()
        await asyncio.gather(*(s.close() for s in sockets), return_exceptions=True)
    finally:
        api.stop()
    return {"scenario": f"f {n} subscribers", "system": "tenantgraph", "connected": len(sockets),
            "received": len(latencies), "kb_per_subscriber": round(per_subscriber / 1024, 1),
            "p50_ms": _pct(latencies, 50), "p99_ms": _pct(latencies, 99),
            "errors": errors + len(sockets) - len(latencies)}


async def _bare_sockets(ctx: Context, n: int) -> dict[str, Any]:
    port = free_port()
    baseline = start([sys.executable, "-m", "uvicorn", "bench.baseline:app", "--factory", "--port", str(port),
                      "--log-level", "warning", "--ws-per-message-deflate", "false"], ctx.env)
    try:
        await baseline.ready(f"http://127.0.0.1:{port}/x/orders", status=None)
        before = baseline.rss_bytes()
        sockets = []
        for batch in range(0, n, 200):
            made = await asyncio.gather(*(
                websockets.connect(f"ws://127.0.0.1:{port}/ws", compression=None, ping_interval=None,
                                   open_timeout=60) for _ in range(min(200, n - batch))),
                return_exceptions=True)
            sockets += [s for s in made if not isinstance(s, BaseException)]
        await asyncio.sleep(2)
        per_socket = (baseline.rss_bytes() - before) / max(1, len(sockets))
        await asyncio.gather(*(s.close() for s in sockets), return_exceptions=True)
    finally:
        baseline.stop()
    return {"scenario": f"f {n} subscribers", "system": "baseline", "connected": len(sockets),
            "kb_per_subscriber": round(per_socket / 1024, 1), "errors": n - len(sockets)}


async def vacuumed(ctx: Context) -> None:
    """VACUUM (ANALYZE) the bench database (about a second): a scenario starts on settled
    tables, so that autovacuum of what the seeding or the scenarios before wrote (tens of
    thousands of rows each) does not land in its measure, for either system."""
    connection = await asyncpg.connect(ctx.owner)
    try:
        await connection.execute("vacuum (analyze)")
    finally:
        await connection.close()


async def no_backlog(ctx: Context, most: float = 60.0) -> None:
    """Wait (at most `most` seconds, then say so) until the relay has published every event,
    such as those of the scenarios before: their backlog would be timed as the next one's
    latency. Read as the platform, as the relay reads (events have row-level security)."""
    connection = await asyncpg.connect(ctx.owner)
    try:
        await connection.execute("select set_config('app.platform', 'on', false)")
        started = time.perf_counter()
        while await connection.fetchval(UNPUBLISHED):
            if time.perf_counter() - started > most:
                print(f"the relay still had a backlog after {most:.0f} s; measuring anyway", flush=True)
                return
            await asyncio.sleep(0.2)
    finally:
        await connection.close()


def _pct(values: list[float], p: int) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return round(values[0], 2)
    return round(statistics.quantiles(values, n=100, method="inclusive")[p - 1], 2)


ALL = [
    Scenario("a", "product(id) with its variants", product_by_id),
    Scenario("b", "a page of 50 orders with items, variants and customer", orders_page),
    Scenario("c", "createOrder", create_order),
    Scenario("d", "webhook ingest (signed purchase-flow)", webhook_ingest),
    Scenario("f", "subscribers on one API process", subscriptions),
]
