"""Webhook administration over /graphql: endpoints and their secrets, the delivery log, replay;
admin scope only, and each tenant sees and touches nothing but its own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import httpx
import pytest
from saq import Queue

from domain.config import Settings
from tables import webhooks as webhook_tables
from tests import webhooks as hooks
from tests.documents import codes, error_codes, error_fields, payload
from workers.settings import queue as make_queue

ENDPOINT = "endpoint { flow urlPath secrets verifyToken enabled } errors { field message code }"

CREATE = f"""
mutation Create($flow: WebhookFlow!, $verifyToken: String) {{
  createWebhookEndpoint(flow: $flow, verifyToken: $verifyToken) {{ {ENDPOINT} }}
}}
"""
ROTATE = f"""
mutation Rotate($flow: WebhookFlow!) {{ rotateWebhookSecret(flow: $flow) {{ {ENDPOINT} }} }}
"""
DROP = f"""
mutation Drop($flow: WebhookFlow!) {{ dropPreviousWebhookSecret(flow: $flow) {{ {ENDPOINT} }} }}
"""
UPDATE = f"""
mutation Update($flow: WebhookFlow!, $enabled: Boolean, $verifyToken: String) {{
  updateWebhookEndpoint(flow: $flow, enabled: $enabled, verifyToken: $verifyToken) {{ {ENDPOINT} }}
}}
"""
ENDPOINTS = "query Endpoints { webhookEndpoints { flow urlPath secrets verifyToken enabled } }"
DELIVERIES = """
query Deliveries($status: DeliveryStatus, $flow: WebhookFlow, $since: DateTime, $until: DateTime,
                 $first: Int, $after: String) {
  webhookDeliveries(status: $status, flow: $flow, since: $since, until: $until, first: $first,
                    after: $after) {
    edges { cursor node { id flow deliveryId status attempts lastError correlationId receivedAt
                          processedAt payload } }
    pageInfo { hasNextPage hasPreviousPage endCursor }
  }
}
"""
REPLAY = """
mutation Replay($input: ReplayInput!) {
  replayWebhookDeliveries(input: $input) { replayed errors { field message code } }
}
"""

PURCHASE = "purchase-flow"
WOKEN = f"apply_deliveries:{PURCHASE}"
ORDER = hooks.purchase("ext-1", [("S1", 1, 500)], 500)
COUNT = hooks.stock("set", [("S1", "main", 4)])


@pytest.fixture
async def jobs(settings: Settings) -> AsyncIterator[Queue]:
    found = make_queue(settings)
    yield found
    await found.disconnect()


async def create(tenant: Any, flow: str = "PURCHASE", **variables: Any) -> dict[str, Any]:
    body = await tenant.gql(CREATE, {"flow": flow, **variables})
    endpoint: dict[str, Any] = payload(body, "createWebhookEndpoint")["endpoint"]
    return endpoint


async def change(tenant: Any, document: str, mutation: str, **variables: Any) -> dict[str, Any]:
    body = await tenant.gql(document, {"flow": "PURCHASE", **variables})
    endpoint: dict[str, Any] = payload(body, mutation)["endpoint"]
    return endpoint


async def post(tenant: Any, secret: str, document: Any = ORDER, flow: str = PURCHASE) -> httpx.Response:
    response: httpx.Response = await hooks.deliver(tenant.client, tenant, flow, secret, document)
    return response


async def endpoints(tenant: Any) -> list[dict[str, Any]]:
    body = await tenant.gql(ENDPOINTS)
    assert "errors" not in body, body
    found: list[dict[str, Any]] = body["data"]["webhookEndpoints"]
    return found


async def deliveries(tenant: Any, **variables: Any) -> list[dict[str, Any]]:
    body = await tenant.gql(DELIVERIES, {"first": 50, **variables})
    assert "errors" not in body, body
    return [edge["node"] for edge in body["data"]["webhookDeliveries"]["edges"]]


async def replay(tenant: Any, **input_: Any) -> dict[str, Any]:
    body = await tenant.gql(REPLAY, {"input": input_})
    assert "errors" not in body, body
    found: dict[str, Any] = body["data"]["replayWebhookDeliveries"]
    return found


async def dead(tenant: Any, secret: str, flow: str = PURCHASE, document: Any = ORDER) -> str:
    """A delivery accepted through the route, then dead-lettered as a worker would."""
    response = await post(tenant, secret, document, flow)
    assert response.status_code == 202, response.text
    delivery_id = UUID(response.json()["id"])
    await webhook_tables.mark_failed(delivery_id, "NOT_FOUND: unknown sku", tenant_id=tenant.id, dead=True)
    return str(delivery_id)


async def stored_dead(tenant: Any, delivery: str) -> str:
    """A dead delivery stored without a job in Redis (as if Redis had lost it)."""
    made = await hooks.store(
        tenant_id=tenant.id, flow=PURCHASE, delivery_id=delivery, payload=ORDER, correlation_id="c"
    )
    await webhook_tables.mark_failed(made.id, "boom", tenant_id=tenant.id, dead=True)
    return str(made.id)


async def test_a_new_endpoint_has_a_whsec_secret_and_a_tenant_specific_url(tenant_a: Any) -> None:
    endpoint = await create(tenant_a, verifyToken="meta-token")

    assert endpoint == {
        "flow": PURCHASE,
        "urlPath": f"/webhooks/purchase-flow?tenant={tenant_a.slug}",
        "secrets": [endpoint["secrets"][0]],
        "verifyToken": "meta-token",
        "enabled": True,
    }
    assert endpoint["secrets"][0].startswith("whsec_")


async def test_a_delivery_signed_with_the_new_secret_is_accepted_at_its_url(tenant_a: Any) -> None:
    endpoint = await create(tenant_a)
    body = hooks.encode(ORDER)

    response = await tenant_a.client.post(
        endpoint["urlPath"], content=body, headers=hooks.sign_standard(endpoint["secrets"][0], body)
    )

    assert response.status_code == 202, response.text


async def test_a_second_endpoint_for_the_same_flow_is_a_conflict_and_changes_nothing(
    tenant_a: Any,
) -> None:
    first = await create(tenant_a)

    body = await tenant_a.gql(CREATE, {"flow": "PURCHASE"})

    assert error_codes(body, "createWebhookEndpoint") == ["CONFLICT"]
    assert await endpoints(tenant_a) == [first]


async def test_endpoints_are_listed_by_flow(tenant_a: Any) -> None:
    await create(tenant_a, "SALES")
    await create(tenant_a, "INVENTORY")
    await create(tenant_a, "PURCHASE")

    assert [e["flow"] for e in await endpoints(tenant_a)] == [
        "inventory-flow", "purchase-flow", "sales-flow"
    ]


async def test_during_a_rotation_both_the_new_and_the_previous_secret_verify(tenant_a: Any) -> None:
    old = (await create(tenant_a))["secrets"][0]

    rotated = await change(tenant_a, ROTATE, "rotateWebhookSecret")

    new, previous = rotated["secrets"]
    assert previous == old and new != old and new.startswith("whsec_")
    assert (await post(tenant_a, new)).status_code == 202
    assert (await post(tenant_a, old)).status_code == 202


async def test_after_dropping_the_previous_secret_only_the_new_one_verifies(tenant_a: Any) -> None:
    old = (await create(tenant_a))["secrets"][0]
    new = (await change(tenant_a, ROTATE, "rotateWebhookSecret"))["secrets"][0]

    dropped = await change(tenant_a, DROP, "dropPreviousWebhookSecret")

    assert dropped["secrets"] == [new]
    assert (await post(tenant_a, old)).status_code == 401
    assert (await post(tenant_a, new)).status_code == 202


async def test_a_second_rotation_retires_the_oldest_secret(tenant_a: Any) -> None:
    oldest = (await create(tenant_a))["secrets"][0]
    middle = (await change(tenant_a, ROTATE, "rotateWebhookSecret"))["secrets"][0]

    newest, previous = (await change(tenant_a, ROTATE, "rotateWebhookSecret"))["secrets"]

    assert previous == middle
    assert (await post(tenant_a, oldest)).status_code == 401
    assert (await post(tenant_a, middle)).status_code == 202
    assert (await post(tenant_a, newest)).status_code == 202


@pytest.mark.parametrize(
    ("document", "mutation"),
    [(ROTATE, "rotateWebhookSecret"), (DROP, "dropPreviousWebhookSecret"),
     (UPDATE, "updateWebhookEndpoint")],
    ids=["rotate", "drop", "update"],
)
async def test_changing_an_endpoint_that_does_not_exist_is_not_found(
    document: str, mutation: str, tenant_a: Any
) -> None:
    body = await tenant_a.gql(document, {"flow": "SALES", "enabled": False})

    assert error_codes(body, mutation) == ["NOT_FOUND"]


async def test_a_disabled_endpoint_refuses_deliveries_until_enabled_again(tenant_a: Any) -> None:
    secret = (await create(tenant_a))["secrets"][0]

    disabled = await change(tenant_a, UPDATE, "updateWebhookEndpoint", enabled=False)
    refused = await post(tenant_a, secret)
    enabled = await change(tenant_a, UPDATE, "updateWebhookEndpoint", enabled=True)
    accepted = await post(tenant_a, secret)

    assert (disabled["enabled"], refused.status_code) == (False, 404)
    assert (enabled["enabled"], accepted.status_code) == (True, 202)


async def test_the_verify_token_set_by_an_update_answers_the_meta_handshake(tenant_a: Any) -> None:
    await create(tenant_a)
    await change(tenant_a, UPDATE, "updateWebhookEndpoint", verifyToken="tok-1")

    response = await tenant_a.client.get(
        hooks.url(tenant_a, PURCHASE) + "&hub.mode=subscribe&hub.verify_token=tok-1&hub.challenge=42"
    )

    assert (response.status_code, response.text) == (200, "42")


async def test_an_empty_verify_token_clears_it_and_the_handshake_is_refused(tenant_a: Any) -> None:
    await create(tenant_a, verifyToken="tok-1")

    cleared = await change(tenant_a, UPDATE, "updateWebhookEndpoint", verifyToken="")
    response = await tenant_a.client.get(
        hooks.url(tenant_a, PURCHASE) + "&hub.mode=subscribe&hub.verify_token=&hub.challenge=42"
    )

    assert cleared["verifyToken"] is None
    assert response.status_code == 403


async def test_an_update_without_changes_keeps_the_endpoint_as_it_was(tenant_a: Any) -> None:
    made = await create(tenant_a, verifyToken="tok-1")

    assert await change(tenant_a, UPDATE, "updateWebhookEndpoint") == made


async def test_deliveries_are_listed_newest_first_with_what_was_received(tenant_a: Any) -> None:
    secret = (await create(tenant_a))["secrets"][0]
    first = await post(tenant_a, secret, hooks.purchase("ext-1", [("S1", 1, 500)], 500))
    second = await post(tenant_a, secret, hooks.purchase("ext-2", [("S1", 1, 500)], 500))

    found = await deliveries(tenant_a)

    assert [d["id"] for d in found] == [second.json()["id"], first.json()["id"]]
    assert found[1]["payload"] == hooks.purchase("ext-1", [("S1", 1, 500)], 500)
    assert (found[1]["flow"], found[1]["status"], found[1]["attempts"]) == (PURCHASE, "QUEUED", 0)
    assert found[1]["deliveryId"].startswith("msg_")
    assert (found[1]["lastError"], found[1]["processedAt"]) == (None, None)


async def test_deliveries_filter_by_status(tenant_a: Any) -> None:
    secret = (await create(tenant_a))["secrets"][0]
    queued = (await post(tenant_a, secret)).json()["id"]
    died = await dead(tenant_a, secret, document=hooks.purchase("ext-2", [("S1", 1, 500)], 500))
    processed = (await post(tenant_a, secret, hooks.purchase("ext-3", [("S1", 1, 1)], 1))).json()["id"]
    await hooks.mark_processed(UUID(processed), tenant_id=tenant_a.id)

    by_status = {s: [d["id"] for d in await deliveries(tenant_a, status=s)]
                 for s in ("QUEUED", "DEAD", "PROCESSED", "FAILED")}

    assert by_status == {"QUEUED": [queued], "DEAD": [died], "PROCESSED": [processed], "FAILED": []}


async def test_a_dead_delivery_shows_its_last_error(tenant_a: Any) -> None:
    secret = (await create(tenant_a))["secrets"][0]
    await dead(tenant_a, secret)

    [found] = await deliveries(tenant_a, status="DEAD")

    assert (found["lastError"], found["attempts"]) == ("NOT_FOUND: unknown sku", 1)


async def test_deliveries_filter_by_flow(tenant_a: Any) -> None:
    purchases = (await create(tenant_a))["secrets"][0]
    counts = (await create(tenant_a, "INVENTORY"))["secrets"][0]
    await post(tenant_a, purchases)
    counted = (await post(tenant_a, counts, COUNT, "inventory-flow")).json()["id"]

    assert [d["id"] for d in await deliveries(tenant_a, flow="INVENTORY")] == [counted]


async def test_deliveries_filter_by_time_since_inclusive_until_exclusive(tenant_a: Any) -> None:
    secret = (await create(tenant_a))["secrets"][0]
    for n in range(3):
        await post(tenant_a, secret, hooks.purchase(f"ext-{n}", [("S1", 1, 500)], 500))
    third, second, first = await deliveries(tenant_a)

    since = await deliveries(tenant_a, since=second["receivedAt"])
    until = await deliveries(tenant_a, until=second["receivedAt"])
    between = await deliveries(tenant_a, since=second["receivedAt"], until=third["receivedAt"])

    assert [d["id"] for d in since] == [third["id"], second["id"]]
    assert [d["id"] for d in until] == [first["id"]]
    assert [d["id"] for d in between] == [second["id"]]


async def test_deliveries_page_through_every_one_once(tenant_a: Any) -> None:
    secret = (await create(tenant_a))["secrets"][0]
    for n in range(5):
        await post(tenant_a, secret, hooks.purchase(f"ext-{n}", [("S1", 1, 500)], 500))
    everything = [d["id"] for d in await deliveries(tenant_a)]

    seen: list[str] = []
    after = None
    pages = []
    while True:
        body = await tenant_a.gql(DELIVERIES, {"first": 2, "after": after})
        page = body["data"]["webhookDeliveries"]
        seen += [edge["node"]["id"] for edge in page["edges"]]
        pages.append((len(page["edges"]), page["pageInfo"]["hasNextPage"]))
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]

    assert seen == everything and len(everything) == 5
    assert pages == [(2, True), (2, True), (1, False)]


async def test_a_cursor_that_is_not_one_is_bad_user_input(tenant_a: Any) -> None:
    body = await tenant_a.gql(DELIVERIES, {"after": "not-a-cursor"})

    assert codes(body) == ["BAD_USER_INPUT"]


async def test_replay_without_ids_flow_or_time_range_is_a_typed_error(tenant_a: Any) -> None:
    body = await tenant_a.gql(REPLAY, {"input": {}})

    assert error_codes(body, "replayWebhookDeliveries") == ["BAD_USER_INPUT"]
    assert list(error_fields(body, "replayWebhookDeliveries")) == ["input"]


async def test_replay_of_an_id_that_is_not_one_names_the_input_path(tenant_a: Any) -> None:
    body = await tenant_a.gql(REPLAY, {"input": {"ids": ["nope"]}})

    assert error_fields(body, "replayWebhookDeliveries") == {"input.ids": "invalid id"}


async def test_replay_queues_a_dead_delivery_again_and_wakes_its_flow(
    tenant_a: Any, jobs: Queue
) -> None:
    delivery = await stored_dead(tenant_a, "msg_lost")

    replayed = await replay(tenant_a, ids=[delivery])

    assert replayed == {"replayed": [delivery], "errors": []}
    [found] = await deliveries(tenant_a)
    assert (found["status"], found["attempts"]) == ("QUEUED", 0)
    assert await hooks.tenant_jobs(jobs, tenant_a) == [WOKEN]


async def test_replay_by_flow_takes_only_dead_deliveries_of_that_flow(tenant_a: Any) -> None:
    purchases = (await create(tenant_a))["secrets"][0]
    counts = (await create(tenant_a, "INVENTORY"))["secrets"][0]
    died = await dead(tenant_a, purchases)
    await post(tenant_a, purchases, hooks.purchase("ext-2", [("S1", 1, 500)], 500))
    await dead(tenant_a, counts, "inventory-flow", COUNT)

    replayed = await replay(tenant_a, flow="PURCHASE")

    assert replayed["replayed"] == [died]
    assert len(await deliveries(tenant_a, status="DEAD")) == 1


async def test_replay_by_time_range_takes_only_deliveries_received_in_it(tenant_a: Any) -> None:
    secret = (await create(tenant_a))["secrets"][0]
    early = await dead(tenant_a, secret)
    late = await dead(tenant_a, secret, document=hooks.purchase("ext-2", [("S1", 1, 500)], 500))
    late_at = (await deliveries(tenant_a))[0]["receivedAt"]

    replayed = await replay(tenant_a, since=late_at)

    assert replayed["replayed"] == [late]
    assert [d["id"] for d in await deliveries(tenant_a, status="DEAD")] == [early]


async def test_replay_leaves_processed_and_queued_deliveries_alone(tenant_a: Any) -> None:
    secret = (await create(tenant_a))["secrets"][0]
    done = (await post(tenant_a, secret)).json()["id"]
    await hooks.mark_processed(UUID(done), tenant_id=tenant_a.id)
    queued = (await post(tenant_a, secret, hooks.purchase("ext-2", [("S1", 1, 500)], 500))).json()["id"]

    replayed = await replay(tenant_a, ids=[done, queued])

    assert replayed == {"replayed": [], "errors": []}
    statuses = {d["id"]: d["status"] for d in await deliveries(tenant_a)}
    assert statuses == {done: "PROCESSED", queued: "QUEUED"}


ADMIN_ONLY = {
    "webhookEndpoints": (ENDPOINTS, {}),
    "webhookDeliveries": (DELIVERIES, {}),
    "createWebhookEndpoint": (CREATE, {"flow": "PURCHASE"}),
    "rotateWebhookSecret": (ROTATE, {"flow": "PURCHASE"}),
    "dropPreviousWebhookSecret": (DROP, {"flow": "PURCHASE"}),
    "updateWebhookEndpoint": (UPDATE, {"flow": "PURCHASE", "enabled": False}),
    "replayWebhookDeliveries": (REPLAY, {"input": {"flow": "PURCHASE"}}),
}


@pytest.mark.parametrize("field", ADMIN_ONLY)
async def test_without_the_admin_scope_every_webhook_field_is_forbidden_and_changes_nothing(
    field: str, tenant_a: Any
) -> None:
    made = await create(tenant_a)
    secret = made["secrets"][0]
    await dead(tenant_a, secret)
    document, variables = ADMIN_ONLY[field]
    writer = await tenant_a.key_with(*(f"{m}:write" for m in ("catalog", "inventory")))

    body = await tenant_a.gql(document, variables, key=writer)

    assert codes(body) == ["FORBIDDEN"]
    assert body.get("data") is None or body["data"].get(field) is None
    assert await endpoints(tenant_a) == [made]
    assert [d["status"] for d in await deliveries(tenant_a)] == ["DEAD"]


async def test_another_tenant_lists_neither_the_endpoints_nor_the_secrets(
    tenant_a: Any, tenant_b: Any
) -> None:
    made = await create(tenant_a, verifyToken="a-token")

    response = await tenant_b.post(ENDPOINTS)

    assert response.json() == {"data": {"webhookEndpoints": []}}
    assert made["secrets"][0] not in response.text and "a-token" not in response.text


async def test_another_tenant_lists_none_of_the_deliveries(tenant_a: Any, tenant_b: Any) -> None:
    secret = (await create(tenant_a))["secrets"][0]
    await post(tenant_a, secret)
    await dead(tenant_a, secret, document=hooks.purchase("ext-2", [("S1", 1, 500)], 500))

    assert await deliveries(tenant_b) == []
    assert await deliveries(tenant_b, status="DEAD", flow="PURCHASE") == []


@pytest.mark.parametrize(
    ("document", "mutation"),
    [(ROTATE, "rotateWebhookSecret"), (DROP, "dropPreviousWebhookSecret"),
     (UPDATE, "updateWebhookEndpoint")],
    ids=["rotate", "drop", "update"],
)
async def test_another_tenant_cannot_change_the_endpoint(
    document: str, mutation: str, tenant_a: Any, tenant_b: Any
) -> None:
    made = await create(tenant_a)

    body = await tenant_b.gql(document, {"flow": "PURCHASE", "enabled": False})

    assert error_codes(body, mutation) == ["NOT_FOUND"]
    assert await endpoints(tenant_a) == [made]
    assert (await post(tenant_a, made["secrets"][0])).status_code == 202


@pytest.mark.parametrize("by", ["ids", "flow", "since"])
async def test_another_tenant_cannot_replay_the_deliveries(
    by: str, tenant_a: Any, tenant_b: Any, jobs: Queue
) -> None:
    delivery = await stored_dead(tenant_a, "msg_a")
    criteria = {"ids": {"ids": [delivery]}, "flow": {"flow": "PURCHASE"},
                "since": {"since": "2000-01-01T00:00:00Z"}}[by]

    replayed = await replay(tenant_b, **criteria)

    assert replayed == {"replayed": [], "errors": []}
    assert [d["status"] for d in await deliveries(tenant_a)] == ["DEAD"]
    assert await hooks.tenant_jobs(jobs, tenant_a) == []


async def test_each_tenant_has_its_own_endpoint_and_secret_for_the_same_flow(
    tenant_a: Any, tenant_b: Any
) -> None:
    a_secret = (await create(tenant_a))["secrets"][0]
    b_endpoint = await create(tenant_b)

    assert b_endpoint["urlPath"] == f"/webhooks/purchase-flow?tenant={tenant_b.slug}"
    assert b_endpoint["secrets"][0] != a_secret


async def test_a_secret_of_one_tenant_never_verifies_a_delivery_to_another_tenant(
    tenant_a: Any, tenant_b: Any
) -> None:
    a_secret = (await create(tenant_a))["secrets"][0]
    b_secret = (await create(tenant_b))["secrets"][0]

    forged = await post(tenant_b, a_secret)
    genuine = await post(tenant_b, b_secret)

    assert (forged.status_code, genuine.status_code) == (401, 202)
    assert [d["id"] for d in await deliveries(tenant_b)] == [genuine.json()["id"]]
    assert await deliveries(tenant_a) == []


async def test_the_platform_key_administers_the_tenant_it_names(
    tenant_a: Any, tenant_b: Any, platform_key: str
) -> None:
    await create(tenant_a)

    body = await tenant_b.gql(ENDPOINTS, key=platform_key, headers={"x-tenant-id": tenant_b.slug})

    assert body == {"data": {"webhookEndpoints": []}}

