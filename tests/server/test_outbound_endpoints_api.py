"""Webhooks out, the endpoints over GraphQL (admin scope): made, read, changed, rotated and
deleted; every rejection an error with `extensions.code` that writes nothing; a secret shown
once; SSRF refused with and without the allow-list; each change in the audit trail without
its secret; one tenant's endpoints invisible and untouchable to another."""

from __future__ import annotations

import base64
import dataclasses
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain import audit, egress
from domain.config import Settings
from tables import audit as trail
from tables import outbound as outbound_tables
from tests.conftest import TenantHandle

FIELDS = "id url description eventTypes enabled disabledReason headerNames rateLimit " \
    "failingSince previousSecretExpiresAt"
CREATE = f"""
mutation Create($input: CreateOutboundEndpointInput!) {{
  createOutboundEndpoint(input: $input) {{ secret endpoint {{ {FIELDS} }} }}
}}"""
UPDATE = f"""
mutation Update($id: ID!, $input: UpdateOutboundEndpointInput!) {{
  updateOutboundEndpoint(id: $id, input: $input) {{ endpoint {{ {FIELDS} }} }}
}}"""
ROTATE = f"""
mutation Rotate($id: ID!) {{
  rotateOutboundEndpointSecret(id: $id) {{ secret endpoint {{ {FIELDS} }} }}
}}"""
DELETE = "mutation Delete($id: ID!) { deleteOutboundEndpoint(id: $id) { deletedId } }"
ONE = f"query One($id: ID!) {{ outboundEndpoint(id: $id) {{ {FIELDS} }} }}"
ALL = f"{{ outboundEndpoints {{ {FIELDS} }} }}"
PUBLIC = "https://93.184.215.14/hooks/orders"
"""A public address written as a literal: reachable by the rule without any DNS here."""
LOOPBACK = egress.networks("127.0.0.0/8, ::1/128")


def endpoint_input(**fields: Any) -> dict[str, Any]:
    return {"url": PUBLIC, "eventTypes": ["order.*"], **fields}


async def create(tenant: TenantHandle, **fields: Any) -> dict[str, Any]:
    body = await tenant.gql(CREATE, {"input": endpoint_input(**fields)})
    assert "errors" not in body, body
    made: dict[str, Any] = body["data"]["createOutboundEndpoint"]
    return made


def error_of(body: dict[str, Any]) -> dict[str, Any]:
    assert body.get("data") is None or not any(body["data"].values()), body
    (error,) = body["errors"]
    found: dict[str, Any] = error
    return found


def with_settings(tenant: TenantHandle, client_for: Any, settings: Settings, **changes: Any) -> TenantHandle:
    return dataclasses.replace(tenant, client=client_for(dataclasses.replace(settings, **changes)))


async def trail_of(tenant: TenantHandle) -> list[audit.Entry]:
    return await trail.entries(tenant_id=tenant.id, where=audit.Filter(action_prefix="outbound_endpoint"),
                               before_id=None, limit=100)


# Made and read


async def test_create_returns_the_endpoint_and_its_secret_once(tenant_a: TenantHandle) -> None:
    made = await create(tenant_a, description="ERP", eventTypes=["order.created", "payment.*"],
                        headers=[{"name": "X-Api-Key", "value": "k-123"}], rateLimit=5)

    secret = made["secret"]
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 32
    endpoint = made["endpoint"]
    assert endpoint | {"id": None} == {
        "id": None, "url": PUBLIC, "description": "ERP", "eventTypes": ["order.created", "payment.*"],
        "enabled": True, "disabledReason": None, "headerNames": ["X-Api-Key"], "rateLimit": 5,
        "failingSince": None, "previousSecretExpiresAt": None,
    }
    assert (await tenant_a.gql(ONE, {"id": endpoint["id"]}))["data"]["outboundEndpoint"] == endpoint
    assert (await tenant_a.gql(ALL))["data"]["outboundEndpoints"] == [endpoint]
    stored = await outbound_tables.get_endpoint(endpoint["id"], tenant_id=tenant_a.id)
    assert stored.signing_secrets(datetime.now(UTC)) == (secret,)
    assert dict(stored.headers) == {"X-Api-Key": "k-123"}


