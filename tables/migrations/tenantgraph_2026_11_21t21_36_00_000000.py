from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from tables.migrations import rls

ID = "2026-11-21T21:36:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "webhook security and the outbox relay: unique deliveries, RLS, NOTIFY on events"


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="tenantgraph", description=DESCRIPTION)
    manager.add_raw(_constraints_and_security)
    return manager


async def _constraints_and_security() -> None:
    await rls.run(
        """
        alter table webhook_endpoints add constraint webhook_endpoints_tenant_id_flow_key
            unique (tenant_id, flow);
        alter table webhook_endpoints add constraint webhook_endpoints_tenant_fk
            foreign key (tenant_id) references tenants (id) on delete cascade;
        alter table webhook_endpoints add constraint webhook_endpoints_secrets_check
            check (cardinality(secrets) between 1 and 2);

        alter table webhook_inbox add constraint webhook_inbox_tenant_flow_delivery_key
            unique (tenant_id, flow, delivery_id);
        alter table webhook_inbox add constraint webhook_inbox_tenant_fk
            foreign key (tenant_id) references tenants (id) on delete cascade;
        alter table webhook_inbox add constraint webhook_inbox_status_check
            check (status in ('queued', 'processed', 'failed', 'dead'));
        create index webhook_inbox_pending_idx on webhook_inbox (status, received_at)
            where status in ('queued', 'failed');
        create index webhook_inbox_tenant_status_idx
            on webhook_inbox (tenant_id, status, flow, received_at);
        """
    )
    # Endpoints are found by (tenant, flow) before a request has a tenant scope: platform reads.
    await rls.platform_policy("webhook_endpoints", tenant_column="tenant_id")
    # Workers sweep the inbox across tenants: platform reads; everything else per tenant.
    await rls.platform_policy("webhook_inbox", tenant_column="tenant_id")
    # The relay publishes every tenant's events: platform reads, and a wake-up per commit.
    await rls.run(
        """
        drop policy events_isolation on events;
        create or replace function tg_notify_event() returns trigger language plpgsql as $$
        begin
            perform pg_notify('tg_events', new.tenant_id::text);
            return null;
        end $$;
        create trigger events_notify after insert on events
            for each row execute function tg_notify_event();
        """
    )
    await rls.platform_policy("events", tenant_column="tenant_id")
