"""Webhook deliveries end to end: posted to the route, applied by a real `tenantgraph worker`
process. Each flow's effect, exactly once; the dead letter and its replay; the poll; the
wake-up protocol; the request id from the request through the batch to the events."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import pytest
from saq import Queue
from saq.job import TERMINAL_STATUSES, Job, Status

from domain import catalog, inventory, payments, pricing, tenancy, webhooks
from domain.config import Settings
from server.app import create_app
from services import batches as batch_services
from services import catalog as catalog_services
from services import inventory as inventory_services
from services import pricing as pricing_services
from tables import catalog as catalog_tables
from tables import customers as customer_tables
from tables import db
from tables import events as outbox
from tables import inventory as inventory_tables
from tables import orders as order_tables
from tables import payments as payment_tables
from tables import webhooks as webhook_tables
from tables.orders import OrderTable
from tests import shop as shops
from tests import webhooks as hooks
from tests.documents import META
from tests.processes import spawn, stop
from workers import deliveries
from workers.settings import queue

MODULES = tuple(tenancy.MODULES)
PROCESSED, DEAD = webhooks.DeliveryStatus.PROCESSED, webhooks.DeliveryStatus.DEAD

REPLAY = """
mutation Replay($input: ReplayInput!) {
  replayWebhookDeliveries(input: $input) { replayed errors { field message code } }
}
"""


async def free_redis(redis_url: str) -> str:
    """A Redis database (1-15) that no live worker uses: another session's worker must not
    take this test's jobs."""
    base = redis_url.rsplit("/", 1)[0]
    for number in random.sample(range(1, 16), 15):
        probe = Queue.from_url(f"{base}/{number}", name="tenantgraph")
        try:
            busy = (await probe.info())["workers"]
        finally:
            await probe.disconnect()
        if not busy:
            return f"{base}/{number}"
    raise AssertionError("a worker runs on every Redis database")


@dataclasses.dataclass
class Pipeline:
    """The app (in process) and `tenantgraph worker` processes, on a Redis database of their own."""

    env: dict[str, str]
    http: httpx.AsyncClient
    jobs: Queue
    logs: Path
    workers: list[subprocess.Popen[bytes]] = dataclasses.field(default_factory=list)

    def start_worker(self) -> subprocess.Popen[bytes]:
        process = spawn(["worker"], self.env, self.logs / f"worker-{len(self.workers)}.log")
        self.workers.append(process)
        return process

    def log(self) -> str:
        return "".join(path.read_text() for path in sorted(self.logs.glob("worker-*.log")))

    async def post(
        self, tenant: Any, flow: str, secret: str, payload: Any, **headers: str
    ) -> UUID:
        """Deliver `payload`, signed; the id of the accepted (202) delivery."""
        body = hooks.encode(payload)
        response = await self.http.post(
            hooks.url(tenant, flow), content=body,
            headers={**hooks.sign_standard(secret, body), **headers},
        )
        assert response.status_code == 202, response.text
        return UUID(response.json()["id"])

    async def deliver(
        self, tenant: Any, flow: str, secret: str, payload: Any, **headers: str
    ) -> webhooks.Delivery:
        """Post `payload` and wait until it is processed or dead."""
        return await self.settled(tenant.id, await self.post(tenant, flow, secret, payload, **headers))

    async def settled(
        self, tenant_id: UUID, delivery_id: UUID, timeout: float = 20
    ) -> webhooks.Delivery:
        """The delivery, once it is processed or dead."""
        deadline = time.monotonic() + timeout
        while True:
            found = await webhook_tables.get_delivery(delivery_id, tenant_id=tenant_id)
            if found.status in (PROCESSED, DEAD):
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"{found} after {timeout} s; worker logs:\n{self.log()[-6000:]}")
            await asyncio.sleep(0.05)

    async def finished(self, key: str, timeout: float = 20) -> Job:
        """The SAQ job of `key`, once it is complete, failed or aborted."""
        deadline = time.monotonic() + timeout
        while True:
            job = await self.jobs.job(key)
            if job is not None and job.status in TERMINAL_STATUSES:
                return job
            if time.monotonic() > deadline:
                raise AssertionError(f"{job} after {timeout} s; worker logs:\n{self.log()[-6000:]}")
            await asyncio.sleep(0.05)

    def as_admin(self, tenant: Any) -> Any:
        """The tenant's handle, its GraphQL going to this pipeline's app."""
        return dataclasses.replace(tenant, client=self.http)


