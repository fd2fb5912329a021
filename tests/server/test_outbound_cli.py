"""`tenantgraph outbound ...` as real processes: endpoints made (secret printed once), listed,
changed, rotated, enabled and deleted, SSRF refused unless OUTBOUND_ALLOW_NETWORKS allows it,
each change in the tenant's audit trail as the operator's."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from domain import audit
from tables import audit as trail
from tables import outbound as outbound_tables
from tests.processes import cli

PUBLIC = "https://93.184.215.14/hook"


def fields(stdout: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in stdout.splitlines() if ": " in line)


async def created(env: dict[str, str], slug: str, *options: str) -> dict[str, str]:
    done = await cli(env, "outbound", "create", slug, "--url", PUBLIC, "--event-type", "order.*",
                     *options)
    assert done.returncode == 0, done.stderr
    return fields(done.stdout)


async def test_create_prints_the_endpoint_and_its_secret(tenant_a: Any, server_env: dict[str, str]) -> None:
    printed = await created(server_env, tenant_a.slug, "--event-type", "payment.captured",
                            "--header", "X-Api-Key=k=1", "--rate-limit", "7", "--description", "ERP")

    assert printed["secret"].startswith("whsec_")
    assert (printed["url"], printed["event types"], printed["headers"], printed["rate limit"]) == (
        PUBLIC, "order.* payment.captured", "X-Api-Key", "7")
    endpoint = await outbound_tables.get_endpoint(UUID(printed["id"]), tenant_id=tenant_a.id)
    assert endpoint.signing_secrets(datetime.now(UTC)) == (printed["secret"],)
    assert (dict(endpoint.headers), endpoint.description) == ({"X-Api-Key": "k=1"}, "ERP")
    listed = await cli(server_env, "outbound", "list", tenant_a.slug)
    assert listed.returncode == 0 and printed["id"] in listed.stdout
    assert "whsec_" not in listed.stdout


async def test_refused_addresses_and_bad_input_exit_1_saying_why(
    tenant_a: Any, server_env: dict[str, str]
) -> None:
    for url, said in (("https://localhost/h", "resolves to a refused address: 127.0.0.1 (loopback)"),
                      ("https://169.254.169.254/", "cloud metadata"),
                      ("http://127.0.0.1:9/h", "refused address"),
                      ("ftp://example.com/", "use an https:// URL")):
        done = await cli(server_env, "outbound", "create", tenant_a.slug, "--url", url,
                         "--event-type", "*")
        assert (done.returncode, done.stdout) == (1, ""), done
        assert said in done.stderr
    assert await outbound_tables.list_endpoints(tenant_id=tenant_a.id) == []


async def test_the_allow_list_admits_a_loopback_receiver(tenant_a: Any, server_env: dict[str, str]) -> None:
    env = {**server_env, "OUTBOUND_ALLOW_NETWORKS": "127.0.0.0/8"}
    done = await cli(env, "outbound", "create", tenant_a.slug, "--url", "http://127.0.0.1:9/h",
                     "--event-type", "*")

    assert done.returncode == 0, done.stderr
    assert fields(done.stdout)["url"] == "http://127.0.0.1:9/h"


async def test_update_rotate_enable_and_delete(tenant_a: Any, server_env: dict[str, str]) -> None:
    made = await created(server_env, tenant_a.slug, "--rate-limit", "3")
    slug, endpoint_id = tenant_a.slug, made["id"]

    update = await cli(server_env, "outbound", "update", slug, endpoint_id, "--event-type", "*",
                       "--disable", "--default-rate-limit")
    assert update.returncode == 0, update.stderr
    assert (fields(update.stdout)["enabled"], fields(update.stdout)["rate limit"]) == ("no", "default")
    rotate = await cli(server_env, "outbound", "rotate-secret", slug, endpoint_id)
    assert rotate.returncode == 0, rotate.stderr
    enable = await cli(server_env, "outbound", "enable", slug, endpoint_id)
    assert fields(enable.stdout)["enabled"] == "yes"
    endpoint = await outbound_tables.get_endpoint(UUID(endpoint_id), tenant_id=tenant_a.id)
    assert endpoint.signing_secrets(datetime.now(UTC)) == (fields(rotate.stdout)["secret"], made["secret"])
    assert (endpoint.event_types, endpoint.disabled_reason) == (("*",), None)

    delete = await cli(server_env, "outbound", "delete", slug, endpoint_id)
    assert delete.returncode == 0, delete.stderr
    assert await outbound_tables.list_endpoints(tenant_id=tenant_a.id) == []
    entries = await trail.entries(
        tenant_id=tenant_a.id, where=audit.Filter(action_prefix="outbound_endpoint"), before_id=None,
        limit=10)
    assert [e.action.split(".")[1] for e in reversed(entries)] == [
        "created", "updated", "secret_rotated", "enabled", "deleted"]
    assert {e.actor.kind for e in entries} == {audit.CLI}


async def test_another_tenants_endpoint_is_not_found(
    tenant_a: Any, tenant_b: Any, server_env: dict[str, str]
) -> None:
    made = await created(server_env, tenant_a.slug)

    for verb in ("update", "rotate-secret", "enable", "delete"):
        done = await cli(server_env, "outbound", verb, tenant_b.slug, made["id"])
        assert done.returncode == 1 and f"no outbound endpoint {made['id']}" in done.stderr, (verb, done)
    assert len(await outbound_tables.list_endpoints(tenant_id=tenant_a.id)) == 1
