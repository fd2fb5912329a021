from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from tables.migrations import rls

ID = "2026-12-05T12:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "webhook_inbox.available_at and the index claims of ready deliveries read"


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="tenantgraph", description=DESCRIPTION)
    manager.add_raw(_claims)
    return manager


async def _claims() -> None:
    # A failed attempt sets available_at to now() + backoff. Workers claim a (tenant, flow)'s
    # ready rows oldest first, and find which (tenant, flow) pairs have any, from this index.
    await rls.run(
        """
        alter table webhook_inbox add column available_at timestamptz not null default now();
        create index webhook_inbox_ready_idx
            on webhook_inbox (tenant_id, flow, received_at, id) include (available_at)
            where status in ('queued', 'failed');
        """
    )