@contextlib.asynccontextmanager
async def pipeline_for(
    settings: Settings, server_env: dict[str, str], logs: Path, *, start: bool = True
) -> AsyncIterator[Pipeline]:
    """A pipeline, with a worker started unless `start` is false; every worker it started is
    stopped afterwards."""
    assert settings.redis_url is not None
    redis_url = await free_redis(settings.redis_url)
    own = dataclasses.replace(settings, redis_url=redis_url)
    transport = httpx.ASGITransport(app=create_app(own))
    jobs = queue(own)
    await jobs.connect()
    async with httpx.AsyncClient(transport=transport, base_url="http://tenantgraph.test") as http:
        pipeline = Pipeline({**server_env, "REDIS_URL": redis_url}, http, jobs, logs)
        if start:
            pipeline.start_worker()
        try:
            yield pipeline
        finally:
            await jobs.disconnect()
            for process in pipeline.workers:
                await stop(process)


@pytest.fixture(scope="module")
async def pipeline(
    settings: Settings, server_env: dict[str, str], app_pool: None, tmp_path_factory: Any
) -> AsyncIterator[Pipeline]:
    async with pipeline_for(settings, server_env, tmp_path_factory.mktemp("deliveries")) as made:
        yield made


@pytest.fixture
async def shop(make_tenant: Any) -> shops.Shop:
    """TEE-S, TEE-M (1500) and MUG (800), 10 of each at `main`, and a customer."""
    return await shops.open_shop(make_tenant, modules=MODULES)


async def owner(settings: Settings) -> asyncpg.Connection:
    assert settings.database_url is not None
    return await asyncpg.connect(settings.database_url)


async def orders_by_ref(tenant_id: UUID, ref: str) -> list[dict[str, Any]]:
    async with db.transaction(tenant_id=tenant_id):
        return list(await OrderTable.select().where(
            OrderTable.tenant_id == tenant_id, OrderTable.external_ref == ref
        ))


async def on_hand(tenant_id: UUID, variant_id: UUID) -> dict[UUID, int]:
    """Units on hand of a variant, by location id."""
    levels = await inventory_tables.levels_of([variant_id], tenant_id=tenant_id)
    return {level.location_id: level.on_hand for level in levels[variant_id]}


async def history(tenant_id: UUID, sku: str) -> list[tuple[int, str, str, UUID]]:
    """(delta, reason, note, location id) of a sku's adjustments, oldest first."""
    found = await inventory_tables.list_adjustments(
        tenant_id=tenant_id, where=inventory.AdjustmentFilter(sku=sku), descending=False,
        after=None, limit=100,
    )
    return [(a.delta, a.reason.value, a.note, a.location_id) for a in found]


async def store(shop: shops.Shop, units: int = 10) -> UUID:
    """A second location, `store`, with `units` of every sku."""
    location = await inventory_services.create_location(
        inventory.LocationDraft(name="Store", handle="store"), tenant_id=shop.id, meta=META
    )
    for variant_id in shop.variants.values():
        await inventory_services.set_stock(
            variant_id, location.id, units, "opening count", tenant_id=shop.id, meta=META
        )
    return location.id


async def test_purchase_flow_records_the_order_at_the_shops_prices(
    pipeline: Pipeline, shop: shops.Shop
) -> None:
    secret = await hooks.endpoint(shop.tenant, "purchase-flow")
    order = hooks.purchase("ext-1", [("TEE-S", 2, 1500), ("MUG", 1, 800)], 3800)

    delivery = await pipeline.deliver(shop.tenant, "purchase-flow", secret, order)

    assert delivery.status == PROCESSED
    (row,) = await orders_by_ref(shop.id, "shop:ext-1")
    assert (row["status"], row["currency"], row["subtotal"], row["total"]) == ("pending", "EUR", 3800, 3800)
    lines = (await order_tables.lines_of([row["id"]], tenant_id=shop.id))[row["id"]]
    assert [(line.sku, line.quantity, line.unit_price) for line in lines] == [
        ("TEE-S", 2, 1500), ("MUG", 1, 800)
    ]


