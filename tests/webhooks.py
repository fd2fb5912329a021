"""Signed webhook deliveries for the tests: Standard Webhooks and X-Hub-Signature-256 headers
(computed here, independently of domain.webhooks, or by the reference library), payloads of
the three flows (schema version 1), and endpoints made through the tables."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import httpx
import standardwebhooks
from saq import Queue

from domain import webhooks
from tables import db, inbox_claims
from tables import webhooks as webhook_tables

JSON = "application/json"

PricedItem = tuple[str, int, int]
"""(sku, quantity, unit price in minor units)"""
StockItem = tuple[str, str, int]
"""(sku, location handle, quantity)"""


def encode(payload: Any) -> bytes:
    """The raw body of a delivery, as a sender would serialize it."""
    return json.dumps(payload, separators=(",", ":")).encode()


def key(secret: str) -> bytes:
    """The HMAC key of a `whsec_<base64>` secret."""
    return base64.b64decode(secret.removeprefix("whsec_"))


def new_msg_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


def sign_standard(
    secret: str, body: bytes, *, msg_id: str | None = None, timestamp: int | None = None
) -> dict[str, str]:
    """Standard Webhooks headers (and the JSON content type) for `body`, signed with `secret`."""
    msg_id = msg_id or new_msg_id()
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(key(secret), f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return {
        "content-type": JSON,
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": "v1," + base64.b64encode(digest).decode(),
    }


def sign_reference(
    secret: str, body: bytes, *, msg_id: str | None = None, timestamp: int | None = None
) -> dict[str, str]:
    """The same headers, signed by the Standard Webhooks reference library (UTF-8 bodies only)."""
    msg_id = msg_id or new_msg_id()
    moment = datetime.now(UTC) if timestamp is None else datetime.fromtimestamp(timestamp, UTC)
    signature = standardwebhooks.Webhook(secret).sign(msg_id, moment, body.decode())
    return {
        "content-type": JSON,
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": signature,
    }


def sign_hub(secret: str, body: bytes, delivery_id: str | None = None) -> dict[str, str]:
    """`X-Hub-Signature-256: sha256=<hex>` (and X-GitHub-Delivery when given) for `body`."""
    digest = hmac.new(key(secret), body, hashlib.sha256).hexdigest()
    headers = {"content-type": JSON, "x-hub-signature-256": f"sha256={digest}"}
    if delivery_id is not None:
        headers["x-github-delivery"] = delivery_id
    return headers


def _priced(items: Sequence[PricedItem]) -> list[dict[str, Any]]:
    return [{"sku": sku, "quantity": qty, "unitPrice": price} for sku, qty, price in items]


def purchase(
    order_id: str, items: Sequence[PricedItem], total: int, email: str | None = None
) -> dict[str, Any]:
    """A purchase-flow payload: an order placed elsewhere, in EUR."""
    order: dict[str, Any] = {"id": order_id, "currency": "EUR", "items": _priced(items), "total": total}
    if email is not None:
        order["customer"] = {"email": email}
    return {"version": 1, "order": order}


def stock(mode: str, items: Sequence[StockItem], reason: str = "received") -> dict[str, Any]:
    """An inventory-flow payload: counts (`set`) or adjustments (`adjust`)."""
    lines = [
        {"sku": sku, "location": location, "quantity": qty, "reason": reason}
        for sku, location, qty in items
    ]
    return {"version": 1, "mode": mode, "items": lines}


def sale(
    sale_id: str, kind: str, location: str, items: Sequence[PricedItem], total: int
) -> dict[str, Any]:
    """A sales-flow payload: a POS `sale` or `return` at a location, in EUR."""
    return {
        "version": 1,
        "sale": {
            "id": sale_id, "type": kind, "location": location, "currency": "EUR",
            "items": _priced(items), "total": total,
        },
    }


def _tenant_id(tenant: Any) -> UUID:
    return tenant if isinstance(tenant, UUID) else UUID(str(tenant.id))


async def endpoint(tenant: Any, flow: str, *, verify_token: str | None = None) -> str:
    """Create the tenant's (a handle with `.id`, or its id) endpoint of `flow`; its secret."""
    made = await webhook_tables.create_endpoint(flow, tenant_id=_tenant_id(tenant), verify_token=verify_token)
    return made.secrets[0]


def url(tenant: Any, flow: str) -> str:
    """The path a tenant's (a handle with `.slug`, or a slug) flow is posted to."""
    slug = tenant if isinstance(tenant, str) else tenant.slug
    return f"/webhooks/{flow}?tenant={slug}"


async def deliver(
    client: httpx.AsyncClient, tenant: Any, flow: str, secret: str, payload: Any,
    *, msg_id: str | None = None,
) -> httpx.Response:
    """POST `payload` to the tenant's flow, signed with Standard Webhooks headers."""
    body = encode(payload)
    headers = sign_standard(secret, body, msg_id=msg_id)
    return await client.post(url(tenant, flow), content=body, headers=headers)


async def tenant_jobs(queue: Queue, tenant: Any) -> list[str]:
    """`function:flow` of every job in the queue's Redis that names this tenant (a handle or
    its id): a delivery wake-up is `apply_deliveries:<flow>`."""
    tenant_id = str(_tenant_id(tenant))
    return [
        f"{job.function}:{(job.kwargs or {}).get('flow')}" async for job in queue.iter_jobs()
        if (job.kwargs or {}).get("tenant_id") == tenant_id
    ]


async def store(
    *, tenant_id: UUID, flow: str, delivery_id: str, payload: dict[str, Any], correlation_id: str
) -> webhooks.Delivery:
    """An inbox row as the webhook route stores it, without signing or an endpoint (setup)."""
    async with db.transaction(tenant_id=tenant_id) as tx:
        made = await tx.connection.fetchval(
            """
            insert into webhook_inbox (id, tenant_id, flow, delivery_id, payload, status, attempts,
                                       correlation_id, received_at, updated_at)
            values (gen_random_uuid(), $1, $2, $3, $4::jsonb, 'queued', 0, $5, now(), now())
            returning id
            """,
            tenant_id, flow, delivery_id, json.dumps(payload), correlation_id,
        )
    return await webhook_tables.get_delivery(made, tenant_id=tenant_id)


async def mark_processed(delivery_id: UUID, *, tenant_id: UUID) -> None:
    """As a worker applying the delivery would leave it."""
    async with db.transaction(tenant_id=tenant_id) as tx:
        await inbox_claims.mark_processed(tx.connection, [delivery_id], tenant_id=tenant_id)
