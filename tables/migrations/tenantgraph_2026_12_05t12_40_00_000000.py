from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from tables.migrations import rls

ID = "2026-12-05T12:40:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "events_seq numbers all of a transaction's events of a tenant in one step at commit"


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="tenantgraph", description=DESCRIPTION)
    manager.add_raw(_number_in_one_step)
    return manager


async def _number_in_one_step() -> None:
    # Deferred triggers fire in insertion order, and ids of one transaction grow in insertion
    # order (one session's nextval), so the first firing of a tenant has the lowest id of that
    # tenant's unnumbered rows: it bumps the counter once by their count and numbers them in id
    # order. Other transactions' unnumbered rows are invisible (numbered before they commit).
    # The highest id numbered is kept in a transaction-local setting per tenant, so the later
    # firings return at once, and rows inserted after an early firing (SET CONSTRAINTS
    # IMMEDIATE) are still numbered by theirs. Rows that come numbered are left alone.
    await rls.run(
        """
        create or replace function tg_event_seq() returns trigger language plpgsql as $$
        declare
            done_key text := 'tg_events_seq.t' || replace(new.tenant_id::text, '-', '');
            last_id integer;
        begin
            if new.seq is not null
               or new.id <= coalesce(nullif(current_setting(done_key, true), '')::integer, 0) then
                return null;
            end if;
            with mine as (
                select id, row_number() over (order by id) as position, count(*) over () as total
                from events
                where id >= new.id and tenant_id = new.tenant_id and seq is null
            ), counter as (
                insert into tenant_counters (tenant_id, name, value)
                select new.tenant_id, 'events', count(*) from mine
                on conflict (tenant_id, name) do update set value = tenant_counters.value + excluded.value
                returning value
            ), numbered as (
                update events set seq = counter.value - mine.total + mine.position
                from mine, counter
                where events.id = mine.id
                returning events.id
            )
            select max(id) from numbered into last_id;
            perform set_config(done_key, last_id::text, true);
            return null;
        end $$;
        """
    )