DEAD_LETTER = """
query Dead { webhookDeliveries(status: DEAD, first: 10) { edges { node { id status lastError } } } }
"""


async def dead_letter(pipeline: Pipeline, tenant: Any) -> list[dict[str, Any]]:
    """The dead deliveries as the delivery status API shows them to the tenant's admin."""
    body = await pipeline.as_admin(tenant).gql(DEAD_LETTER)
    assert "errors" not in body, body
    return [edge["node"] for edge in body["data"]["webhookDeliveries"]["edges"]]


def in_currency(currency: str, ref: str, items: list[hooks.PricedItem]) -> dict[str, Any]:
    payload = hooks.purchase(ref, items, sum(quantity * price for _, quantity, price in items))
    payload["order"]["currency"] = currency
    return payload


CONTRADICTIONS = {
    "another currency": (
        in_currency("USD", "ext-usd", [("TEE-S", 2, 1500), ("MUG", 1, 800)]),
        "BAD_USER_INPUT: the purchase contradicts the shop's prices: order.currency: the order is "
        "in USD, but the shop sells TEE-S in EUR, MUG in EUR",
    ),
    "other prices": (
        in_currency("EUR", "ext-cheap", [("TEE-S", 2, 1200), ("MUG", 1, 800), ("TEE-M", 1, 1600)]),
        "BAD_USER_INPUT: the purchase contradicts the shop's prices: "
        "order.items[0].unitPrice: TEE-S at 1200 EUR, but the shop's price is 1500 EUR; "
        "order.items[2].unitPrice: TEE-M at 1600 EUR, but the shop's price is 1500 EUR",
    ),
}


@pytest.mark.parametrize("case", CONTRADICTIONS, ids=list(CONTRADICTIONS))
async def test_a_purchase_that_contradicts_the_shop_is_dead_with_the_reason_and_orders_nothing(
    case: str, pipeline: Pipeline, shop: shops.Shop
) -> None:
    """Only the shop's data shows it, so it is accepted (202), then dead-lettered: never repriced."""
    secret = await hooks.endpoint(shop.tenant, "purchase-flow")
    order, reason = CONTRADICTIONS[case]

    delivery = await pipeline.deliver(shop.tenant, "purchase-flow", secret, order)

    assert (delivery.status, delivery.attempts, delivery.last_error) == (DEAD, 1, reason)
    assert await dead_letter(pipeline, shop.tenant) == [
        {"id": str(delivery.id), "status": "DEAD", "lastError": reason}
    ]
    assert await orders_by_ref(shop.id, f"shop:{order['order']['id']}") == []
    assert [await shop.stock(sku) for sku in ("TEE-S", "TEE-M", "MUG")] == [(10, 0)] * 3
    assert await shop.event_types() == []


async def test_a_purchase_at_a_price_list_price_in_its_currency_is_recorded_at_that_price(
    pipeline: Pipeline, shop: shops.Shop
) -> None:
    """The shop's prices are its base prices and its price lists' (in the order's currency)."""
    dollars = await pricing_services.create_price_list(
        pricing.PriceListDraft(name="US", handle="us", currency="USD"), tenant_id=shop.id, meta=META
    )
    await pricing_services.set_variant_price(
        dollars.id, shop.variants["TEE-S"], catalog.Money(1700, "USD"), None,
        tenant_id=shop.id, meta=META,
    )
    secret = await hooks.endpoint(shop.tenant, "purchase-flow")

    delivery = await pipeline.deliver(
        shop.tenant, "purchase-flow", secret, in_currency("USD", "ext-us", [("TEE-S", 2, 1700)])
    )

    assert (delivery.status, delivery.last_error) == (PROCESSED, None)
    (row,) = await orders_by_ref(shop.id, "shop:ext-us")
    assert (row["currency"], row["total"]) == ("USD", 3400)


