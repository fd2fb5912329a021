from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from tables.migrations import rls

ID = "2026-12-05T10:10:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "trusted documents: each tenant's persisted GraphQL documents, with their use"


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="tenantgraph", description=DESCRIPTION)
    manager.add_raw(_trusted_documents)
    return manager


async def _trusted_documents() -> None:
    # A Relay or manifest id that is not the sha256 of its body is stored twice: under that
    # id and under the sha256, which is what a client sending the text is looked up by.
    await rls.run(
        """
        create table trusted_documents (
            tenant_id uuid not null references tenants (id) on delete cascade,
            hash text not null,
            sha256 text not null,
            body text not null,
            operation_names text[] not null default '{}',
            source text not null check (source in ('pushed', 'learned')),
            first_seen timestamptz not null default now(),
            last_seen timestamptz,
            count bigint not null default 0,
            primary key (tenant_id, hash)
        );
        """
    )
    await rls.tenant_policy("trusted_documents")
