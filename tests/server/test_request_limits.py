"""Request limits where query cost does not apply, in the app: failed authentications per client
address and per API key prefix (refused before any lookup), webhook deliveries per endpoint
(spent only by verified ones), one tenant's limits never another's, and a Redis that cannot be
asked (open by default: no limit, no 500; closed: 503). The WebSocket and SSE limits are in
test_live_limits.py."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis

from domain import credentials
from domain.config import ConfigError, Secret, Settings
from server.api_key_cache import ApiKeyCache
from server.app import create_app
from server.buckets import PREFIX, Bucket, Buckets
from server.failed_auth import FailedAuthentications
from tables import webhooks as webhook_tables
from telemetry import metrics
from tests import webhooks as hooks
from tests.conftest import TenantHandle

TENANT = "query { tenant { slug } }"
PURCHASE = "purchase-flow"
PROBLEM = "application/problem+json"
NEVER = 0.001
"""A restore rate that gives nothing back within a test."""
OFFLINE = "redis://127.0.0.1:1/0"
TOKEN = "metrics-token-of-the-limits-tests"

Clients = Callable[..., httpx.AsyncClient]


@pytest.fixture
async def clients(app_pool: None) -> AsyncIterator[Clients]:
    """`make(settings, address)`: a client of a new app, its requests from `address` (or from
    an address of its own)."""
    made: list[httpx.AsyncClient] = []

    def make(settings: Settings, address: str | None = None) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=create_app(settings), client=(address or an_address(), 40000))
        client = httpx.AsyncClient(transport=transport, base_url="http://tenantgraph.test")
        made.append(client)
        return client

    yield make
    for client in made:
        await client.aclose()


def an_address() -> str:
    """A client address of one test alone (in the loopback range; nothing is sent to it)."""
    return f"127.{random.randint(1, 254)}.{random.randint(0, 255)}.{random.randint(1, 254)}"


def limited(settings: Settings, **limits: Any) -> Settings:
    """Settings whose request limits are generous, but for `limits`."""
    generous = {"failed_auth_address_burst": 10_000, "failed_auth_prefix_burst": 10_000,
                "webhook_burst": 10_000, "metrics_token": Secret(TOKEN)}
    return dataclasses.replace(settings, **{**generous, **limits})


def bad_key() -> str:
    """A well-formed API key that nobody holds (its prefix is new)."""
    return credentials.issue().token


async def post(client: httpx.AsyncClient, key: str) -> httpx.Response:
    return await client.post("/graphql", json={"query": TENANT}, headers={"authorization": f"Bearer {key}"})


async def deliver(client: httpx.AsyncClient, tenant: TenantHandle, secret: str) -> httpx.Response:
    """A new purchase delivery to the tenant's endpoint, signed with `secret`."""
    order = hooks.purchase(f"ext-{uuid.uuid4().hex}", [("S1", 1, 500)], 500)
    return await hooks.deliver(client, tenant, PURCHASE, secret, order)


def extensions(response: httpx.Response) -> dict[str, Any]:
    found: dict[str, Any] = response.json()["errors"][0]["extensions"]
    return found


def parse_items(header: str) -> list[tuple[str, dict[str, str]]]:
    """A structured-field list of `"name";key=value;...` items (RateLimit, RateLimit-Policy)."""
    items = []
    for item in header.split(","):
        name, *params = item.strip().split(";")
        items.append((name.strip('"'), dict(param.split("=", 1) for param in params)))
    return items


def assert_refused(response: httpx.Response, code: str, limit: str) -> None:
    """429 naming the code and the limit, when to retry, and where the bucket stands."""
    assert response.status_code == 429, response.text
    retry_after = int(response.headers["retry-after"])
    assert retry_after >= 1
    policy, = parse_items(response.headers["ratelimit-policy"])
    level, = parse_items(response.headers["ratelimit"])
    assert policy[0] == level[0] == limit
    assert float(policy[1]["q"]) >= 1 and int(policy[1]["w"]) >= 1
    assert level[1]["r"] == "0" and int(level[1]["t"]) == retry_after
    if response.headers["content-type"] == PROBLEM:
        body = response.json()
        assert (body["code"], body["limit"], body["retryAfterSeconds"]) == (code, limit, retry_after)
    else:
        assert extensions(response) == {"code": code, "limit": limit, "retryAfter": retry_after}


