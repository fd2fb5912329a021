from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from tables.migrations import rls

ID = "2026-12-05T12:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "webhooks out: NOTIFY tg_outbound_endpoints when a tenant's enabled endpoints change"


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="tenantgraph", description=DESCRIPTION)
    manager.add_raw(_endpoint_changes)
    return manager


async def _endpoint_changes() -> None:
    # Dispatchers keep the set of tenants with enabled endpoints and ignore the others' events,
    # so a tenant's cursor stands still while it has none. Enabling an endpoint while the tenant
    # has no other moves the cursor past the events committed until then (max(seq) is read
    # before the transaction commits), as a dispatcher that saw no endpoint would have: they are
    # not its. A new endpoint needs no move (it only takes events written after its creation),
    # and inserted rows (a tenant import, with its own cursor row) are left as they are.
    await rls.run(
        """
        create or replace function tg_outbound_endpoints_changed() returns trigger
        language plpgsql as $$
        declare
            tenant uuid := case when tg_op = 'DELETE' then old.tenant_id else new.tenant_id end;
        begin
            if tg_op = 'UPDATE' and new.enabled and not exists (
                select 1 from outbound_endpoints
                where tenant_id = tenant and enabled and id <> new.id
            ) then
                insert into outbound_cursors as c (tenant_id, last_seq)
                values (tenant, (select coalesce(max(seq), 0) from events where tenant_id = tenant))
                on conflict (tenant_id) do update set last_seq = greatest(c.last_seq, excluded.last_seq);
            end if;
            perform pg_notify('tg_outbound_endpoints', tenant::text);
            return null;
        end $$;
        create trigger outbound_endpoints_enabled after insert on outbound_endpoints
            for each row when (new.enabled) execute function tg_outbound_endpoints_changed();
        create trigger outbound_endpoints_toggled after update of enabled on outbound_endpoints
            for each row when (old.enabled is distinct from new.enabled)
            execute function tg_outbound_endpoints_changed();
        create trigger outbound_endpoints_deleted after delete on outbound_endpoints
            for each row when (old.enabled) execute function tg_outbound_endpoints_changed();
        """
    )
