"""The ceiling each scenario is measured against: Starlette + asyncpg running the same data
SQL and returning the same JSON, with no GraphQL, no ORM and no tenancy layer (no auth,
no RLS), and for webhooks only HMAC + INSERT + enqueue.

Run: uvicorn bench.baseline:app --factory (DATABASE_URL = the owner DSN, REDIS_URL)."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import orjson
from saq import Queue
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from domain import webhooks

PRODUCT = "select id, title, handle from products where tenant_id = $1 and id = $2"
VARIANTS = """select id, sku, price_amount, currency from variants
              where tenant_id = $1 and product_id = any($2::uuid[]) order by position, sku"""
ORDERS = """select id, number, status, total, currency, customer_id from orders
            where tenant_id = $1 order by created_at, id limit $2"""
LINES = """select order_id, variant_id, sku, quantity, unit_price from order_lines
           where tenant_id = $1 and order_id = any($2::uuid[]) order by position"""
LINE_VARIANTS = "select id, sku from variants where tenant_id = $1 and id = any($2::uuid[])"
CUSTOMERS = "select id, email from customers where tenant_id = $1 and id = any($2::uuid[])"
# A copy of the inbox (same columns, indexes and checks): rows in webhook_inbox itself would be
# found by tenantgraph's sweeper, which cannot apply this made-up flow.
INBOX_TABLE = "create table if not exists bench_inbox (like webhook_inbox including all)"
INBOX = """insert into bench_inbox (id, tenant_id, flow, delivery_id, payload, status, attempts,
           correlation_id, received_at, updated_at)
           values (gen_random_uuid(), $1, 'bench-baseline', $2, $3::jsonb, 'queued', 0, '', now(), now())
           on conflict (tenant_id, flow, delivery_id) do nothing returning id"""


def json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def app() -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(application: Starlette) -> AsyncIterator[None]:
        state = application.state
        state.pool = await asyncpg.create_pool(os.environ["DATABASE_URL"], min_size=2, max_size=20)
        async with state.pool.acquire() as db, db.transaction():
            await db.execute("select pg_advisory_xact_lock(7220099)")  # one creator per run
            await db.execute(INBOX_TABLE)
        state.queue = Queue.from_url(os.environ["REDIS_URL"], name="bench-baseline")
        state.secrets = {}
        await state.queue.connect()
        yield
        await state.queue.disconnect()
        await state.pool.close()

    return Starlette(
        routes=[
            Route("/{tenant}/orders", order, methods=["POST"]),
            WebSocketRoute("/ws", hold),
            Route("/{tenant}/product/{id}", product),
            Route("/{tenant}/orders", orders),
            Route("/{tenant}/webhooks/purchase-flow", webhook, methods=["POST"]),
        ],
        lifespan=lifespan,
    )


async def product(request: Request) -> Response:
    tenant, product_id = request.path_params["tenant"], request.path_params["id"]
    async with request.app.state.pool.acquire() as db:
        row = await db.fetchrow(PRODUCT, tenant, product_id)
        variants = await db.fetch(VARIANTS, tenant, [product_id])
    if row is None:
        return json({"data": {"product": None}})
    return json({"data": {"product": {
        "id": str(row["id"]), "title": row["title"], "handle": row["handle"],
        "variants": [{"id": str(v["id"]), "sku": v["sku"],
                      "price": {"amount": v["price_amount"], "currency": v["currency"]}}
                     for v in variants],
    }}})


async def orders(request: Request) -> Response:
    tenant = request.path_params["tenant"]
    async with request.app.state.pool.acquire() as db:
        rows = await db.fetch(ORDERS, tenant, 50)
        lines = await db.fetch(LINES, tenant, [r["id"] for r in rows])
        variants = {v["id"]: v for v in await db.fetch(
            LINE_VARIANTS, tenant, list({line["variant_id"] for line in lines}))}
        buyers = {c["id"]: c for c in await db.fetch(
            CUSTOMERS, tenant, list({r["customer_id"] for r in rows}))}
    by_order: dict[Any, list[Any]] = {}
    for line in lines:
        by_order.setdefault(line["order_id"], []).append(line)
    return json({"data": {"orders": {"edges": [
        {"node": _order(r, buyers, by_order.get(r["id"], []), variants)} for r in rows
    ]}}})


def _order(row: Any, buyers: dict[Any, Any], lines: list[Any], variants: dict[Any, Any]) -> Any:
    return {
        "id": str(row["id"]), "number": row["number"], "status": row["status"].upper(),
        "total": {"amount": row["total"], "currency": row["currency"]},
        "customer": {"email": buyers[row["customer_id"]]["email"]},
        "lines": [{"sku": line["sku"], "quantity": line["quantity"],
                   "unitPrice": {"amount": line["unit_price"]},
                   "variant": {"id": str(line["variant_id"]),
                               "sku": variants[line["variant_id"]]["sku"]}}
                  for line in lines],
    }


async def webhook(request: Request) -> Response:
    tenant, state = request.path_params["tenant"], request.app.state
    body = await request.body()
    if tenant not in state.secrets:
        async with state.pool.acquire() as db:
            state.secrets[tenant] = await db.fetchval(
                "select secrets[1] from webhook_endpoints where tenant_id = $1 and flow = $2",
                tenant, "purchase-flow",
            )
    try:
        signed = webhooks.verify(request.headers, body, [state.secrets[tenant]], now=time.time())
    except webhooks.InvalidSignature:
        return json({"title": "Invalid signature"}, 401)
    async with state.pool.acquire() as db:
        row = await db.fetchrow(INBOX, tenant, signed.delivery_id, body.decode())
    if row is None:
        return json({"status": "duplicate"}, 200)
    await state.queue.enqueue("noop", key=str(row["id"]))
    return json({"id": str(row["id"]), "status": "queued"}, 202)


async def order(request: Request) -> Response:
    form = orjson.loads(await request.body())
    pool = request.app.state.pool
    return json(await create_order(pool, request.path_params["tenant"], form["sku"], form["customer"]))


async def hold(websocket: WebSocket) -> None:
    await websocket.accept()
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            await websocket.receive_text()


async def create_order(pool: asyncpg.Pool, tenant: str, sku: str, customer: str) -> dict[str, Any]:
    """What createOrder writes, as plain SQL in one transaction."""
    async with pool.acquire() as db, db.transaction():
        variant = await db.fetchrow(
            "select id, price_amount from variants where tenant_id = $1 and sku = $2", tenant, sku
        )
        number = await db.fetchval(
            "select nextval(format('order_numbers_%s', replace($1::uuid::text, '-', '')))", tenant
        )
        order = await db.fetchrow(
            """insert into orders (id, tenant_id, number, customer_id, status, currency, subtotal,
               discount_total, tax_total, total, created_at, updated_at)
               values (gen_random_uuid(), $1, $2, $3, 'pending', 'EUR', $4, 0, 0, $4, now(), now())
               returning id, number, total""", tenant, number, customer, variant["price_amount"],
        )
        await db.execute(
            """insert into order_lines (id, tenant_id, order_id, variant_id, sku, title, quantity,
               unit_price, discount, line_total, currency, position)
               values (gen_random_uuid(), $1, $2, $3, $4, '', 1, $5, 0, $5, 'EUR', 0)""",
            tenant, order["id"], variant["id"], sku, variant["price_amount"],
        )
        level = await db.fetchrow(
            """select id, location_id from stock_levels where tenant_id = $1 and variant_id = $2
               order by on_hand - reserved desc limit 1 for update""", tenant, variant["id"],
        )
        await db.execute("update stock_levels set reserved = reserved + 1 where id = $1", level["id"])
        await db.execute(
            """insert into reservations (id, tenant_id, order_id, variant_id, location_id, quantity,
               status, created_at) values (gen_random_uuid(), $1, $2, $3, $4, 1, 'active', now())""",
            tenant, order["id"], variant["id"], level["location_id"],
        )
        # Numbered at commit by the events_seq trigger, as tenantgraph's are.
        await db.execute(
            """insert into events (tenant_id, type, aggregate_type, aggregate_id, payload,
               correlation_id, actor, created_at, published_at)
               values ($1, 'order.created', 'order', $2, '{}'::jsonb, '', 'bench', now(), now())""",
            tenant, str(order["id"]),
        )
    return {"data": {"createOrder": {"order": {"id": str(order["id"]), "number": order["number"]},
                                     "errors": []}}}
