"""/metrics in the app: not public by default, the token, the separate listener, the tenant
label switched off or capped, and one tenant's numbers never counted under another."""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from domain.config import Secret, Settings
from server.embedded import free_port
from telemetry import exposition, metrics
from tests import webhooks
from tests.conftest import TenantHandle
from tests.scrape import Scrape, bearer, delta

TOKEN = "metrics-token-0123456789"
PRODUCTS = "query Products { products(first: 2) { edges { node { title } } } }"


@pytest.fixture
def restore_labels() -> Iterator[None]:
    """The tenant label policy is process-wide: put back what other tests expect."""
    yield
    metrics.tenant_label.enabled, metrics.tenant_label.cap = True, 100
    metrics.tenant_label.seen.clear()


def with_metrics(settings: Settings, **changes: Any) -> Settings:
    return dataclasses.replace(settings, metrics_token=Secret(TOKEN), **changes)


async def scrape(client: httpx.AsyncClient) -> Scrape:
    response = await client.get("/metrics", headers=bearer(TOKEN))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return Scrape(response.text)


async def test_without_a_token_or_bind_metrics_answer_404_saying_how_to_enable_them(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/metrics", headers=bearer(TOKEN))

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert "METRICS_TOKEN" in response.json()["detail"] and "METRICS_BIND" in response.json()["detail"]


async def test_metrics_need_the_right_bearer_token(client_for: Any, settings: Settings) -> None:
    client = client_for(with_metrics(settings))

    missing = await client.get("/metrics")
    wrong = await client.get("/metrics", headers=bearer("not-the-token-at-all"))
    right = await client.get("/metrics", headers=bearer(TOKEN))

    assert (missing.status_code, wrong.status_code, right.status_code) == (401, 403, 200)
    for refused in (missing, wrong):
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["status"] == refused.status_code and refused.json()["detail"]
    assert "http_request_duration_seconds" in right.text


def test_metrics_bind_serves_them_on_a_listener_of_its_own(settings: Settings) -> None:
    port = free_port()
    server = exposition.serve(dataclasses.replace(
        settings, metrics_bind=("127.0.0.1", port), metrics_token=Secret(TOKEN)
    ))
    assert server is not None
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        refused = httpx.get(url)
        served = httpx.get(url, headers=bearer(TOKEN))
    finally:
        server.shutdown()
        server.server_close()

    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"
    assert served.status_code == 200 and "graphql_operations_total" in served.text


async def test_requests_are_labelled_by_route_template_and_tenant_slug(
    client_for: Any, settings: Settings, tenant_a: TenantHandle,
) -> None:
    client = client_for(with_metrics(settings))
    tenant_a.client = client
    before = await scrape(client)

    assert (await tenant_a.post(PRODUCTS)).status_code == 200
    secret = await webhooks.endpoint(tenant_a, "inventory-flow")
    answered = await webhooks.deliver(client, tenant_a, "inventory-flow", secret, webhooks.stock("set", []))
    after = await scrape(client)

    assert delta(before, after, "http_request_duration_seconds_count", route="/graphql", method="POST",
                 status_code="200", tenant=tenant_a.slug) == 1
    route = "/webhooks/{flow}"
    assert delta(before, after, "http_request_duration_seconds_count", route=route,
                 status_code=str(answered.status_code), tenant=tenant_a.slug) == 1
    assert "/webhooks/inventory-flow" not in after.label_values("route")
    outcome = metrics.OUTCOMES[answered.status_code]
    assert delta(before, after, "webhook_deliveries_received_total", flow="inventory-flow",
                 tenant=tenant_a.slug, outcome=outcome) == 1


async def test_a_delivery_failing_its_signature_is_counted_under_no_tenant(
    client_for: Any, settings: Settings, tenant_a: TenantHandle,
) -> None:
    """The tenant named in the URL is the caller's choice until the signature is verified."""
    client = client_for(with_metrics(settings))
    await webhooks.endpoint(tenant_a, "inventory-flow")
    forged = "whsec_" + base64.b64encode(b"not-the-endpoint-secret-at-all!!").decode()
    before = await scrape(client)

    answered = await webhooks.deliver(client, tenant_a, "inventory-flow", forged, webhooks.stock("set", []))
    after = await scrape(client)

    assert answered.status_code == 401
    received = "webhook_deliveries_received_total"
    assert delta(before, after, received, flow="inventory-flow", tenant="none", outcome="bad_signature") == 1
    assert delta(before, after, received, tenant=tenant_a.slug) == 0
    assert delta(before, after, "http_request_duration_seconds_count", route="/webhooks/{flow}",
                 tenant="none") == 1
    assert tenant_a.slug not in metrics.tenant_label.seen


async def test_one_tenants_numbers_are_never_counted_under_another(
    client_for: Any, settings: Settings, tenant_a: TenantHandle, tenant_b: TenantHandle,
) -> None:
    client = client_for(with_metrics(settings))
    tenant_a.client = tenant_b.client = client
    before = await scrape(client)

    for _ in range(3):
        await tenant_a.post(PRODUCTS)
    await tenant_b.post(PRODUCTS)
    after = await scrape(client)

    ops = "graphql_operations_total"
    assert delta(before, after, ops, operation="Products", tenant=tenant_a.slug) == 3
    assert delta(before, after, ops, operation="Products", tenant=tenant_b.slug) == 1
    for tenant, count in ((tenant_a, 3), (tenant_b, 1)):
        assert delta(before, after, "http_request_duration_seconds_count", tenant=tenant.slug) == count
    # Labels carry slugs, never keys or ids.
    shown = "".join(f"{k}{v}" for _, labels in after.samples for k, v in labels)
    for private in (tenant_a.key, tenant_b.key, str(tenant_a.id), str(tenant_b.id)):
        assert private not in shown


async def test_tenant_label_off_shows_all_tenants_as_one(
    client_for: Any, settings: Settings, tenant_a: TenantHandle, restore_labels: None,
) -> None:
    client = client_for(with_metrics(settings, metrics_tenant_label=False))
    tenant_a.client = client
    before = await scrape(client)

    await tenant_a.post(PRODUCTS)
    after = await scrape(client)

    assert delta(before, after, "graphql_operations_total", operation="Products", tenant="all") == 1
    assert tenant_a.slug not in after.label_values("tenant")


async def test_tenant_label_cap_labels_later_tenants_other(
    client_for: Any, settings: Settings, make_tenant: Any, restore_labels: None,
) -> None:
    client = client_for(with_metrics(settings, metrics_tenant_label_cap=1))
    first, second = await make_tenant(), await make_tenant()
    first.client = second.client = client
    before = await scrape(client)

    await first.post(PRODUCTS)
    await second.post(PRODUCTS)
    await first.post(PRODUCTS)
    after = await scrape(client)

    ops = "graphql_operations_total"
    assert delta(before, after, ops, operation="Products", tenant=first.slug) == 2
    assert delta(before, after, ops, operation="Products", tenant="other") == 1
    assert second.slug not in after.label_values("tenant")


async def test_errors_are_counted_by_code(
    client_for: Any, settings: Settings, tenant_a: TenantHandle
) -> None:
    client = client_for(with_metrics(settings))
    tenant_a.client = client
    before = await scrape(client)

    await tenant_a.post("{ noSuchField }")
    await tenant_a.post(PRODUCTS, key="tg_not_a_key")
    after = await scrape(client)

    assert delta(before, after, "graphql_errors_total", code="GRAPHQL_VALIDATION_FAILED") == 1
    assert delta(before, after, "graphql_errors_total", code="UNAUTHENTICATED") == 1
