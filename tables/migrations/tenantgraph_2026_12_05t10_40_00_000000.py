from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from tables.engine import APP_ROLE
from tables.migrations import rls

ID = "2026-12-05T10:40:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "audit trail of administrative changes (audit_log), apart from the pruned events"


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="tenantgraph", description=DESCRIPTION)
    manager.add_raw(_audit_log)
    return manager


async def _audit_log() -> None:
    # A tenant's rows (tenant_id set) are read and written under that tenant; the platform's
    # own (tenant_id null, e.g. a tenant's deletion, which must outlive the tenant) only under
    # the platform scope. A tenant's rows go with the tenant (tables.tenant_data deletes them in
    # batches, the foreign key takes any written meanwhile); a null tenant_id references
    # nothing, so the platform's record of a deletion stays. The app role gets no UPDATE and
    # there is no update policy: a record is never changed, only pruned (delete, under the
    # platform scope only).
    tenant = rls.CURRENT_TENANT
    platform = rls.PLATFORM
    await rls.run(
        f"""
        create table audit_log (
            id bigserial primary key,
            tenant_id uuid references tenants (id) on delete cascade,
            actor_kind text not null check (actor_kind in ('api_key', 'jwt', 'cli', 'system')),
            actor_id text not null,
            action text not null check (action ~ '^[a-z][a-z0-9_]*(\\.[a-z][a-z0-9_]*)+$'),
            target_type text not null,
            target_id text not null,
            before jsonb,
            after jsonb,
            request_id text,
            client_address text,
            created_at timestamptz not null default now()
        );
        create index audit_log_tenant_idx on audit_log (tenant_id, id);
        create index audit_log_platform_idx on audit_log (id) where tenant_id is null;
        create index audit_log_created_idx on audit_log (created_at);

        alter table audit_log enable row level security;
        alter table audit_log force row level security;
        create policy audit_log_read on audit_log for select
            using (tenant_id = {tenant} or {platform});
        create policy audit_log_append on audit_log for insert
            with check (tenant_id = {tenant} or {platform});
        create policy audit_log_prune on audit_log for delete using ({platform});
        grant select, insert, delete on audit_log to {APP_ROLE};
        grant usage on sequence audit_log_id_seq to {APP_ROLE};
        """
    )