async def test_no_field_of_an_endpoint_holds_a_secret(tenant_a: TenantHandle) -> None:
    body = await tenant_a.gql('{ __type(name: "OutboundEndpoint") { fields { name } } }')
    names = {f["name"] for f in body["data"]["__type"]["fields"]}

    assert names and not {n for n in names if "secret" in n.lower()} - {"previousSecretExpiresAt"}
    made = await create(tenant_a)
    listed = json.dumps(await tenant_a.gql(ALL))
    assert made["secret"] not in listed and "whsec_" not in listed


async def test_endpoints_need_the_admin_scope(tenant_a: TenantHandle) -> None:
    key = await tenant_a.key_with("catalog:read")

    for document, variables in ((ALL, {}), (CREATE, {"input": endpoint_input()})):
        body = await tenant_a.gql(document, variables, key=key)
        assert error_of(body)["extensions"]["code"] == "FORBIDDEN"
    assert await outbound_tables.list_endpoints(tenant_id=tenant_a.id) == []


# Rejections


@pytest.mark.parametrize(("fields", "path"), [
    ({"url": "ftp://example.com/x"}, "input.url"),
    ({"url": "https://user:pw@example.com/x"}, "input.url"),
    ({"url": "https:///no-host"}, "input.url"),
    ({"url": "https://example.com/x#frag"}, "input.url"),
    ({"eventTypes": []}, "input.eventTypes"),
    ({"eventTypes": ["order.created", "nope.created"]}, "input.eventTypes.1"),
    ({"eventTypes": ["nope.*"]}, "input.eventTypes.0"),
    ({"eventTypes": ["order"]}, "input.eventTypes.0"),
    ({"headers": [{"name": "webhook-id", "value": "x"}]}, "input.headers.webhook-id"),
    ({"headers": [{"name": "Host", "value": "x"}]}, "input.headers.Host"),
    ({"headers": [{"name": "Transfer-Encoding", "value": "x"}]}, "input.headers.Transfer-Encoding"),
    ({"headers": [{"name": "Bad Name", "value": "x"}]}, "input.headers.Bad Name"),
    ({"headers": [{"name": "X-A", "value": "line\r\nX-B: y"}]}, "input.headers.X-A"),
    ({"headers": [{"name": "X-A", "value": "1"}, {"name": "x-a", "value": "2"}]}, "input.headers.x-a"),
    ({"rateLimit": 0}, "input.rateLimit"),
    ({"description": "d" * 501}, "input.description"),
])
async def test_invalid_input_is_refused_naming_the_field(
    tenant_a: TenantHandle, fields: dict[str, Any], path: str
) -> None:
    body = await tenant_a.gql(CREATE, {"input": endpoint_input(**fields)})

    error = error_of(body)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert path in error["extensions"]["fields"], error
    assert await outbound_tables.list_endpoints(tenant_id=tenant_a.id) == []


@pytest.mark.parametrize("url", [
    "https://127.0.0.1/hook", "https://localhost/hook", "https://[::1]/hook",
    "http://2130706433/", "http://0x7f.1/", "http://017700000001/", "https://127.1/",
    "https://[::ffff:127.0.0.1]/", "https://10.0.0.8/", "https://192.168.1.1/",
    "https://100.64.0.1/", "https://169.254.169.254/latest/meta-data/",
    "https://[fd00:ec2::254]/", "https://[fe80::1]/", "https://0.0.0.0/", "https://224.0.0.1/",
])
async def test_urls_reaching_refused_addresses_are_refused(tenant_a: TenantHandle, url: str) -> None:
    error = error_of(await tenant_a.gql(CREATE, {"input": endpoint_input(url=url)}))

    assert error["extensions"]["code"] == "ADDRESS_REFUSED", error
    assert "input.url" in error["extensions"]["fields"]
    assert await outbound_tables.list_endpoints(tenant_id=tenant_a.id) == []


async def test_the_allow_list_admits_loopback_and_plain_http_to_it_only(
    tenant_a: TenantHandle, client_for: Any, settings: Settings
) -> None:
    allowed = with_settings(tenant_a, client_for, settings, outbound_allow_networks=LOOPBACK)

    for url in ("http://127.0.0.1:9/hook", "http://localhost:9/hook", "https://[::1]:9/"):
        assert (await create(allowed, url=url))["endpoint"]["url"] == url
    for url, code in (("https://169.254.169.254/", "ADDRESS_REFUSED"),
                      ("https://10.0.0.8/", "ADDRESS_REFUSED"),
                      ("http://93.184.215.14/hook", "ADDRESS_REFUSED")):
        error = error_of(await allowed.gql(CREATE, {"input": endpoint_input(url=url)}))
        assert error["extensions"]["code"] == code, (url, error)
    error = error_of(await tenant_a.gql(CREATE, {"input": endpoint_input(url="http://127.0.0.1:9/")}))
    assert error["extensions"]["code"] == "ADDRESS_REFUSED"


