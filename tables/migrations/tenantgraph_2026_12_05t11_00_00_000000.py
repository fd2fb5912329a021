from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from tables.migrations import rls

ID = "2026-12-05T11:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "webhooks out: endpoints, messages, attempts and the dispatcher's cursor per tenant"


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="tenantgraph", description=DESCRIPTION)
    manager.add_raw(_outbound)
    return manager


async def _outbound() -> None:
    await rls.run(
        """
        create table outbound_endpoints (
            id uuid primary key default gen_random_uuid(),
            tenant_id uuid not null references tenants (id) on delete cascade,
            url text not null,
            description text not null default '',
            event_types text[] not null default '{}',
            enabled boolean not null default true,
            disabled_reason text,
            secrets jsonb not null default '[]',
            headers jsonb not null default '{}',
            rate_limit integer check (rate_limit > 0),
            failing_since timestamptz,
            created_at timestamptz not null default now(),
            updated_at timestamptz not null default now()
        );
        create index outbound_endpoints_tenant_idx on outbound_endpoints (tenant_id, created_at);

        create table outbound_messages (
            id uuid primary key default gen_random_uuid(),
            tenant_id uuid not null references tenants (id) on delete cascade,
            endpoint_id uuid not null references outbound_endpoints (id) on delete cascade,
            event_seq bigint,
            event_type text not null,
            msg_id text not null,
            body jsonb not null,
            status text not null default 'pending'
                check (status in ('pending', 'succeeded', 'retrying', 'exhausted')),
            attempts integer not null default 0,
            next_attempt_at timestamptz not null default now(),
            claimed_until timestamptz,
            last_attempt_at timestamptz,
            succeeded_at timestamptz,
            created_at timestamptz not null default now(),
            updated_at timestamptz not null default now(),
            unique (endpoint_id, event_seq)
        );
        create index outbound_messages_endpoint_idx
            on outbound_messages (endpoint_id, status, event_seq);
        create index outbound_messages_due_idx on outbound_messages (next_attempt_at)
            where status in ('pending', 'retrying');

        create table outbound_attempts (
            id uuid primary key default gen_random_uuid(),
            tenant_id uuid not null references tenants (id) on delete cascade,
            message_id uuid not null references outbound_messages (id) on delete cascade,
            endpoint_id uuid not null references outbound_endpoints (id) on delete cascade,
            attempted_at timestamptz not null default now(),
            duration_ms integer not null default 0,
            response_status integer,
            response_body text not null default '',
            error text,
            trigger text not null default 'scheduled'
                check (trigger in ('scheduled', 'manual', 'recovery'))
        );
        create index outbound_attempts_message_idx on outbound_attempts (message_id, attempted_at);

        create table outbound_cursors (
            tenant_id uuid primary key references tenants (id) on delete cascade,
            last_seq bigint not null default 0
        );
        """
    )
    # The dispatcher and the sweep of due messages work across tenants (platform reads, like
    # webhook_inbox); every API read and write is scoped to the current tenant.
    for table in ("outbound_endpoints", "outbound_messages", "outbound_attempts", "outbound_cursors"):
        await rls.platform_policy(table, tenant_column="tenant_id")
