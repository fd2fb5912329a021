"""Each API process holds the endpoints it has read, to skip the lookup per delivery; what it
holds is only a hint. A secret rotated out, or an endpoint disabled, is refused by every process
as soon as the change is committed, and nothing crosses from one tenant to another."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any

import httpx
import pytest

from domain import webhooks as webhook_domain
from server.embedded import free_port
from tables import webhooks as webhook_tables
from tests import webhooks as hooks
from tests.processes import spawn, stop, wait_until

PURCHASE = "purchase-flow"


def order(ref: str) -> dict[str, Any]:
    return hooks.purchase(ref, [("S1", 1, 500)], 500)


async def deliver(client: httpx.AsyncClient, tenant: Any, secret: str, ref: str) -> httpx.Response:
    return await hooks.deliver(client, tenant, PURCHASE, secret, order(ref))


async def stored(tenant_id: Any) -> list[str]:
    return sorted(d.payload["order"]["id"] for d in await webhook_tables.list_deliveries(tenant_id=tenant_id))


async def rotate_and_drop(tenant_id: Any) -> str:
    """The endpoint's new secret; the previous one is gone."""
    await webhook_tables.rotate_secret(PURCHASE, tenant_id=tenant_id)
    return (await webhook_tables.drop_previous_secret(PURCHASE, tenant_id=tenant_id)).secrets[0]


async def test_a_secret_dropped_after_the_endpoint_was_read_is_refused(
    tenant_a: Any, client: httpx.AsyncClient
) -> None:
    old = await hooks.endpoint(tenant_a, PURCHASE)
    assert (await deliver(client, tenant_a, old, "before")).status_code == 202

    new = await rotate_and_drop(tenant_a.id)

    assert (await deliver(client, tenant_a, old, "after-old")).status_code == 401
    assert (await deliver(client, tenant_a, new, "after-new")).status_code == 202
    assert await stored(tenant_a.id) == ["after-new", "before"]


async def test_a_secret_rotated_in_after_the_endpoint_was_read_is_accepted(
    tenant_a: Any, client: httpx.AsyncClient
) -> None:
    old = await hooks.endpoint(tenant_a, PURCHASE)
    assert (await deliver(client, tenant_a, old, "before")).status_code == 202

    rotated = await webhook_tables.rotate_secret(PURCHASE, tenant_id=tenant_a.id)

    assert (await deliver(client, tenant_a, rotated.secrets[0], "new")).status_code == 202
    assert (await deliver(client, tenant_a, old, "previous")).status_code == 202


async def test_a_repeated_delivery_signed_with_a_dropped_secret_is_refused_not_200(
    tenant_a: Any, client: httpx.AsyncClient
) -> None:
    old = await hooks.endpoint(tenant_a, PURCHASE)
    body = hooks.encode(order("once"))
    headers = hooks.sign_standard(old, body)
    url = hooks.url(tenant_a, PURCHASE)
    assert (await client.post(url, content=body, headers=headers)).status_code == 202

    await rotate_and_drop(tenant_a.id)
    again = await client.post(url, content=body, headers=headers)

    assert again.status_code == 401
    assert again.headers["content-type"] == "application/problem+json"


async def test_an_endpoint_disabled_after_it_was_read_is_404_and_writes_nothing(
    tenant_a: Any, client: httpx.AsyncClient
) -> None:
    secret = await hooks.endpoint(tenant_a, PURCHASE)
    assert (await deliver(client, tenant_a, secret, "before")).status_code == 202

    await webhook_tables.set_endpoint(PURCHASE, tenant_id=tenant_a.id, enabled=False)

    assert (await deliver(client, tenant_a, secret, "after")).status_code == 404
    assert await stored(tenant_a.id) == ["before"]


async def test_an_endpoint_held_for_one_tenant_serves_no_other(
    tenant_a: Any, tenant_b: Any, client: httpx.AsyncClient
) -> None:
    secret_a = await hooks.endpoint(tenant_a, PURCHASE)
    secret_b = await hooks.endpoint(tenant_b, PURCHASE)
    assert (await deliver(client, tenant_a, secret_a, "a-1")).status_code == 202
    assert (await deliver(client, tenant_b, secret_b, "b-1")).status_code == 202

    assert (await deliver(client, tenant_b, secret_a, "a-signed-to-b")).status_code == 401
    assert (await deliver(client, tenant_a, secret_b, "b-signed-to-a")).status_code == 401
    assert await stored(tenant_a.id) == ["a-1"]
    assert await stored(tenant_b.id) == ["b-1"]


