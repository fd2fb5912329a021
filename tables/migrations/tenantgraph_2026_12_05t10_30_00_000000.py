from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from tables.migrations import rls

ID = "2026-12-05T10:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "idempotency keys of mutations (Idempotency-Key), per tenant and credential"


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="tenantgraph", description=DESCRIPTION)
    manager.add_raw(_idempotency_keys)
    return manager


async def _idempotency_keys() -> None:
    # `claim` fences a request whose claim was taken over (tables.idempotency.mark_executed);
    # the platform policy lets the maintenance job prune expired records of every tenant.
    await rls.run(
        """
        create table idempotency_keys (
            id uuid primary key default gen_random_uuid(),
            tenant_id uuid not null references tenants (id) on delete cascade,
            credential text not null,
            key text not null,
            request_hash text not null,
            claim uuid not null,
            created_at timestamptz not null default now(),
            executed_at timestamptz,
            finished_at timestamptz,
            status smallint,
            body bytea,
            constraint idempotency_keys_tenant_credential_key_key unique (tenant_id, credential, key)
        );
        create index idempotency_keys_created_idx on idempotency_keys (created_at);
        """
    )
    await rls.platform_policy("idempotency_keys", tenant_column="tenant_id")
