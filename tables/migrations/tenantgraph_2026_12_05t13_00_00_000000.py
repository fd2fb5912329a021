from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from tables.migrations import rls

ID = "2026-12-05T13:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "relay_cursors: the relay claims each tenant's events after its last published sequence number"


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="tenantgraph", description=DESCRIPTION)
    manager.add_raw(_relay_cursors)
    return manager


async def _relay_cursors() -> None:
    # The relay found its batch on the partial index of unpublished events, from its start:
    # every publish leaves a dead entry there until VACUUM, whose threshold grows with the
    # table, so on a large events table each claim walked hundreds of thousands of them. A
    # cursor per tenant starts the claim at the first unpublished event of the unique
    # (tenant_id, seq) index. The relay reads the event counters across tenants to see which
    # are ahead of their cursor (platform reads; tenants still see only their own).
    await rls.run(
        """
        create table relay_cursors (
            tenant_id uuid primary key references tenants (id) on delete cascade,
            last_seq bigint not null default 0
        );
        drop policy tenant_counters_isolation on tenant_counters;
        """
    )
    await rls.platform_policy("relay_cursors", tenant_column="tenant_id")
    await rls.platform_policy("tenant_counters", tenant_column="tenant_id")
    await rls.run(
        """
        select set_config('app.platform', 'on', true);
        insert into relay_cursors (tenant_id, last_seq)
        select c.tenant_id, coalesce((select min(e.seq) - 1 from events e
                                      where e.tenant_id = c.tenant_id and e.published_at is null
                                        and e.seq is not null), c.value)
        from tenant_counters c where c.name = 'events';
        """
    )
