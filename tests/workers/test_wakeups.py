"""Wake-ups alone, on a real `tenantgraph worker` whose poll is an hour away (the only worker
running: in a module of its own, no other module's pipeline is up)."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import pytest

from domain import tenancy
from domain.config import Settings
from tests import shop as shops
from tests import webhooks as hooks
from tests.workers.test_deliveries import PROCESSED, pipeline_for


@pytest.fixture
async def shop(make_tenant: Any) -> shops.Shop:
    return await shops.open_shop(make_tenant, modules=tuple(tenancy.MODULES))


async def test_with_the_poll_an_hour_away_every_delivery_is_applied_through_its_wake_up(
    settings: Settings, server_env: dict[str, str], app_pool: None, tmp_path: Path, shop: shops.Shop
) -> None:
    """Deliveries posted one after another, each while the job woken by the one before may be
    finishing: each still gets a job (no dedupe key holds it back), so none waits for the poll."""
    async with pipeline_for(settings, server_env, tmp_path, start=False) as alone:
        alone.env = {**alone.env, "DELIVERY_POLL_SECONDS": "3600"}
        alone.start_worker()
        secret = await hooks.endpoint(shop.tenant, "inventory-flow")
        for n in range(20):
            delivery_id = await alone.post(
                shop.tenant, "inventory-flow", secret, hooks.stock("adjust", [("MUG", "main", 1)])
            )
            if n % 2:
                await asyncio.sleep(random.random() / 20)
            else:
                assert (await alone.settled(shop.id, delivery_id)).status == PROCESSED
        assert (await alone.settled(shop.id, delivery_id)).status == PROCESSED

    assert await shop.stock("MUG") == (30, 0)
