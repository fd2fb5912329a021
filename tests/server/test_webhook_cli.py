"""`tenantgraph webhook` and `tenantgraph deliveries` as real processes: endpoints made,
rotated and listed; deliveries listed and replayed, the replay applied by a real worker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest

from domain import webhooks
from domain.config import Settings
from tables import webhooks as webhook_tables
from tests import shop as shops
from tests import webhooks as hooks
from tests.processes import cli
from tests.workers.test_deliveries import MODULES, Pipeline, pipeline_for


def fields(stdout: str) -> dict[str, str]:
    """`name: value` lines of a command's output."""
    return dict(line.split(": ", 1) for line in stdout.splitlines() if ": " in line)


async def dead(tenant_id: UUID, flow: str, payload: Any) -> webhooks.Delivery:
    """A delivery in the dead letter, as a rule it broke would have left it."""
    stored = await hooks.store(
        tenant_id=tenant_id, flow=flow, delivery_id=hooks.new_msg_id(), payload=payload,
        correlation_id="cli",
    )
    await webhook_tables.mark_failed(stored.id, "BAD_USER_INPUT: unknown sku", tenant_id=tenant_id, dead=True)
    return await webhook_tables.get_delivery(stored.id, tenant_id=tenant_id)


async def test_webhook_create_prints_the_url_path_and_the_endpoints_secret(
    tenant_a: Any, server_env: dict[str, str]
) -> None:
    done = await cli(server_env, "webhook", "create", tenant_a.slug, "inventory-flow")

    assert done.returncode == 0, done.stderr
    printed = fields(done.stdout)
    assert printed["url"] == f"/webhooks/inventory-flow?tenant={tenant_a.slug}"
    assert printed["secret"].startswith("whsec_")
    (endpoint,) = await webhook_tables.list_endpoints(tenant_id=tenant_a.id)
    assert (endpoint.flow, endpoint.secrets, endpoint.verify_token) == (
        "inventory-flow", (printed["secret"],), None
    )


async def test_webhook_create_with_a_verify_token_answers_the_handshake(
    tenant_a: Any, server_env: dict[str, str], client: httpx.AsyncClient
) -> None:
    done = await cli(server_env, "webhook", "create", tenant_a.slug, "sales-flow", "--verify-token", "s3cret")

    assert done.returncode == 0, done.stderr
    assert fields(done.stdout)["verify token"] == "s3cret"
    answer = await client.get("/webhooks/sales-flow", params={
        "tenant": tenant_a.slug, "hub.mode": "subscribe", "hub.verify_token": "s3cret",
        "hub.challenge": "1158201444",
    })
    assert (answer.status_code, answer.text) == (200, "1158201444")


async def test_webhook_create_without_a_token_value_makes_a_random_one(
    tenant_a: Any, server_env: dict[str, str]
) -> None:
    done = await cli(server_env, "webhook", "create", tenant_a.slug, "purchase-flow", "--verify-token")

    assert done.returncode == 0, done.stderr
    token = fields(done.stdout)["verify token"]
    assert len(token) >= 24
    assert [e.verify_token for e in await webhook_tables.list_endpoints(tenant_id=tenant_a.id)] == [token]


async def test_webhook_create_of_an_existing_flow_fails_and_keeps_its_secret(
    tenant_a: Any, server_env: dict[str, str]
) -> None:
    secret = await hooks.endpoint(tenant_a, "purchase-flow")

    done = await cli(server_env, "webhook", "create", tenant_a.slug, "purchase-flow")

    assert done.returncode == 1
    assert "an endpoint for purchase-flow exists; rotate its secret instead" in done.stderr
    assert [e.secrets for e in await webhook_tables.list_endpoints(tenant_id=tenant_a.id)] == [(secret,)]


async def test_webhook_create_for_an_unknown_tenant_fails(server_env: dict[str, str]) -> None:
    done = await cli(server_env, "webhook", "create", "no-such-shop", "purchase-flow")

    assert done.returncode == 1
    assert "tenant 'no-such-shop' not found" in done.stderr


async def test_webhook_rotate_prints_a_new_secret_and_keeps_the_previous_one_valid(
    tenant_a: Any, server_env: dict[str, str]
) -> None:
    previous = await hooks.endpoint(tenant_a, "inventory-flow")

    done = await cli(server_env, "webhook", "rotate", tenant_a.slug, "inventory-flow")

    assert done.returncode == 0, done.stderr
    printed = fields(done.stdout)
    assert printed["previous secret"] == previous
    assert printed["secret"].startswith("whsec_") and printed["secret"] != previous
    (endpoint,) = await webhook_tables.list_endpoints(tenant_id=tenant_a.id)
    assert endpoint.secrets == (printed["secret"], previous)