async def test_a_host_that_does_not_resolve_is_refused(tenant_a: TenantHandle) -> None:
    error = error_of(await tenant_a.gql(
        CREATE, {"input": endpoint_input(url="https://no-such-host.invalid/hook")}))

    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "does not resolve" in error["extensions"]["fields"]["input.url"]


async def test_a_tenant_has_at_most_max_endpoints(
    tenant_a: TenantHandle, client_for: Any, settings: Settings
) -> None:
    capped = with_settings(tenant_a, client_for, settings, outbound_max_endpoints=2)
    await create(capped)
    await create(capped)

    error = error_of(await capped.gql(CREATE, {"input": endpoint_input()}))

    assert error["extensions"]["code"] == "CONFLICT"
    assert "OUTBOUND_MAX_ENDPOINTS" in error["message"]
    assert len(await outbound_tables.list_endpoints(tenant_id=tenant_a.id)) == 2


# Changed


async def test_update_changes_only_the_fields_given(tenant_a: TenantHandle) -> None:
    made = (await create(tenant_a, description="old", rateLimit=5))["endpoint"]

    body = await tenant_a.gql(UPDATE, {"id": made["id"], "input": {
        "url": "https://93.184.215.15/v2", "eventTypes": ["*"],
        "headers": [{"name": "Authorization", "value": "Bearer t"}]}})

    changed = body["data"]["updateOutboundEndpoint"]["endpoint"]
    assert changed == made | {"url": "https://93.184.215.15/v2", "eventTypes": ["*"],
                              "headerNames": ["Authorization"]}
    cleared = await tenant_a.gql(UPDATE, {"id": made["id"], "input": {"rateLimit": None}})
    assert cleared["data"]["updateOutboundEndpoint"]["endpoint"]["rateLimit"] is None


async def test_update_to_a_refused_address_changes_nothing(tenant_a: TenantHandle) -> None:
    made = (await create(tenant_a))["endpoint"]

    for url in ("https://localhost/", "https://169.254.169.254/"):
        error = error_of(await tenant_a.gql(UPDATE, {"id": made["id"], "input": {"url": url}}))
        assert error["extensions"]["code"] == "ADDRESS_REFUSED"
    assert (await tenant_a.gql(ONE, {"id": made["id"]}))["data"]["outboundEndpoint"] == made


async def test_disabling_gives_a_reason_and_enabling_clears_the_failing_streak(
    tenant_a: TenantHandle,
) -> None:
    made = (await create(tenant_a))["endpoint"]
    off = await tenant_a.gql(UPDATE, {"id": made["id"], "input": {"enabled": False}})
    assert off["data"]["updateOutboundEndpoint"]["endpoint"]["disabledReason"] == "disabled by an admin"
    await _set_failing(tenant_a, made["id"])

    on = await tenant_a.gql(UPDATE, {"id": made["id"], "input": {"enabled": True}})

    endpoint = on["data"]["updateOutboundEndpoint"]["endpoint"]
    assert (endpoint["enabled"], endpoint["disabledReason"], endpoint["failingSince"]) == (True, None, None)


async def _set_failing(tenant: TenantHandle, endpoint_id: str) -> None:
    """What the delivery engine leaves on an endpoint it gave up on."""
    from tables import db

    async with db.transaction(tenant_id=tenant.id) as tx:
        await tx.connection.execute(
            "update outbound_endpoints set failing_since = now() - interval '6 days',"
            " disabled_reason = 'failing for 5 days' where id = $1::uuid", endpoint_id)


# Rotated


async def test_rotation_signs_with_both_secrets_until_the_grace_ends(tenant_a: TenantHandle) -> None:
    made = await create(tenant_a)
    before = datetime.now(UTC)

    body = await tenant_a.gql(ROTATE, {"id": made["endpoint"]["id"]})

    rotated = body["data"]["rotateOutboundEndpointSecret"]
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != made["secret"]
    expires = datetime.fromisoformat(rotated["endpoint"]["previousSecretExpiresAt"])
    assert before + timedelta(seconds=86_400) <= expires <= datetime.now(UTC) + timedelta(seconds=86_400)
    stored = await outbound_tables.get_endpoint(made["endpoint"]["id"], tenant_id=tenant_a.id)
    assert stored.signing_secrets(datetime.now(UTC)) == (rotated["secret"], made["secret"])
    assert stored.signing_secrets(expires + timedelta(seconds=1)) == (rotated["secret"],)


