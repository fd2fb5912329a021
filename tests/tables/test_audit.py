"""The audit trail's storage: a record commits with its change or not at all, row-level security
keeps each tenant's trail and the platform's apart, records are never updated, outlive the
events' pruning and go after AUDIT_RETENTION_DAYS."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import pytest

from domain import audit
from tables import api_keys, db
from tables import audit as trail
from tables import events as outbox
from tables import webhooks as webhook_tables
from tests.conftest import TenantHandle
from tests.documents import CREATE_PRODUCT, payload, product_input
from workers import maintenance

ACTOR = audit.Actor(audit.CLI, "tester", request_id="req-1", client_address="192.0.2.7")
EVERYTHING = audit.Filter()


async def trail_of(tenant_id: UUID | None, **where: Any) -> list[audit.Entry]:
    return await trail.entries(tenant_id=tenant_id, where=audit.Filter(**where), before_id=None, limit=100)


async def scoped(connection: asyncpg.Connection, tenant_id: UUID | None, platform: bool = False) -> None:
    await connection.execute(
        "select set_config('app.tenant_id', $1, true), set_config('app.platform', $2, true)",
        "" if tenant_id is None else str(tenant_id), "on" if platform else "",
    )


async def test_a_key_and_its_record_commit_together(tenant_a: TenantHandle) -> None:
    key, token = await api_keys.create(tenant_id=tenant_a.id, name="ci", scopes={"admin"}, actor=ACTOR)

    [entry] = await trail_of(tenant_a.id, action="api_key.created", target_id=key.prefix)
    assert (entry.actor, entry.target_type, entry.tenant_id) == (ACTOR, "api_key", tenant_a.id)
    assert entry.before is None
    assert entry.after == {
        "id": str(key.id), "prefix": key.prefix, "name": "ci", "scopes": ["admin"],
        "expires_at": None, "revoked_at": None,
    }
    assert token.split("_", 2)[2] not in json.dumps(entry.after)


async def test_a_rolled_back_change_leaves_no_record_and_no_change(tenant_a: TenantHandle) -> None:
    with pytest.raises(RuntimeError, match="later step failed"):
        async with db.transaction(tenant_id=tenant_a.id):
            await api_keys.create(tenant_id=tenant_a.id, name="doomed", scopes={"admin"}, actor=ACTOR)
            raise RuntimeError("a later step failed")

    assert "doomed" not in {k.name for k in await api_keys.list_for_tenant(tenant_id=tenant_a.id)}
    assert await trail_of(tenant_a.id, actor="cli:tester") == []


async def test_a_record_that_cannot_be_written_undoes_its_change(tenant_a: TenantHandle) -> None:
    with pytest.raises(ValueError, match="dotted name"):
        async with db.transaction(tenant_id=tenant_a.id) as tx:
            await webhook_tables.create_endpoint("purchase-flow", tenant_id=tenant_a.id, actor=ACTOR)
            await trail.record(tx.connection, ACTOR, "Not An Action", "x", "y", tenant_id=tenant_a.id)

    assert await webhook_tables.list_endpoints(tenant_id=tenant_a.id) == []
    assert await trail_of(tenant_a.id, action_prefix="webhook_endpoint") == []


async def test_a_record_outside_a_transaction_is_refused(app_conn: asyncpg.Connection) -> None:
    with pytest.raises(RuntimeError, match="transaction of the change"):
        await trail.record(app_conn, ACTOR, "api_key.created", "api_key", "x", tenant_id=None)


async def test_secrets_are_never_stored_at_any_depth(tenant_a: TenantHandle) -> None:
    async with db.transaction(tenant_id=tenant_a.id) as tx:
        await trail.record(
            tx.connection, ACTOR, "test.secrets", "thing", "1", tenant_id=tenant_a.id,
            before={"secret": "whsec_a", "nested": {"Token": "tg_x_y", "kept": 1}},
            after={"secrets": ["whsec_b"], "list": [{"verify_token": "v", "password": "p"}]},
        )

    [entry] = await trail_of(tenant_a.id, action="test.secrets")
    assert entry.before == {"nested": {"kept": 1}}
    assert entry.after == {"list": [{}]}


async def test_a_tenant_scope_sees_only_its_own_records(
    tenant_a: TenantHandle, tenant_b: TenantHandle, app_conn: asyncpg.Connection, platform_key: str
) -> None:
    async with app_conn.transaction():
        await scoped(app_conn, tenant_b.id)
        seen = await app_conn.fetch("select tenant_id, action from audit_log")

    assert seen and {row["tenant_id"] for row in seen} == {tenant_b.id}
    assert all(row["tenant_id"] is not None for row in seen), "no platform record"


async def test_no_scope_sees_nothing(tenant_a: TenantHandle, app_conn: asyncpg.Connection) -> None:
    async with app_conn.transaction():
        await scoped(app_conn, None)
        assert await app_conn.fetchval("select count(*) from audit_log") == 0


@pytest.mark.parametrize("whose", ["other tenant", "platform"])
async def test_a_tenant_scope_cannot_write_into_another_trail(
    tenant_a: TenantHandle, tenant_b: TenantHandle, app_conn: asyncpg.Connection, whose: str
) -> None:
    target = tenant_b.id if whose == "other tenant" else None
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
        async with app_conn.transaction():
            await scoped(app_conn, tenant_a.id)
            await trail.record(app_conn, ACTOR, "api_key.created", "api_key", "x", tenant_id=target)


async def test_the_app_role_never_updates_a_record_and_prunes_only_as_the_platform(
    tenant_a: TenantHandle, app_conn: asyncpg.Connection
) -> None:
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        async with app_conn.transaction():
            await scoped(app_conn, tenant_a.id, platform=True)
            await app_conn.execute("update audit_log set action = 'api_key.forged'")
    async with app_conn.transaction():
        await scoped(app_conn, tenant_a.id)
        status = await app_conn.execute("delete from audit_log where tenant_id = $1", tenant_a.id)

    assert status == "DELETE 0"
    assert await trail_of(tenant_a.id, action="api_key.created")


async def test_a_record_outlives_the_pruning_of_events(
    tenant_a: TenantHandle, owner: asyncpg.Connection
) -> None:
    payload(await tenant_a.gql(CREATE_PRODUCT, {"input": product_input("Kettle", ["K-1"])}), "createProduct")
    key, _ = await api_keys.create(tenant_id=tenant_a.id, name="kept", scopes={"admin"}, actor=ACTOR)
    long_ago = datetime.now(UTC) - timedelta(days=30)
    async with owner.transaction():
        await scoped(owner, tenant_a.id, platform=True)
        await owner.execute(
            "update events set created_at = $2, published_at = $2 where tenant_id = $1",
            tenant_a.id, long_ago,
        )

    pruned = await maintenance.prune_events({"event_retention_days": 7})

    assert pruned >= 1
    assert await outbox.list_events(tenant_id=tenant_a.id) == []
    [kept] = await trail_of(tenant_a.id, target_id=key.prefix)
    assert kept.action == "api_key.created"


async def test_audit_retention_prunes_only_records_older_than_it(
    tenant_a: TenantHandle, owner: asyncpg.Connection
) -> None:
    long_ago = datetime.now(UTC) - timedelta(days=40)
    async with owner.transaction():
        await scoped(owner, tenant_a.id, platform=True)
        for tenant_id, target in ((tenant_a.id, "old"), (None, "gone")):
            await owner.execute(OLD_RECORD, tenant_id, target, long_ago)
    new, _ = await api_keys.create(tenant_id=tenant_a.id, name="new", scopes={"admin"}, actor=ACTOR)

    pruned = await maintenance.prune_audit({"audit_retention_days": 30})

    assert pruned >= 2
    assert [e.target_id for e in await trail_of(tenant_a.id, actor="cli:tester")] == [new.prefix]
    assert await trail_of(None, target_id="gone") == []


OLD_RECORD = """
insert into audit_log (tenant_id, actor_kind, actor_id, action, target_type, target_id, created_at)
values ($1, 'cli', 'tester', 'api_key.created', 'api_key', $2, $3)
"""
