from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from tables.migrations import rls

ID = "2026-11-22T00:04:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "event sequence numbers are taken at commit, so one tenant's writers overlap"


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="tenantgraph", description=DESCRIPTION)
    manager.add_raw(_sequence_at_commit)
    return manager


async def _sequence_at_commit() -> None:
    # A deferred constraint trigger runs at COMMIT, after all the transaction's other work:
    # the tenant's counter row is locked only from there to the end of the commit, so
    # sequence numbers still commit in order with no gap, and concurrent writers of one
    # tenant serialise on a few statements instead of on their whole transactions. Rows of
    # one transaction are numbered in insertion order (deferred triggers fire in that order).
    await rls.run(
        """
        create or replace function tg_event_seq() returns trigger language plpgsql as $$
        declare
            next_seq bigint;
        begin
            insert into tenant_counters (tenant_id, name, value) values (new.tenant_id, 'events', 1)
            on conflict (tenant_id, name) do update set value = tenant_counters.value + 1
            returning value into next_seq;
            update events set seq = next_seq where id = new.id;
            return null;
        end $$;
        create constraint trigger events_seq after insert on events
            deferrable initially deferred for each row execute function tg_event_seq();
        """
    )
