"""Webhooks out, the worker's robustness: an endpoint whose delivery job is already queued or
running when its new messages commit is woken again until a new job is queued (so a job that
made its last claim just before the commit cannot leave them waiting for the sweep), and a
stored secret that cannot sign is an attempt that says so, not a job that crashes."""

from __future__ import annotations

import asyncio

from saq import Queue
from saq.job import Status

from domain import outbound
from domain import outbound_delivery as delivery
from domain.config import Settings
from services import outbound_delivery as delivery_services
from tables import outbound_messages as messages
from tests import outbound as out
from tests.conftest import TenantHandle
from workers import outbound_http
from workers.outbound import DEFERRED_FIRST_SECONDS, Dispatcher, Runtime, attempt


async def test_new_messages_behind_a_running_job_get_a_job_once_it_is_done(
    queue: Queue, settings: Settings, tenant_a: TenantHandle
) -> None:
    endpoint_id, _ = await out.endpoint(tenant_a.id, "http://127.0.0.1:9/w", ["*"])
    dispatcher = Dispatcher(queue, "unused", delivery.DeliverySettings(poll_seconds=0.2))
    key = delivery_services.job_key(endpoint_id)
    running = await queue.enqueue(delivery_services.JOB, key=key, endpoint_id=str(endpoint_id),
                                  tenant_id=str(tenant_a.id))
    assert running is not None

    await out.emit(tenant_a.id, "product.created")
    await dispatcher.dispatch()
    await asyncio.sleep(DEFERRED_FIRST_SECONDS)
    await dispatcher.wake_deferred()  # the job still holds the key: try again later

    assert dispatcher._next_round() <= 2 * DEFERRED_FIRST_SECONDS
    await queue.finish(running, Status.COMPLETE)  # it ended without seeing the new message
    await asyncio.sleep(2 * DEFERRED_FIRST_SECONDS)
    await dispatcher.wake_deferred()

    woken = await queue.job(key)
    assert woken is not None and woken.id == running.id and woken.status == Status.QUEUED
    assert dispatcher._next_round() == 0.2, "nothing deferred any more"


async def test_a_free_endpoint_is_woken_at_once_and_nothing_is_deferred(
    queue: Queue, tenant_a: TenantHandle
) -> None:
    endpoint_id, _ = await out.endpoint(tenant_a.id, "http://127.0.0.1:9/f", ["*"])
    dispatcher = Dispatcher(queue, "unused", delivery.DeliverySettings(poll_seconds=0.2))

    await out.emit(tenant_a.id, "product.created")
    await dispatcher.dispatch()

    woken = await queue.job(delivery_services.job_key(endpoint_id))
    assert woken is not None and woken.status == Status.QUEUED
    assert dispatcher._next_round() == 0.2


async def test_a_malformed_stored_secret_is_an_attempt_that_says_so_not_a_crashed_job(
    settings: Settings, tenant_a: TenantHandle
) -> None:
    endpoint_id, _ = await out.endpoint(tenant_a.id, "http://127.0.0.1:9/m", ["*"],
                                        secrets=[{"secret": "whsec_x", "expires_at": None}])
    await out.emit(tenant_a.id, "product.created")
    await messages.dispatch(tenant_id=tenant_a.id, limit=10, match=outbound.matches)
    [claimed] = await messages.claim(endpoint_id=endpoint_id, tenant_id=tenant_a.id, limit=1,
                                     lease_seconds=5, ordered_attempts=3)
    target = await messages.target(endpoint_id=endpoint_id, tenant_id=tenant_a.id)
    assert target is not None

    async with outbound_http.client(1) as http:
        await attempt(Runtime.open(settings), http, target, claimed)

    [row] = await out.rows("select response_status, error from outbound_attempts where endpoint_id = $1",
                           endpoint_id, tenant_id=tenant_a.id)
    assert row["response_status"] is None and "secret is malformed" in row["error"]
