"""Replays of body-signed deliveries: X-Hub-Signature-256 signs only the body, so the body's hash
names the delivery within the replay window, whatever delivery id the sender puts beside it.
Standard Webhooks deliveries are named by their signed webhook-id."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import pytest
from saq import Queue

from domain.config import Settings
from tables import webhooks as webhook_tables
from tests import webhooks as hooks
from workers.settings import queue as make_queue

FLOW = "inventory-flow"
WOKEN = f"apply_deliveries:{FLOW}"
ADJUST = hooks.stock("adjust", [("S1", "main", 7)])
BODY = hooks.encode(ADJUST)
BY_BODY = "sha256:" + hashlib.sha256(BODY).hexdigest()


@pytest.fixture
async def jobs(settings: Settings) -> AsyncIterator[Queue]:
    found = make_queue(settings)
    yield found
    await found.disconnect()


async def post_hub(
    client: httpx.AsyncClient, tenant: Any, secret: str, *, body: bytes = BODY, **headers: str
) -> httpx.Response:
    """`body` signed with X-Hub-Signature-256 only, with any other headers (delivery ids)."""
    signed = {**hooks.sign_hub(secret, body), **headers}
    return await client.post(hooks.url(tenant, FLOW), content=body, headers=signed)


async def stored(tenant_id: UUID) -> list[tuple[str, str]]:
    """(inbox id, delivery id) of the tenant's deliveries, oldest first."""
    found = await webhook_tables.list_deliveries(tenant_id=tenant_id, limit=100)
    return [(str(d.id), d.delivery_id) for d in reversed(found)]


async def age(settings: Settings, delivery_id: str, by: timedelta) -> None:
    """Move a delivery's receipt back in time, as if it had been received `by` earlier."""
    assert settings.database_url is not None
    owner = await asyncpg.connect(settings.database_url)
    try:
        await owner.execute(
            "update webhook_inbox set received_at = received_at - $2::interval where id = $1",
            UUID(delivery_id), by,
        )
    finally:
        await owner.close()


async def test_a_replayed_hub_signed_body_answers_as_the_first_delivery_whatever_id_it_carries(
    tenant_a: Any, client: httpx.AsyncClient, jobs: Queue
) -> None:
    secret = await hooks.endpoint(tenant_a, FLOW)
    first = await post_hub(client, tenant_a, secret, **{"x-github-delivery": "gh-1"})

    replays = [
        await post_hub(client, tenant_a, secret, **{"x-github-delivery": "gh-2"}),
        await post_hub(client, tenant_a, secret, **{"x-delivery-id": "forged-3"}),
        await post_hub(client, tenant_a, secret),
        await post_hub(client, tenant_a, secret, **{"x-github-delivery": "gh-1"}),
    ]

    assert first.status_code == 202, first.text
    assert [(r.status_code, r.json()["id"]) for r in replays] == [(200, first.json()["id"])] * 4
    assert await stored(tenant_a.id) == [(first.json()["id"], BY_BODY)]
    assert await hooks.tenant_jobs(jobs, tenant_a.id) == [WOKEN]


async def test_a_hub_signed_body_sent_concurrently_under_different_ids_is_stored_once(
    tenant_a: Any, client: httpx.AsyncClient
) -> None:
    secret = await hooks.endpoint(tenant_a, FLOW)

    answers = await asyncio.gather(*(
        post_hub(client, tenant_a, secret, **{"x-github-delivery": f"gh-{n}"}) for n in range(4)
    ))

    assert sorted(r.status_code for r in answers) == [200, 200, 200, 202], [r.text for r in answers]
    assert len({r.json()["id"] for r in answers}) == 1
    assert len(await stored(tenant_a.id)) == 1


async def test_different_hub_signed_bodies_are_different_deliveries(
    tenant_a: Any, client: httpx.AsyncClient
) -> None:
    secret = await hooks.endpoint(tenant_a, FLOW)
    other = hooks.encode({**ADJUST, "nonce": "2"})

    answers = [await post_hub(client, tenant_a, secret), await post_hub(client, tenant_a, secret, body=other)]

    assert [r.status_code for r in answers] == [202, 202]
    assert len(await stored(tenant_a.id)) == 2