async def test_purchase_flow_finds_the_customer_by_email(pipeline: Pipeline, shop: shops.Shop) -> None:
    secret = await hooks.endpoint(shop.tenant, "purchase-flow")
    email = f"BUYER@{shop.tenant.slug}.example"
    order = hooks.purchase("ext-2", [("MUG", 1, 800)], 800, email=email)

    await pipeline.deliver(shop.tenant, "purchase-flow", secret, order)

    (row,) = await orders_by_ref(shop.id, "shop:ext-2")
    assert row["customer_id"] == shop.customer_id


async def test_purchase_flow_creates_a_customer_for_a_new_email(
    pipeline: Pipeline, shop: shops.Shop
) -> None:
    secret = await hooks.endpoint(shop.tenant, "purchase-flow")
    order = hooks.purchase("ext-3", [("MUG", 1, 800)], 800, email="new@elsewhere.example")

    await pipeline.deliver(shop.tenant, "purchase-flow", secret, order)

    found = await customer_tables.customers_by_email(["new@elsewhere.example"], tenant_id=shop.id)
    (row,) = await orders_by_ref(shop.id, "shop:ext-3")
    assert row["customer_id"] == found["new@elsewhere.example"].id


async def test_purchase_flow_reserves_the_orders_stock(pipeline: Pipeline, shop: shops.Shop) -> None:
    secret = await hooks.endpoint(shop.tenant, "purchase-flow")
    order = hooks.purchase("ext-4", [("TEE-M", 3, 1500)], 4500)

    await pipeline.deliver(shop.tenant, "purchase-flow", secret, order)

    assert await shop.stock("TEE-M") == (10, 3)
    (row,) = await orders_by_ref(shop.id, "shop:ext-4")
    assert await shop.reservations(str(row["id"])) == [("active", 3)]


async def test_inventory_flow_set_counts_stock_and_keeps_the_change_in_history(
    pipeline: Pipeline, shop: shops.Shop
) -> None:
    secret = await hooks.endpoint(shop.tenant, "inventory-flow")
    counts = hooks.stock("set", [("TEE-S", "main", 25), ("MUG", "main", 4)])

    await pipeline.deliver(shop.tenant, "inventory-flow", secret, counts)

    assert await shop.stock("TEE-S") == (25, 0)
    assert await shop.stock("MUG") == (4, 0)
    counted = (await history(shop.id, "TEE-S"))[-1], (await history(shop.id, "MUG"))[-1]
    assert counted == (
        (15, "correction", "inventory-flow count", shop.location_id),
        (-6, "correction", "inventory-flow count", shop.location_id),
    )


async def test_inventory_flow_adjust_changes_stock_and_keeps_the_change_in_history(
    pipeline: Pipeline, shop: shops.Shop
) -> None:
    secret = await hooks.endpoint(shop.tenant, "inventory-flow")
    received = hooks.stock("adjust", [("TEE-S", "main", 5)], reason="received")
    damaged = hooks.stock("adjust", [("MUG", "main", -2)], reason="damaged")

    for payload in (received, damaged):
        await pipeline.deliver(shop.tenant, "inventory-flow", secret, payload)

    assert await shop.stock("TEE-S") == (15, 0)
    assert await shop.stock("MUG") == (8, 0)
    assert (await history(shop.id, "TEE-S"))[-1] == (5, "received", "inventory-flow", shop.location_id)
    assert (await history(shop.id, "MUG"))[-1] == (-2, "damaged", "inventory-flow", shop.location_id)


async def test_sales_flow_sale_is_an_order_paid_in_full_and_fulfilled(
    pipeline: Pipeline, shop: shops.Shop
) -> None:
    await store(shop)
    secret = await hooks.endpoint(shop.tenant, "sales-flow")
    sale = hooks.sale("pos-1", "sale", "store", [("TEE-S", 2, 1400)], 2800)

    await pipeline.deliver(shop.tenant, "sales-flow", secret, sale)

    (row,) = await orders_by_ref(shop.id, "pos:pos-1")
    assert (row["status"], row["total"]) == ("fulfilled", 2800)
    paid = (await payment_tables.payments_of([row["id"]], tenant_id=shop.id))[row["id"]]
    assert [(p.kind, p.amount, p.reference) for p in paid] == [
        (payments.PaymentKind.CAPTURE, catalog.Money(2800, "EUR"), "pos:pos-1")
    ]