async def test_webhook_list_shows_each_endpoint_of_the_tenant_only(
    tenant_a: Any, tenant_b: Any, server_env: dict[str, str]
) -> None:
    for flow in ("sales-flow", "purchase-flow"):
        await hooks.endpoint(tenant_a, flow)
    await hooks.endpoint(tenant_b, "inventory-flow")

    done = await cli(server_env, "webhook", "list", tenant_a.slug)

    assert done.returncode == 0, done.stderr
    assert [line.split("\t")[:4] for line in done.stdout.splitlines()] == [
        ["purchase-flow", "enabled", hooks.url(tenant_a, "purchase-flow"), "secrets=1"],
        ["sales-flow", "enabled", hooks.url(tenant_a, "sales-flow"), "secrets=1"],
    ]


async def test_deliveries_list_filters_by_status_and_flow(
    tenant_a: Any, server_env: dict[str, str]
) -> None:
    stock_dead = await dead(tenant_a.id, "inventory-flow", hooks.stock("adjust", [("NOPE", "main", 1)]))
    purchase_dead = await dead(tenant_a.id, "purchase-flow", hooks.purchase("p-1", [("NOPE", 1, 1)], 1))
    queued = await hooks.store(
        tenant_id=tenant_a.id, flow="inventory-flow", delivery_id="queued-1",
        payload=hooks.stock("set", [("NOPE", "main", 1)]), correlation_id="cli",
    )

    every = await cli(server_env, "deliveries", "list", tenant_a.slug)
    dead_stock = await cli(server_env, "deliveries", "list", tenant_a.slug, "--status", "DEAD",
                           "--flow", "inventory-flow")

    assert sorted(line.split("\t")[0] for line in every.stdout.splitlines()) == sorted(
        str(d.id) for d in (stock_dead, purchase_dead, queued)
    )
    (line,) = dead_stock.stdout.splitlines()
    columns = line.split("\t")
    assert columns[:4] == [str(stock_dead.id), "inventory-flow", "dead", "attempts=1"]
    assert columns[-1] == "BAD_USER_INPUT: unknown sku"


async def test_deliveries_replay_needs_a_selection(tenant_a: Any, server_env: dict[str, str]) -> None:
    done = await cli(server_env, "deliveries", "replay", tenant_a.slug)

    assert done.returncode == 1
    assert "name deliveries" in done.stderr


@pytest.fixture(scope="module")
async def pipeline(
    settings: Settings, server_env: dict[str, str], app_pool: None, tmp_path_factory: Any
) -> AsyncIterator[Pipeline]:
    async with pipeline_for(settings, server_env, tmp_path_factory.mktemp("webhook-cli")) as made:
        yield made


@pytest.fixture
async def shop(make_tenant: Any) -> shops.Shop:
    return await shops.open_shop(make_tenant, modules=MODULES)


async def test_deliveries_replay_by_id_has_the_worker_apply_the_delivery(
    pipeline: Pipeline, shop: shops.Shop
) -> None:
    wrong = await dead(shop.id, "inventory-flow", hooks.stock("adjust", [("MUG", "main", 5)]))

    done = await cli(pipeline.env, "deliveries", "replay", shop.tenant.slug, "--id", str(wrong.id))

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["replayed 1 deliveries", str(wrong.id)]
    assert (await pipeline.settled(shop.id, wrong.id)).status == webhooks.DeliveryStatus.PROCESSED
    assert await shop.stock("MUG") == (15, 0)


async def test_deliveries_replay_by_flow_and_time_range_replays_only_those(
    pipeline: Pipeline, shop: shops.Shop
) -> None:
    before = await dead(shop.id, "inventory-flow", hooks.stock("adjust", [("MUG", "main", 1)]))
    inside = await dead(shop.id, "inventory-flow", hooks.stock("adjust", [("MUG", "main", 2)]))
    other_flow = await dead(shop.id, "purchase-flow", hooks.purchase("p-2", [("MUG", 1, 800)], 800))
    since = inside.received_at.isoformat()
    until = (other_flow.received_at + timedelta(seconds=1)).isoformat()

    done = await cli(pipeline.env, "deliveries", "replay", shop.tenant.slug, "--flow", "inventory-flow",
                     "--since", since, "--until", until)

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["replayed 1 deliveries", str(inside.id)]
    assert (await pipeline.settled(shop.id, inside.id)).status == webhooks.DeliveryStatus.PROCESSED
    for untouched in (before, other_flow):
        status = (await webhook_tables.get_delivery(untouched.id, tenant_id=shop.id)).status
        assert status == webhooks.DeliveryStatus.DEAD
    assert await shop.stock("MUG") == (12, 0)