async def test_secrets_past_their_expiry_are_dropped_on_the_next_write(
    tenant_a: TenantHandle, client_for: Any, settings: Settings
) -> None:
    no_grace = with_settings(tenant_a, client_for, settings, outbound_secret_grace_seconds=0)
    made = await create(no_grace)
    await no_grace.gql(ROTATE, {"id": made["endpoint"]["id"]})
    last = (await no_grace.gql(ROTATE, {"id": made["endpoint"]["id"]}))["data"]

    stored = await outbound_tables.get_endpoint(made["endpoint"]["id"], tenant_id=tenant_a.id)
    assert [s.value for s in stored.secrets] == [last["rotateOutboundEndpointSecret"]["secret"]]


# Deleted


async def test_delete_removes_the_endpoint(tenant_a: TenantHandle) -> None:
    made = (await create(tenant_a))["endpoint"]

    body = await tenant_a.gql(DELETE, {"id": made["id"]})

    assert body["data"]["deleteOutboundEndpoint"] == {"deletedId": made["id"]}
    assert error_of(await tenant_a.gql(ONE, {"id": made["id"]}))["extensions"]["code"] == "NOT_FOUND"
    assert error_of(await tenant_a.gql(DELETE, {"id": made["id"]}))["extensions"]["code"] == "NOT_FOUND"


async def test_a_malformed_id_is_bad_input(tenant_a: TenantHandle) -> None:
    error = error_of(await tenant_a.gql(ONE, {"id": "not-a-uuid"}))

    assert (error["extensions"]["code"], list(error["extensions"]["fields"])) == ("BAD_USER_INPUT", ["id"])


# Audited


async def test_each_change_is_audited_without_a_secret_or_a_header_value(tenant_a: TenantHandle) -> None:
    made = await create(tenant_a, url=PUBLIC + "?token=q-secret",
                        headers=[{"name": "X-Api-Key", "value": "h-secret"}])
    endpoint_id = made["endpoint"]["id"]
    rotated = (await tenant_a.gql(ROTATE, {"id": endpoint_id}))["data"]["rotateOutboundEndpointSecret"]
    await tenant_a.gql(UPDATE, {"id": endpoint_id, "input": {"description": "d"}})
    await tenant_a.gql(DELETE, {"id": endpoint_id})

    entries = await trail_of(tenant_a)

    assert [e.action for e in reversed(entries)] == [
        "outbound_endpoint.created", "outbound_endpoint.secret_rotated",
        "outbound_endpoint.updated", "outbound_endpoint.deleted",
    ]
    assert {e.target_id for e in entries} == {endpoint_id}
    assert entries[-1].after is not None and entries[-1].after["header_names"] == ["X-Api-Key"]
    written = json.dumps([[e.before, e.after] for e in entries])
    for secret in (made["secret"], rotated["secret"], "whsec_", "h-secret", "q-secret"):
        assert secret not in written


async def test_a_refused_change_writes_no_audit_entry(tenant_a: TenantHandle) -> None:
    await tenant_a.gql(CREATE, {"input": endpoint_input(url="https://localhost/")})

    assert await trail_of(tenant_a) == []


# Isolated


async def test_another_tenant_cannot_see_or_touch_an_endpoint(
    tenant_a: TenantHandle, tenant_b: TenantHandle
) -> None:
    made = (await create(tenant_a))["endpoint"]
    theirs = (await create(tenant_b))["endpoint"]

    for document, variables in (
        (ONE, {"id": made["id"]}),
        (UPDATE, {"id": made["id"], "input": {"enabled": False}}),
        (ROTATE, {"id": made["id"]}),
        (DELETE, {"id": made["id"]}),
    ):
        error = error_of(await tenant_b.gql(document, variables))
        assert error["extensions"]["code"] == "NOT_FOUND", (document, error)
    assert (await tenant_b.gql(ALL))["data"]["outboundEndpoints"] == [theirs]
    assert (await tenant_a.gql(ONE, {"id": made["id"]}))["data"]["outboundEndpoint"] == made
    stored = await outbound_tables.get_endpoint(made["id"], tenant_id=tenant_a.id)
    assert len(stored.secrets) == 1
    assert await trail_of(tenant_b) != [] and all(
        e.target_id == theirs["id"] for e in await trail_of(tenant_b))