async def test_sales_flow_sale_sells_the_stock_at_the_named_location(
    pipeline: Pipeline, shop: shops.Shop
) -> None:
    store_id = await store(shop)
    secret = await hooks.endpoint(shop.tenant, "sales-flow")
    sale = hooks.sale("pos-2", "sale", "store", [("TEE-S", 2, 1400)], 2800)

    await pipeline.deliver(shop.tenant, "sales-flow", secret, sale)

    assert await on_hand(shop.id, shop.variants["TEE-S"]) == {shop.location_id: 10, store_id: 8}
    assert (await history(shop.id, "TEE-S"))[-1] == (-2, "sold", "POS sale pos-2", store_id)
    assert await shop.stock("TEE-S") == (10, 0)


async def test_sales_flow_return_restocks_at_the_named_location(
    pipeline: Pipeline, shop: shops.Shop
) -> None:
    store_id = await store(shop)
    secret = await hooks.endpoint(shop.tenant, "sales-flow")
    returned = hooks.sale("pos-3", "return", "store", [("MUG", 1, 800)], 800)

    await pipeline.deliver(shop.tenant, "sales-flow", secret, returned)

    assert await on_hand(shop.id, shop.variants["MUG"]) == {shop.location_id: 10, store_id: 11}
    assert (await history(shop.id, "MUG"))[-1] == (1, "returned", "POS return pos-3", store_id)
    assert await orders_by_ref(shop.id, "pos:pos-3") == []


async def test_a_wake_up_job_run_again_after_its_deliveries_were_applied_applies_nothing(
    pipeline: Pipeline, shop: shops.Shop
) -> None:
    secret = await hooks.endpoint(shop.tenant, "inventory-flow")
    adjust = hooks.stock("adjust", [("TEE-S", "main", 5)])
    delivery_id = await pipeline.post(shop.tenant, "inventory-flow", secret, adjust)
    await pipeline.settled(shop.id, delivery_id)
    events_before = await shop.event_types()

    again = await pipeline.jobs.enqueue(deliveries.JOB, tenant_id=str(shop.id), flow="inventory-flow")
    assert again is not None
    job = await pipeline.finished(again.key)

    assert (job.status, job.result) == (Status.COMPLETE, 0)
    assert await shop.stock("TEE-S") == (15, 0)
    assert await shop.event_types() == events_before


async def test_a_hub_signed_adjustment_replayed_under_new_or_missing_ids_is_applied_once(
    pipeline: Pipeline, shop: shops.Shop
) -> None:
    """X-Hub-Signature-256 signs only the body: a captured body is the same delivery (within the
    replay window) whatever delivery id is put beside it."""
    secret = await hooks.endpoint(shop.tenant, "inventory-flow")
    body = hooks.encode(hooks.stock("adjust", [("TEE-S", "main", 7)]))
    ids = [{"x-github-delivery": "gh-1"}, {"x-github-delivery": "gh-2"}, {}, {"x-delivery-id": "gh-1"}]

    answers = [
        await pipeline.http.post(
            hooks.url(shop.tenant, "inventory-flow"), content=body,
            headers={**hooks.sign_hub(secret, body), **given},
        )
        for given in ids
    ]
    accepted = {UUID(answer.json()["id"]) for answer in answers}
    for delivery_id in accepted:
        await pipeline.settled(shop.id, delivery_id)

    assert [answer.status_code for answer in answers] == [202, 200, 200, 200]
    assert len(accepted) == 1
    assert await shop.stock("TEE-S") == (17, 0)
    assert await shop.event_types() == ["inventory.adjusted"]