@contextlib.asynccontextmanager
async def locked(owner_dsn: str, table: str) -> AsyncIterator[None]:
    """`table` locked against every read: a request that looks anything up in it waits."""
    connection = await asyncpg.connect(owner_dsn)
    try:
        async with connection.transaction():
            await connection.execute(f"lock table {table} in access exclusive mode")
            yield
    finally:
        await connection.close()


async def script_calls(redis: aioredis.Redis) -> int:
    """Scripts Redis has run so far (every bucket take is one)."""
    stats = await redis.info("commandstats")
    return sum(int(stats.get(f"cmdstat_{name}", {}).get("calls", 0)) for name in ("eval", "evalsha"))


async def scrape(client: httpx.AsyncClient) -> str:
    response = await client.get("/metrics", headers={"authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.text
    return response.text


async def test_after_n_failures_an_address_is_refused_before_any_lookup_and_other_addresses_are_not(
    clients: Clients, settings: Settings, owner_dsn: str
) -> None:
    limits = limited(settings, failed_auth_address_burst=3, failed_auth_address_rate=NEVER)
    client = clients(limits)

    failures = [(await post(client, bad_key())).status_code for _ in range(3)]
    async with locked(owner_dsn, "api_keys"):
        refused = await asyncio.wait_for(post(client, bad_key()), 5)
        # The lock does hold lookups back: the same request from elsewhere waits for it.
        elsewhere = asyncio.create_task(post(clients(limits), bad_key()))
        await asyncio.sleep(1)
        assert not elsewhere.done()

    assert failures == [401, 401, 401]
    assert_refused(refused, "TOO_MANY_FAILED_AUTHENTICATIONS", "failed_auth_address")
    assert (await elsewhere).status_code == 401


async def test_after_n_failures_a_key_prefix_is_refused_from_any_address_before_any_lookup(
    clients: Clients, settings: Settings, tenant_a: TenantHandle, tenant_b: TenantHandle,
    owner_dsn: str,
) -> None:
    limits = limited(settings, failed_auth_prefix_burst=2, failed_auth_prefix_rate=NEVER)
    guessed = f"tg_{tenant_a.key.split('_')[1]}_{'x' * 32}"

    failures = [(await post(clients(limits), guessed)).status_code for _ in range(2)]
    async with locked(owner_dsn, "api_keys"):
        refused = await asyncio.wait_for(post(clients(limits), guessed), 5)

    assert failures == [401, 401]
    assert_refused(refused, "TOO_MANY_FAILED_AUTHENTICATIONS", "failed_auth_key_prefix")
    assert (await post(clients(limits), bad_key())).status_code == 401
    assert (await post(clients(limits), tenant_b.key)).status_code == 200, "another tenant's key"


async def test_a_bad_jwt_counts_as_a_failure_of_its_address(
    clients: Clients, settings: Settings
) -> None:
    client = clients(limited(settings, failed_auth_address_burst=2, failed_auth_address_rate=NEVER))

    answers = [await post(client, "not.a.token") for _ in range(3)]

    assert [answer.status_code for answer in answers] == [401, 401, 429]
    assert_refused(answers[2], "TOO_MANY_FAILED_AUTHENTICATIONS", "failed_auth_address")


async def test_a_valid_key_served_from_the_cache_costs_no_call_to_redis(
    settings: Settings, app_pool: None, tenant_a: TenantHandle, redis_client: aioredis.Redis
) -> None:
    cache = ApiKeyCache(settings, failures=FailedAuthentications(Buckets(redis_client), settings))
    await cache.start()
    for _ in range(200):
        if cache.listening:
            break
        await asyncio.sleep(0.05)
    bearer, address = f"Bearer {tenant_a.key}", an_address()
    try:
        await Buckets(redis_client).take([Bucket("warm-up", 1, 1)], 0)  # the script is loaded
        before = await script_calls(redis_client)
        await cache.authenticate(bearer, None, address)
        missed = await script_calls(redis_client)
        for _ in range(20):
            await cache.authenticate(bearer, None, address)
        served = await script_calls(redis_client)
    finally:
        await cache.stop()

    assert missed - before == 1, "a miss checks the limits once, before its lookup"
    assert served == missed, "cached answers ask Redis nothing"


async def test_deliveries_past_an_endpoints_burst_get_429_problem_with_retry_after_and_store_nothing(
    clients: Clients, settings: Settings, tenant_a: TenantHandle, tenant_b: TenantHandle
) -> None:
    client = clients(limited(settings, webhook_burst=3, webhook_rate=NEVER))
    secret_a, secret_b = await hooks.endpoint(tenant_a, PURCHASE), await hooks.endpoint(tenant_b, PURCHASE)
    label = metrics.tenant_label(tenant_a.slug)
    counted = metrics.RATE_LIMITED.labels("webhook_endpoint", label)._value.get()

    answers = [await deliver(client, tenant_a, secret_a) for _ in range(4)]

    assert [answer.status_code for answer in answers] == [202, 202, 202, 429]
    assert_refused(answers[3], "RATE_LIMITED", "webhook_endpoint")
    assert answers[3].headers["ratelimit-policy"].startswith('"webhook_endpoint";q=3;')
    assert len(await webhook_tables.list_deliveries(tenant_id=tenant_a.id, limit=10)) == 3
    assert (await deliver(client, tenant_b, secret_b)).status_code == 202, "another tenant's endpoint"
    assert metrics.RATE_LIMITED.labels("webhook_endpoint", label)._value.get() == counted + 1
    exposed = await scrape(client)
    assert f'rate_limited_total{{limit="webhook_endpoint",tenant="{label}"}}' in exposed
    assert 'request_limit{limit="webhook_endpoint",parameter="burst"} 3.0' in exposed


async def test_deliveries_draw_on_a_lease_so_redis_is_asked_once_per_lease(
    clients: Clients, settings: Settings, tenant_a: TenantHandle, redis_client: aioredis.Redis
) -> None:
    client = clients(limited(settings, webhook_burst=200, webhook_rate=NEVER, limits_lease_fraction=0.05))
    secret = await hooks.endpoint(tenant_a, PURCHASE)
    [endpoint] = await webhook_tables.list_endpoints(tenant_id=tenant_a.id)
    key = f"{PREFIX}webhook_endpoint:{tenant_a.id}:{endpoint.id}"

    answers = [await deliver(client, tenant_a, secret) for _ in range(5)]

    assert [answer.status_code for answer in answers] == [202] * 5
    assert float(await redis_client.hget(key, "level") or "nan") == pytest.approx(190, abs=0.1), (
        "one lease of 10 (5% of 200) served all five"
    )


async def test_deliveries_that_fail_verification_do_not_spend_the_endpoints_budget(
    clients: Clients, settings: Settings, tenant_a: TenantHandle, tenant_b: TenantHandle
) -> None:
    client = clients(limited(settings, webhook_burst=2, webhook_rate=NEVER))
    secret = await hooks.endpoint(tenant_a, PURCHASE)
    someone_elses = await hooks.endpoint(tenant_b, PURCHASE)

    forged = [(await deliver(client, tenant_a, someone_elses)).status_code for _ in range(5)]
    signed = [(await deliver(client, tenant_a, secret)).status_code for _ in range(3)]

    assert forged == [401] * 5
    assert signed == [202, 202, 429]


async def test_bad_signatures_count_as_failed_authentications_of_the_address(
    clients: Clients, settings: Settings, tenant_a: TenantHandle, tenant_b: TenantHandle,
    owner_dsn: str,
) -> None:
    limits = limited(settings, failed_auth_address_burst=3, failed_auth_address_rate=NEVER)
    client = clients(limits)
    secret = await hooks.endpoint(tenant_a, PURCHASE)
    wrong = await hooks.endpoint(tenant_b, PURCHASE)

    forged = [(await deliver(client, tenant_a, wrong)).status_code for _ in range(3)]
    async with locked(owner_dsn, "webhook_endpoints"):
        refused = await asyncio.wait_for(deliver(client, tenant_a, wrong), 5)
        nowhere = await asyncio.wait_for(deliver(client, tenant_b, wrong), 5)

    assert forged == [401, 401, 401]
    assert_refused(refused, "TOO_MANY_FAILED_AUTHENTICATIONS", "failed_auth_address")
    assert_refused(nowhere, "TOO_MANY_FAILED_AUTHENTICATIONS", "failed_auth_address")
    assert (await deliver(clients(limits), tenant_a, secret)).status_code == 202, "another address"


async def test_deliveries_to_endpoints_that_do_not_exist_count_against_the_address(
    clients: Clients, settings: Settings, tenant_a: TenantHandle
) -> None:
    client = clients(limited(settings, failed_auth_address_burst=2, failed_auth_address_rate=NEVER))
    body = hooks.encode(hooks.purchase("ext-1", [("S1", 1, 500)], 500))
    headers = hooks.sign_standard("whsec_" + "A" * 32, body)

    answers = [await client.post(hooks.url(f"no-such-{uuid.uuid4().hex[:8]}", PURCHASE), content=body,
                                 headers=headers) for _ in range(3)]

    assert [answer.status_code for answer in answers] == [404, 404, 429]
    assert answers[2].headers["content-type"] == PROBLEM


async def test_when_redis_cannot_be_asked_the_limits_let_everything_through_and_nothing_is_500(
    clients: Clients, settings: Settings, tenant_a: TenantHandle
) -> None:
    offline = limited(settings, redis_url=OFFLINE, failed_auth_address_burst=1,
                      failed_auth_prefix_burst=1, webhook_burst=1)
    client = clients(offline)
    secret = await hooks.endpoint(tenant_a, PURCHASE)
    errors = metrics.REDIS_ERRORS.labels("limits")
    before = errors._value.get()

    failures = [(await post(client, bad_key())).status_code for _ in range(3)]
    served = [(await post(client, tenant_a.key)).status_code for _ in range(2)]
    deliveries = [(await deliver(client, tenant_a, secret)).status_code for _ in range(3)]

    assert failures == [401, 401, 401]
    assert served == [200, 200]
    assert deliveries == [202, 202, 202]
    assert errors._value.get() > before


async def test_when_the_limits_fail_closed_an_unreachable_redis_is_a_503_that_says_so(
    clients: Clients, settings: Settings, tenant_a: TenantHandle
) -> None:
    client = clients(limited(settings, redis_url=OFFLINE, limits_on_redis_error="closed"))
    secret = await hooks.endpoint(tenant_a, PURCHASE)

    refused = await post(client, bad_key())
    delivery = await deliver(client, tenant_a, secret)

    assert refused.status_code == 503, refused.text
    assert extensions(refused)["code"] == "SERVICE_UNAVAILABLE"
    assert "Redis" in refused.json()["errors"][0]["message"]
    assert delivery.status_code == 503, delivery.text
    assert delivery.headers["content-type"] == PROBLEM


def test_every_limit_is_a_setting_read_from_the_environment_and_validated() -> None:
    read = Settings.from_env({"WEBHOOK_BURST": "5", "WEBHOOK_RATE": "0.5", "WS_INIT_RATE": "2",
                              "LIVE_SUBSCRIPTIONS_PER_TENANT": "7"})

    assert (read.webhook_burst, read.webhook_rate, read.ws_init_rate) == (5, 0.5, 2.0)
    assert read.live_subscriptions_per_tenant == 7
    for wrong in ({"WEBHOOK_RATE": "0"}, {"FAILED_AUTH_PREFIX_BURST": "0"}, {"SUBSCRIBE_BURST": "x"}):
        with pytest.raises(ConfigError, match=next(iter(wrong))):
            Settings.from_env(wrong)