async def test_the_inbox_refuses_an_endpoint_whose_secrets_are_not_the_current_ones(
    tenant_a: Any, tenant_b: Any, app_pool: None
) -> None:
    await hooks.endpoint(tenant_a, PURCHASE)
    endpoint_b = await webhook_tables.create_endpoint(PURCHASE, tenant_id=tenant_b.id)
    [endpoint_a] = await webhook_tables.list_endpoints(tenant_id=tenant_a.id)
    forged = dataclasses.replace(endpoint_a, tenant_id=tenant_b.id)

    def accept(endpoint: webhook_domain.Endpoint) -> Awaitable[webhook_domain.Receipt | None]:
        return webhook_tables.accept_signed(
            endpoint, delivery_id="d-1", payload='{"version": 1}', correlation_id=""
        )

    assert await accept(forged) is None
    assert await accept(dataclasses.replace(endpoint_b, secrets=("whsec_c3RhbGU=",))) is None
    first = await accept(endpoint_b)
    again = await accept(endpoint_b)

    assert first is not None and first.created
    assert again == dataclasses.replace(first, created=False)
    assert await webhook_tables.list_deliveries(tenant_id=tenant_a.id) == []
    assert [d.id for d in await webhook_tables.list_deliveries(tenant_id=tenant_b.id)] == [first.id]


@dataclasses.dataclass
class Server:
    url: str

    async def deliver(self, tenant: Any, secret: str, ref: str) -> int:
        async with httpx.AsyncClient(base_url=self.url, timeout=10) as http:
            return (await deliver(http, tenant, secret, ref)).status_code


@pytest.fixture
async def two_servers(server_env: dict[str, str], tmp_path: Path) -> AsyncIterator[list[Server]]:
    """Two `tenantgraph serve` processes on the same database."""
    processes = []

    async def start() -> Server:
        port = free_port()
        log = tmp_path / f"serve-{port}.log"
        process = spawn(["serve"], {**server_env, "PORT": str(port)}, log)
        processes.append(process)
        url = f"http://127.0.0.1:{port}"

        async def healthy() -> bool:
            async with httpx.AsyncClient(base_url=url, timeout=1) as http:
                return (await http.get("/healthz")).status_code == 200

        await wait_until(healthy, process, log)
        return Server(url)

    try:
        yield list(await asyncio.gather(start(), start()))
    finally:
        for process in processes:
            await stop(process)


async def test_a_rotation_and_a_disable_apply_at_once_in_every_process(
    two_servers: list[Server], tenant_a: Any
) -> None:
    old = await hooks.endpoint(tenant_a, PURCHASE)
    for n, server in enumerate(two_servers):
        assert await server.deliver(tenant_a, old, f"warm-{n}") == 202

    new = await rotate_and_drop(tenant_a.id)

    for n, server in enumerate(two_servers):
        assert await server.deliver(tenant_a, old, f"old-{n}") == 401
        assert await server.deliver(tenant_a, new, f"new-{n}") == 202

    await webhook_tables.set_endpoint(PURCHASE, tenant_id=tenant_a.id, enabled=False)

    for n, server in enumerate(two_servers):
        assert await server.deliver(tenant_a, new, f"disabled-{n}") == 404
    assert await stored(tenant_a.id) == ["new-0", "new-1", "warm-0", "warm-1"]


async def test_when_every_read_of_the_endpoint_is_already_out_of_date_the_answer_is_409(
    tenant_a: Any, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rotation committed between each read and its store (a race): retryable, nothing written."""
    old = await hooks.endpoint(tenant_a, PURCHASE)
    [before] = await webhook_tables.list_endpoints(tenant_id=tenant_a.id)
    await webhook_tables.rotate_secret(PURCHASE, tenant_id=tenant_a.id)

    async def read_before_the_rotation(tenant_ref: str, flow: str) -> webhook_domain.Endpoint:
        return before

    monkeypatch.setattr(webhook_tables, "find_endpoint", read_before_the_rotation)
    response = await deliver(client, tenant_a, old, "raced")

    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert await stored(tenant_a.id) == []