async def test_two_batches_at_once_apply_a_delivery_once(shop: shops.Shop) -> None:
    await hooks.store(
        tenant_id=shop.id, flow="purchase-flow", delivery_id=hooks.new_msg_id(),
        payload=hooks.purchase("twice", [("MUG", 1, 800)], 800), correlation_id="twice",
    )

    reports = await asyncio.gather(*(
        batch_services.apply_batch(shop.id, "purchase-flow", 50, batch_services.Report()) for _ in range(2)
    ))

    assert sorted(report.applied for report in reports) == [0, 1]
    assert await shop.stock("MUG") == (10, 1)
    assert len(await orders_by_ref(shop.id, "shop:twice")) == 1


async def test_a_delivery_naming_an_unknown_sku_is_dead_at_once_with_the_error(
    pipeline: Pipeline, shop: shops.Shop
) -> None:
    secret = await hooks.endpoint(shop.tenant, "inventory-flow")
    adjust = hooks.stock("adjust", [("NOPE", "main", 5)])

    delivery_id = await pipeline.post(shop.tenant, "inventory-flow", secret, adjust)
    delivery = await pipeline.settled(shop.id, delivery_id)

    assert (delivery.status, delivery.attempts) == (DEAD, 1)
    assert delivery.last_error == "BAD_USER_INPUT: unknown sku"


async def test_a_purchase_short_of_stock_is_dead_at_once_and_orders_nothing(
    pipeline: Pipeline, shop: shops.Shop
) -> None:
    secret = await hooks.endpoint(shop.tenant, "purchase-flow")
    order = hooks.purchase("ext-short", [("TEE-S", 11, 1500)], 16500)

    delivery = await pipeline.deliver(shop.tenant, "purchase-flow", secret, order)

    assert (delivery.status, delivery.attempts) == (DEAD, 1)
    assert delivery.last_error is not None and delivery.last_error.startswith("CONFLICT: insufficient stock")
    assert await orders_by_ref(shop.id, "shop:ext-short") == []
    assert await shop.stock("TEE-S") == (10, 0)


@contextlib.asynccontextmanager
async def outage(settings: Settings, tenant_id: UUID) -> AsyncIterator[None]:
    """Every stock adjustment of this tenant fails in the database, as in an outage."""
    name = f"outage_{uuid.uuid4().hex[:12]}"
    connection = await owner(settings)
    try:
        await connection.execute(f"""
            create function {name}() returns trigger language plpgsql as $$
            begin raise exception 'simulated outage'; end $$;
            create trigger {name} before insert on stock_adjustments for each row
            when (new.tenant_id = '{tenant_id}') execute function {name}();
        """)
        yield
    finally:
        await connection.execute(f"drop trigger {name} on stock_adjustments; drop function {name}()")
        await connection.close()


async def test_a_failing_delivery_is_retried_with_backoff_then_dead_lettered(
    pipeline: Pipeline, shop: shops.Shop, settings: Settings
) -> None:
    secret = await hooks.endpoint(shop.tenant, "inventory-flow")
    adjust = hooks.stock("adjust", [("TEE-S", "main", 5)])

    async with outage(settings, shop.id):
        delivery_id = await pipeline.post(shop.tenant, "inventory-flow", secret, adjust)
        delivery = await pipeline.settled(shop.id, delivery_id, timeout=60)

    assert (delivery.status, delivery.attempts) == (DEAD, 5)
    assert delivery.last_error is not None and "simulated outage" in delivery.last_error
    assert await shop.stock("TEE-S") == (10, 0)


async def test_replay_by_id_applies_a_dead_delivery_once_its_cause_is_fixed(
    pipeline: Pipeline, shop: shops.Shop
) -> None:
    admin = pipeline.as_admin(shop.tenant)
    secret = await hooks.endpoint(shop.tenant, "inventory-flow")
    adjust = hooks.stock("adjust", [("NEW-1", "main", 5)])
    delivery_id = await pipeline.post(shop.tenant, "inventory-flow", secret, adjust)
    assert (await pipeline.settled(shop.id, delivery_id)).status == DEAD
    await catalog_services.create_product(
        catalog.ProductDraft(title="New", handle="new"),
        [catalog.VariantDraft(sku="NEW-1", title="", price=catalog.Money(100, "EUR"))],
        tenant_id=shop.id, meta=META,
    )

    body = await admin.gql(REPLAY, {"input": {"ids": [str(delivery_id)]}})

    assert body["data"]["replayWebhookDeliveries"] == {"replayed": [str(delivery_id)], "errors": []}
    delivery = await pipeline.settled(shop.id, delivery_id)
    assert (delivery.status, delivery.last_error) == (PROCESSED, None)
    new = (await catalog_tables.variants_by_sku(["NEW-1"], tenant_id=shop.id))["NEW-1"]
    assert await on_hand(shop.id, new.id) == {shop.location_id: 5}


