"""The audit trail through /graphql: every administrative action leaves a record (actor,
request id, client address, before/after, never a secret) that the tenant's admins read in
`auditLog`; the platform's own actions are in `platformAuditLog`, for platform keys only."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import jwt
import pytest

from domain.config import Settings
from tables import webhooks as webhook_tables
from tests import webhooks as hooks
from tests.conftest import TenantHandle
from tests.documents import codes, error_codes, payload

ENTRY = """seq action actor actorKind actorId targetType targetId before after requestId
           clientAddress createdAt"""
AUDIT = f"""
query Audit($first: Int, $after: String, $filter: AuditFilter) {{
  auditLog(first: $first, after: $after, filter: $filter) {{
    edges {{ cursor node {{ {ENTRY} }} }}
    pageInfo {{ hasNextPage hasPreviousPage endCursor }}
  }}
}}
"""
PLATFORM_AUDIT = f"""
query Platform($filter: AuditFilter) {{
  platformAuditLog(first: 50, filter: $filter) {{ edges {{ node {{ {ENTRY} }} }} }}
}}
"""
README_QUERY = "{ auditLog(first: 5) { edges { node { seq type actor createdAt } } } }"
CREATE_KEY = """
mutation Create($input: ApiKeyInput!) {
  createApiKey(input: $input) { apiKey { prefix } token errors { field message code } }
}
"""
REVOKE_KEY = """
mutation Revoke($prefix: String!) {
  revokeApiKey(prefix: $prefix) { apiKey { prefix revokedAt } errors { field message code } }
}
"""
SET_MODULES = """
mutation Modules($modules: [String!]!) {
  setTenantModules(modules: $modules) { tenant { modules } errors { field message code } }
}
"""
ENDPOINT = "endpoint { secrets verifyToken enabled } errors { field message code }"
CREATE_ENDPOINT = f"""
mutation Create($verifyToken: String) {{
  createWebhookEndpoint(flow: PURCHASE, verifyToken: $verifyToken) {{ {ENDPOINT} }}
}}
"""
ROTATE = f"mutation {{ rotateWebhookSecret(flow: PURCHASE) {{ {ENDPOINT} }} }}"
DROP = f"mutation {{ dropPreviousWebhookSecret(flow: PURCHASE) {{ {ENDPOINT} }} }}"
DISABLE = f"mutation {{ updateWebhookEndpoint(flow: PURCHASE, enabled: false) {{ {ENDPOINT} }} }}"
REPLAY = """
mutation Replay($input: ReplayInput!) {
  replayWebhookDeliveries(input: $input) { replayed errors { field message code } }
}
"""


def prefix_of(token: str) -> str:
    return token.split("_")[1]


def jwt_for(settings: Settings, tenant: TenantHandle, subject: str, scopes: list[str]) -> str:
    claims = {"sub": subject, "tenant": tenant.slug, "scopes": scopes,
              "exp": datetime.now(UTC) + timedelta(minutes=5)}
    return jwt.encode(claims, str(settings.jwt_secret), algorithm="HS256")


async def trail(tenant: TenantHandle, key: str | None = None, **filter_: Any) -> list[dict[str, Any]]:
    body = await tenant.gql(AUDIT, {"first": 50, "filter": filter_}, key=key)
    assert "errors" not in body, body
    return [edge["node"] for edge in body["data"]["auditLog"]["edges"]]


async def platform_trail(tenant: TenantHandle, platform_key: str, **filter_: Any) -> list[dict[str, Any]]:
    body = await tenant.gql(
        PLATFORM_AUDIT, {"filter": filter_}, key=platform_key, headers={"x-tenant-id": tenant.slug}
    )
    assert "errors" not in body, body
    return [edge["node"] for edge in body["data"]["platformAuditLog"]["edges"]]


async def create_key(tenant: TenantHandle, request_id: str = "", key: str | None = None) -> dict[str, Any]:
    headers = {"x-request-id": request_id} if request_id else {}
    body = await tenant.gql(CREATE_KEY, {"input": {"name": "ci", "scopes": ["catalog:read"]}},
                            key=key, headers=headers)
    return payload(body, "createApiKey")


async def test_creating_and_revoking_a_key_leave_records_with_actor_request_and_change(
    tenant_a: TenantHandle,
) -> None:
    created = await create_key(tenant_a, "req-create")
    made = created["apiKey"]["prefix"]
    await tenant_a.gql(REVOKE_KEY, {"prefix": made}, headers={"x-request-id": "req-revoke"})

    revoked, issued = await trail(tenant_a, targetId=made)
    admin = prefix_of(tenant_a.key)
    assert (issued["action"], issued["actor"], issued["actorKind"], issued["actorId"]) == (
        "api_key.created", f"key:{admin}", "api_key", admin)
    assert (issued["targetType"], issued["requestId"], issued["clientAddress"]) == (
        "api_key", "req-create", "127.0.0.1")
    assert issued["before"] is None
    assert issued["after"]["scopes"] == ["catalog:read"] and issued["after"]["revoked_at"] is None
    assert (revoked["action"], revoked["requestId"]) == ("api_key.revoked", "req-revoke")
    assert revoked["before"]["revoked_at"] is None and revoked["after"]["revoked_at"] is not None
    assert revoked["seq"] > issued["seq"]
    assert created["token"].split("_", 2)[2] not in json.dumps([revoked, issued])


async def test_a_token_subject_is_the_actor_of_what_it_does(
    tenant_a: TenantHandle, settings: Settings
) -> None:
    alice = jwt_for(settings, tenant_a, "alice", ["admin"])

    made = (await create_key(tenant_a, key=alice))["apiKey"]["prefix"]

    [entry] = await trail(tenant_a, targetId=made)
    assert (entry["actor"], entry["actorKind"], entry["actorId"]) == ("jwt:alice", "jwt", "alice")
    assert [e["targetId"] for e in await trail(tenant_a, actor="jwt:alice")] == [made]


async def test_webhook_endpoint_changes_are_recorded_and_never_their_secrets(tenant_a: TenantHandle) -> None:
    secrets: set[str] = set()
    for document, variables, name in (
        (CREATE_ENDPOINT, {"verifyToken": "meta-handshake-token"}, "createWebhookEndpoint"),
        (ROTATE, {}, "rotateWebhookSecret"), (DROP, {}, "dropPreviousWebhookSecret"),
        (DISABLE, {}, "updateWebhookEndpoint"),
    ):
        secrets |= set(payload(await tenant_a.gql(document, variables), name)["endpoint"]["secrets"])

    found = await trail(tenant_a, actionPrefix="webhook_endpoint")

    assert [(e["action"], e["targetId"]) for e in found] == [
        ("webhook_endpoint.updated", "purchase-flow"),
        ("webhook_endpoint.previous_secret_dropped", "purchase-flow"),
        ("webhook_endpoint.secret_rotated", "purchase-flow"),
        ("webhook_endpoint.created", "purchase-flow"),
    ]
    counts = [(e["before"] or {}).get("secret_count") for e in found] + [found[0]["after"]["secret_count"]]
    assert counts == [1, 2, 1, None, 1]
    assert (found[0]["before"]["enabled"], found[0]["after"]["enabled"]) == (True, False)
    assert found[3]["after"]["verify_token_set"] is True
    text = json.dumps(found)
    assert len(secrets) == 2 and not any(secret in text for secret in secrets)
    assert "whsec_" not in text and "meta-handshake-token" not in text


async def test_replaying_a_dead_delivery_is_recorded_per_delivery(tenant_a: TenantHandle) -> None:
    stored = await hooks.store(tenant_id=tenant_a.id, flow="purchase-flow", delivery_id="msg-dead",
                               payload={"version": 1}, correlation_id="c")
    await webhook_tables.mark_failed(stored.id, "boom", tenant_id=tenant_a.id, dead=True)

    body = await tenant_a.gql(
        REPLAY, {"input": {"ids": [str(stored.id)]}}, headers={"x-request-id": "req-rp"}
    )

    assert payload(body, "replayWebhookDeliveries")["replayed"] == [str(stored.id)]
    [entry] = await trail(tenant_a, actionPrefix="webhook_delivery")
    assert (entry["action"], entry["targetId"], entry["requestId"]) == (
        "webhook_delivery.replayed", str(stored.id), "req-rp")
    assert entry["before"] == {"status": "dead", "attempts": 1}
    assert entry["after"]["status"] == "queued" and entry["after"]["delivery_id"] == "msg-dead"


async def test_changing_modules_is_in_the_platforms_trail_only(
    tenant_a: TenantHandle, platform_key: str
) -> None:
    body = await tenant_a.gql(SET_MODULES, {"modules": ["catalog", "customers"]}, key=platform_key,
                              headers={"x-tenant-id": tenant_a.slug, "x-request-id": "req-mod"})
    payload(body, "setTenantModules")

    entry, created = await platform_trail(tenant_a, platform_key, targetId=str(tenant_a.id))
    assert (created["action"], created["actor"]) == ("tenant.created", "system:internal")
    assert (entry["action"], entry["actor"], entry["requestId"]) == (
        "tenant.modules_changed", f"key:{prefix_of(platform_key)}", "req-mod")
    assert (entry["before"]["modules"], entry["after"]["modules"]) == (["catalog"], ["catalog", "customers"])
    assert await trail(tenant_a, actionPrefix="tenant") == []


async def test_only_platform_keys_read_the_platforms_trail(
    tenant_a: TenantHandle, settings: Settings
) -> None:
    admin_token = jwt_for(settings, tenant_a, "root", ["admin"])
    for key in (tenant_a.key, admin_token):
        body = await tenant_a.gql(PLATFORM_AUDIT, {}, key=key)
        assert codes(body) == ["FORBIDDEN"] and body.get("data") is None


async def test_refused_actions_leave_no_record(tenant_a: TenantHandle) -> None:
    reader = await tenant_a.key_with("catalog:read")
    before = await trail(tenant_a)

    refused = [
        codes(await tenant_a.gql(CREATE_KEY, {"input": {"name": "x", "scopes": ["admin"]}}, key=reader)),
        error_codes(await tenant_a.gql(CREATE_KEY, {"input": {"name": "x", "scopes": ["nope"]}}),
                    "createApiKey"),
        error_codes(await tenant_a.gql(REVOKE_KEY, {"prefix": "000000000000"}), "revokeApiKey"),
        codes(await tenant_a.gql(SET_MODULES, {"modules": ["catalog"]})),
        error_codes(await tenant_a.gql(ROTATE), "rotateWebhookSecret"),
    ]

    assert all(refused), refused
    assert await trail(tenant_a) == before


async def test_filters_and_keyset_pages(tenant_a: TenantHandle) -> None:
    made = [(await create_key(tenant_a))["apiKey"]["prefix"] for _ in range(3)]
    await tenant_a.gql(REVOKE_KEY, {"prefix": made[0]})
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()

    first = await tenant_a.gql(AUDIT, {"first": 2, "filter": {"actionPrefix": "api_key"}})
    page = first["data"]["auditLog"]
    rest = await tenant_a.gql(
        AUDIT, {"first": 50, "after": page["pageInfo"]["endCursor"], "filter": {"actionPrefix": "api_key"}}
    )
    shown = [e["node"]["targetId"] for e in page["edges"] + rest["data"]["auditLog"]["edges"]]

    assert page["pageInfo"]["hasNextPage"] and rest["data"]["auditLog"]["pageInfo"]["hasPreviousPage"]
    assert shown[:4] == [made[0], made[2], made[1], made[0]]
    assert [e["targetId"] for e in await trail(tenant_a, type="api_key.revoked")] == [made[0]]
    assert await trail(tenant_a, actionPrefix="api_k") == []
    assert await trail(tenant_a, since=future) == []
    assert len(await trail(tenant_a, until=future, actionPrefix="api_key.created")) >= 3
    bad = await tenant_a.gql(AUDIT, {"filter": {"actor": "someone"}})
    assert codes(bad) == ["BAD_USER_INPUT"]


async def test_the_readme_query_still_answers(tenant_a: TenantHandle) -> None:
    await create_key(tenant_a)

    body = await tenant_a.gql(README_QUERY)

    entry = body["data"]["auditLog"]["edges"][0]["node"]
    assert (entry["type"], entry["actor"]) == ("api_key.created", f"key:{prefix_of(tenant_a.key)}")


@pytest.mark.parametrize("scopes", [("catalog:write",), ("catalog:read", "pricing:write")])
async def test_non_admins_cannot_read_the_trail(tenant_a: TenantHandle, scopes: tuple[str, ...]) -> None:
    body = await tenant_a.gql(AUDIT, {}, key=await tenant_a.key_with(*scopes))

    assert codes(body) == ["FORBIDDEN"] and body.get("data") is None


async def test_b_never_sees_a_record_of_a_nor_the_platforms_about_a(
    tenant_a: TenantHandle, tenant_b: TenantHandle, platform_key: str
) -> None:
    a_key = (await create_key(tenant_a))["apiKey"]["prefix"]
    await tenant_a.gql(SET_MODULES, {"modules": ["catalog", "customers"]}, key=platform_key,
                       headers={"x-tenant-id": tenant_a.slug})
    b_key = (await create_key(tenant_b))["apiKey"]["prefix"]
    a_cursor = (await tenant_a.gql(AUDIT, {"first": 1}))["data"]["auditLog"]["pageInfo"]["endCursor"]

    seen_by_b = await trail(tenant_b)
    assert [e["targetId"] for e in seen_by_b] == [b_key, prefix_of(tenant_b.key)]
    assert await trail(tenant_b, targetId=a_key) == []
    assert await trail(tenant_b, actor=f"key:{prefix_of(tenant_a.key)}") == []
    assert await trail(tenant_b, targetId=str(tenant_a.id)) == []
    after_a = await tenant_b.gql(AUDIT, {"first": 50, "after": a_cursor})
    assert {e["node"]["targetId"] for e in after_a["data"]["auditLog"]["edges"]} <= {
        b_key, prefix_of(tenant_b.key)}
    assert codes(await tenant_b.gql(PLATFORM_AUDIT, {})) == ["FORBIDDEN"]
    assert str(tenant_a.id) not in json.dumps(seen_by_b)


async def test_an_empty_trail_is_an_empty_page(tenant_a: TenantHandle) -> None:
    body = await tenant_a.gql(AUDIT, {"filter": {"targetId": str(UUID(int=1))}})

    assert body["data"]["auditLog"] == {
        "edges": [], "pageInfo": {"hasNextPage": False, "hasPreviousPage": False, "endCursor": None}
    }


ROTATE_KEY = """
mutation Rotate($prefix: String!) {
  rotateApiKey(prefix: $prefix, graceSeconds: 60) { token apiKey { prefix } errors { code } }
}
"""
SET_ORIGINS = """
mutation Origins($origins: [String!]!) {
  setAllowedOrigins(origins: $origins) { allowedOrigins errors { code } }
}
"""


async def test_rotating_a_key_and_changing_origins_are_recorded(tenant_a: TenantHandle) -> None:
    made = (await create_key(tenant_a))["apiKey"]["prefix"]
    rotated = payload(await tenant_a.gql(ROTATE_KEY, {"prefix": made},
                                         headers={"x-request-id": "req-rotate"}), "rotateApiKey")
    await tenant_a.gql(SET_ORIGINS, {"origins": ["https://shop.example"]})
    await tenant_a.gql(SET_ORIGINS, {"origins": ["https://shop.example", "https://pos.example"]})

    (rotation,) = await trail(tenant_a, type="api_key.rotated")
    changes = await trail(tenant_a, type="tenant.origins_changed")

    assert (rotation["targetId"], rotation["requestId"]) == (made, "req-rotate")
    assert rotation["before"]["expires_at"] is None and rotation["after"]["expires_at"] is not None
    assert rotation["after"]["successor"] == rotated["apiKey"]["prefix"]
    assert rotated["token"].split("_", 2)[2] not in json.dumps(rotation)
    assert [(c["before"], c["after"]) for c in changes] == [
        ({"origins": ["https://shop.example"]},
         {"origins": ["https://pos.example", "https://shop.example"]}),
        ({"origins": []}, {"origins": ["https://shop.example"]}),
    ]


SET_DOCUMENTS_MODE = """mutation Mode($mode: TrustedDocumentsMode!) {
  setTrustedDocumentsMode(mode: $mode) { mode errors { code } }
}"""


async def test_changing_the_trusted_documents_mode_is_recorded(tenant_a: TenantHandle) -> None:
    await tenant_a.gql(SET_DOCUMENTS_MODE, {"mode": "LEARN"}, headers={"x-request-id": "req-mode"})
    await tenant_a.gql(SET_DOCUMENTS_MODE, {"mode": "OFF"})

    changes = await trail(tenant_a, actionPrefix="trusted_documents.")

    assert [(c["action"], c["before"], c["after"]) for c in changes] == [
        ("trusted_documents.mode_changed", {"mode": "learn"}, {"mode": "off"}),
        ("trusted_documents.mode_changed", {"mode": "off"}, {"mode": "learn"}),
    ]
    assert changes[1]["requestId"] == "req-mode"


SET_COST_LIMITS = """mutation Limits($limits: CostLimitsInput!) {
  setTenantCostLimits(limits: $limits) { errors { code } }
}"""


async def test_changing_a_tenants_cost_limits_is_in_the_platforms_trail(
    tenant_a: TenantHandle, platform_key: str
) -> None:
    body = await tenant_a.gql(SET_COST_LIMITS, {"limits": {"bucketSize": 3000, "restoreRate": 200}},
                              key=platform_key, headers={"x-tenant-id": tenant_a.slug})
    assert body["data"]["setTenantCostLimits"]["errors"] == [], body

    # The platform's trail holds every tenant's changes (other tests set limits too).
    changes = await platform_trail(tenant_a, platform_key, type="tenant.limits_changed")
    (entry,) = [change for change in changes if change["targetId"] == str(tenant_a.id)]

    assert entry["before"] == {} and entry["after"] == {"bucket_size": 3000, "restore_rate": 200}
    assert await trail(tenant_a, type="tenant.limits_changed") == []
