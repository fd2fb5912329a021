"""The event log (`eventLog`, formerly `auditLog`) through /graphql: which domain events happened,
who caused them and when, for the tenant's admins only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest

from domain.config import Settings
from tests.documents import CREATE_PRODUCT, UPDATE_PRODUCT, codes, payload, product_input

EVENTS = """
query Events($first: Int, $after: String, $filter: EventLogFilter) {
  eventLog(first: $first, after: $after, filter: $filter) {
    edges {
      cursor
      node { seq type aggregateType aggregateId actor correlationId createdAt payload }
    }
    pageInfo { hasNextPage hasPreviousPage endCursor }
  }
}
"""


def token(settings: Settings, tenant: str, subject: str, scopes: list[str]) -> str:
    claims = {
        "sub": subject, "tenant": tenant, "scopes": scopes,
        "exp": datetime.now(UTC) + timedelta(minutes=5),
    }
    return jwt.encode(claims, str(settings.jwt_secret), algorithm="HS256")


async def create(tenant: Any, title: str, sku: str, key: str | None = None, request: str = "") -> str:
    headers = {"x-request-id": request} if request else {}
    body = await tenant.gql(CREATE_PRODUCT, {"input": product_input(title, [sku])}, key=key, headers=headers)
    product_id: str = payload(body, "createProduct")["product"]["id"]
    return product_id


async def entries(tenant: Any, **variables: Any) -> list[dict[str, Any]]:
    body = await tenant.gql(EVENTS, {"first": 50, **variables})
    assert "errors" not in body, body
    return [edge["node"] for edge in body["data"]["eventLog"]["edges"]]


def prefix(key: str) -> str:
    return f"key:{key.split('_')[1]}"


@pytest.fixture
async def history(tenant_a: Any, settings: Settings) -> dict[str, Any]:
    """Three changes by three actors: the admin key, a writer key and a token for alice."""
    writer = await tenant_a.key_with("catalog:write")
    alice = token(settings, tenant_a.slug, "alice", ["catalog:write"])
    kettle = await create(tenant_a, "Kettle", "KET-1", request="req-kettle")
    mug = await create(tenant_a, "Mug", "MUG-1", key=writer)
    await tenant_a.gql(UPDATE_PRODUCT, {"id": kettle, "input": {"title": "Kettle 2"}}, key=alice)
    return {"kettle": kettle, "mug": mug, "writer": prefix(writer), "admin": prefix(tenant_a.key)}


async def test_admin_reads_who_changed_what_newest_first(tenant_a: Any, history: dict[str, Any]) -> None:
    found = await entries(tenant_a)

    assert [(e["seq"], e["type"], e["aggregateId"], e["actor"]) for e in found] == [
        (3, "product.updated", history["kettle"], "jwt:alice"),
        (2, "product.created", history["mug"], history["writer"]),
        (1, "product.created", history["kettle"], history["admin"]),
    ]
    assert found[2]["correlationId"] == "req-kettle"
    assert found[2]["aggregateType"] == "product"
    assert found[0]["payload"]["title"] == "Kettle 2"
    assert datetime.fromisoformat(found[0]["createdAt"]) >= datetime.fromisoformat(found[2]["createdAt"])


async def test_event_log_filters(tenant_a: Any, history: dict[str, Any]) -> None:
    by_actor = await entries(tenant_a, filter={"actor": "jwt:alice"})
    by_aggregate = await entries(
        tenant_a, filter={"aggregateType": "product", "aggregateId": history["kettle"]}
    )
    by_type = await entries(tenant_a, filter={"type": "product.created"})
    other_type = await entries(tenant_a, filter={"aggregateType": "price_list"})
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    since_future = await entries(tenant_a, filter={"since": future})
    within = await entries(tenant_a, filter={"since": past, "until": future})
    until_past = await entries(tenant_a, filter={"until": past})

    assert [e["seq"] for e in by_actor] == [3]
    assert [e["seq"] for e in by_aggregate] == [3, 1]
    assert [e["seq"] for e in by_type] == [2, 1]
    assert other_type == [] and since_future == [] and until_past == []
    assert [e["seq"] for e in within] == [3, 2, 1]


async def test_event_log_paginates_by_cursor(tenant_a: Any, history: dict[str, Any]) -> None:
    first = await tenant_a.gql(EVENTS, {"first": 2})
    page = first["data"]["eventLog"]
    rest = await tenant_a.gql(EVENTS, {"first": 2, "after": page["pageInfo"]["endCursor"]})

    assert [e["node"]["seq"] for e in page["edges"]] == [3, 2]
    assert page["pageInfo"]["hasNextPage"] is True
    assert [e["node"]["seq"] for e in rest["data"]["eventLog"]["edges"]] == [1]
    last = rest["data"]["eventLog"]["edges"][0]["cursor"]
    assert rest["data"]["eventLog"]["pageInfo"] == {
        "hasNextPage": False, "hasPreviousPage": True, "endCursor": last
    }


@pytest.mark.parametrize("cursor", ["garbage", "YXVkaXQ6eA", "cHJvZHVjdDox"])
async def test_foreign_cursor_is_bad_user_input(tenant_a: Any, cursor: str) -> None:
    body = await tenant_a.gql(EVENTS, {"after": cursor})

    assert codes(body) == ["BAD_USER_INPUT"]


@pytest.mark.parametrize("scopes", [("catalog:write",), ("catalog:read", "pricing:write")])
async def test_non_admins_are_forbidden(
    tenant_a: Any, history: dict[str, Any], scopes: tuple[str, ...]
) -> None:
    body = await tenant_a.gql(EVENTS, {}, key=await tenant_a.key_with(*scopes))

    assert codes(body) == ["FORBIDDEN"]
    assert body.get("data") is None


async def test_token_without_admin_is_forbidden(tenant_a: Any, settings: Settings) -> None:
    reader = token(settings, tenant_a.slug, "bob", ["catalog:write"])

    assert codes(await tenant_a.gql(EVENTS, {}, key=reader)) == ["FORBIDDEN"]
    admin = token(settings, tenant_a.slug, "root", ["admin"])
    assert "errors" not in await tenant_a.gql(EVENTS, {}, key=admin)


async def test_b_event_log_holds_none_of_a(tenant_a: Any, tenant_b: Any, history: dict[str, Any]) -> None:
    b_product = await create(tenant_b, "B Kettle", "B-KET-1")
    a_cursor = (await tenant_a.gql(EVENTS, {"first": 1}))["data"]["eventLog"]["pageInfo"]["endCursor"]

    assert [(e["seq"], e["aggregateId"]) for e in await entries(tenant_b)] == [(1, b_product)]
    assert await entries(tenant_b, filter={"aggregateId": history["kettle"]}) == []
    assert await entries(tenant_b, filter={"actor": history["admin"]}) == []
    assert await entries(tenant_b, filter={"actor": "jwt:alice"}) == []
    assert await entries(tenant_b, filter={"type": "product.updated"}) == []
    assert [e["aggregateId"] for e in await entries(tenant_b, after=a_cursor)] == [b_product]