async def test_replay_by_flow_and_time_range_applies_only_the_dead_deliveries_in_it(
    pipeline: Pipeline, shop: shops.Shop
) -> None:
    admin = pipeline.as_admin(shop.tenant)
    purchase = await hooks.endpoint(shop.tenant, "purchase-flow")
    stock = await hooks.endpoint(shop.tenant, "inventory-flow")

    async def dead(flow: str, secret: str, payload: Any) -> webhooks.Delivery:
        delivery = await pipeline.deliver(shop.tenant, flow, secret, payload)
        assert delivery.status == DEAD
        return delivery

    before = await dead("purchase-flow", purchase, hooks.purchase("ext-a", [("TEE-S", 12, 1500)], 18000))
    inside = await dead("purchase-flow", purchase, hooks.purchase("ext-b", [("TEE-S", 12, 1500)], 18000))
    other_flow = await dead("inventory-flow", stock, hooks.stock("adjust", [("NOPE", "main", 1)]))
    await inventory_services.set_stock(
        shop.variants["TEE-S"], shop.location_id, 30, "restocked", tenant_id=shop.id, meta=META
    )
    since = inside.received_at.isoformat()
    until = (other_flow.received_at + timedelta(seconds=1)).isoformat()

    body = await admin.gql(REPLAY, {"input": {"flow": "PURCHASE", "since": since, "until": until}})

    assert body["data"]["replayWebhookDeliveries"] == {"replayed": [str(inside.id)], "errors": []}
    assert (await pipeline.settled(shop.id, inside.id)).status == PROCESSED
    for untouched in (before, other_flow):
        assert (await webhook_tables.get_delivery(untouched.id, tenant_id=shop.id)).status == DEAD
    assert [len(await orders_by_ref(shop.id, ref)) for ref in ("shop:ext-a", "shop:ext-b")] == [0, 1]


async def test_a_delivery_whose_wake_up_was_lost_is_applied_by_the_poll(
    pipeline: Pipeline, shop: shops.Shop
) -> None:
    stored = await hooks.store(
        tenant_id=shop.id, flow="inventory-flow", delivery_id=hooks.new_msg_id(),
        payload=hooks.stock("adjust", [("MUG", "main", 4)]), correlation_id="lost",
    )

    assert (await pipeline.settled(shop.id, stored.id)).status == PROCESSED
    assert await shop.stock("MUG") == (14, 0)


async def test_the_request_id_is_the_correlation_id_of_the_job_and_its_events(
    pipeline: Pipeline, shop: shops.Shop
) -> None:
    request_id = f"trace-{uuid.uuid4().hex}"
    secret = await hooks.endpoint(shop.tenant, "purchase-flow")
    order = hooks.purchase("ext-trace", [("MUG", 1, 800)], 800, email="traced@elsewhere.example")

    delivery_id = await pipeline.post(
        shop.tenant, "purchase-flow", secret, order, **{"x-request-id": request_id}
    )
    delivery = await pipeline.settled(shop.id, delivery_id)

    assert (delivery.status, delivery.correlation_id) == (PROCESSED, request_id)
    written = await outbox.list_events(tenant_id=shop.id, after_seq=shop.seeded_seq)
    assert {e.type for e in written} == {"customer.created", "inventory.reserved", "order.created"}
    assert {(e.correlation_id, e.actor) for e in written} == {(request_id, "webhook:purchase-flow")}
    traced = [line for line in pipeline.log().splitlines() if request_id in line]
    assert any(f"delivery {delivery_id} (purchase-flow" in line for line in traced), pipeline.log()[-4000:]

