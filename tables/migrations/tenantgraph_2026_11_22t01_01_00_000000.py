from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from tables.migrations import rls

ID = "2026-11-22T01:01:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "events_seq leaves rows that come numbered alone (writers from before 2026-11-22T00:04)"


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="tenantgraph", description=DESCRIPTION)
    manager.add_raw(_keep_given_numbers)
    return manager


async def _keep_given_numbers() -> None:
    # During a rolling deploy, processes from before commit-time numbering still take numbers
    # from the counter (locked until their commit) and insert them: renumbering those rows
    # would spend two numbers per event and leave a gap that resuming subscribers see as
    # CURSOR_EXPIRED. Such a writer holds the counter row until it commits, so the rows
    # numbered at commit by others still follow it in order.
    await rls.run(
        """
        create or replace function tg_event_seq() returns trigger language plpgsql as $$
        declare
            next_seq bigint;
        begin
            if new.seq is not null then
                return null;
            end if;
            insert into tenant_counters (tenant_id, name, value) values (new.tenant_id, 'events', 1)
            on conflict (tenant_id, name) do update set value = tenant_counters.value + 1
            returning value into next_seq;
            update events set seq = next_seq where id = new.id;
            return null;
        end $$;
        """
    )