async def test_standard_webhooks_deliveries_with_equal_bodies_and_distinct_ids_are_two_deliveries(
    tenant_a: Any, client: httpx.AsyncClient
) -> None:
    """Their id is signed: a sender that sends one body twice under two ids means two deliveries."""
    secret = await hooks.endpoint(tenant_a, FLOW)

    answers = [await hooks.deliver(client, tenant_a, FLOW, secret, ADJUST, msg_id=f"msg_{n}")
               for n in (1, 2)]

    assert [r.status_code for r in answers] == [202, 202]
    assert [delivery_id for _, delivery_id in await stored(tenant_a.id)] == ["msg_1", "msg_2"]


async def test_after_the_replay_window_the_same_hub_signed_body_is_a_new_delivery(
    tenant_a: Any, client: httpx.AsyncClient, settings: Settings
) -> None:
    secret = await hooks.endpoint(tenant_a, FLOW)
    first = (await post_hub(client, tenant_a, secret)).json()["id"]
    await age(settings, first, settings.webhook_replay_window + timedelta(seconds=1))

    after = await post_hub(client, tenant_a, secret, **{"x-github-delivery": "gh-9"})
    again = await post_hub(client, tenant_a, secret)

    assert after.status_code == 202, after.text
    assert (again.status_code, again.json()["id"]) == (200, after.json()["id"])
    [(old_id, old_name), (new_id, new_name)] = await stored(tenant_a.id)
    assert (old_id, new_id, new_name) == (first, after.json()["id"], BY_BODY)
    assert old_name.startswith(BY_BODY + "@")


async def test_the_replay_window_is_the_setting(
    tenant_a: Any, client: httpx.AsyncClient, client_for: Any, settings: Settings
) -> None:
    """Two hours after the first: inside the default window, outside a window of one hour."""
    secret = await hooks.endpoint(tenant_a, FLOW)
    first = (await post_hub(client, tenant_a, secret)).json()["id"]
    await age(settings, first, timedelta(hours=2))
    one_hour = client_for(dataclasses.replace(settings, webhook_replay_window_hours=1))

    inside = await post_hub(client, tenant_a, secret)
    outside = await post_hub(one_hour, tenant_a, secret)

    assert settings.webhook_replay_window == timedelta(hours=72)
    assert (inside.status_code, inside.json()["id"]) == (200, first)
    assert outside.status_code == 202, outside.text
    assert outside.json()["id"] != first


async def test_one_hub_signed_body_sent_to_two_tenants_is_a_delivery_of_each(
    tenant_a: Any, tenant_b: Any, client: httpx.AsyncClient
) -> None:
    secret_a, secret_b = await hooks.endpoint(tenant_a, FLOW), await hooks.endpoint(tenant_b, FLOW)
    first_a = await post_hub(client, tenant_a, secret_a, **{"x-github-delivery": "gh-1"})
    first_b = await post_hub(client, tenant_b, secret_b, **{"x-github-delivery": "gh-1"})

    replay_a = await post_hub(client, tenant_a, secret_a, **{"x-github-delivery": "gh-2"})
    replay_b = await post_hub(client, tenant_b, secret_b, **{"x-github-delivery": "gh-3"})

    assert (first_a.status_code, first_b.status_code) == (202, 202)
    assert first_a.json()["id"] != first_b.json()["id"]
    assert (replay_a.status_code, replay_a.json()["id"]) == (200, first_a.json()["id"])
    assert (replay_b.status_code, replay_b.json()["id"]) == (200, first_b.json()["id"])
    assert await stored(tenant_a.id) == [(first_a.json()["id"], BY_BODY)]
    assert await stored(tenant_b.id) == [(first_b.json()["id"], BY_BODY)]
