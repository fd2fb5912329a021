from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from tables.migrations import rls

ID = "2026-12-05T13:10:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "events_seq numbers every tenant's events of a transaction in its first firing, found by id"


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="tenantgraph", description=DESCRIPTION)
    manager.add_raw(_number_by_id_range)
    return manager


async def _number_by_id_range() -> None:
    # A firing found its tenant's unnumbered rows on the (tenant_id, seq) index, where every
    # numbered row leaves a dead (tenant, null) entry until VACUUM: under a steady write rate
    # each commit walked all of them. The rows this transaction inserted lie between the firing
    # row's id and the session's last id (currval): other sessions' rows in that range are
    # invisible or committed, and so numbered. The null test is `coalesce(seq, 0) = 0` (no seq
    # is 0), which no index answers: written `seq is null`, the generic plan of this statement
    # scanned the nulls of the (tenant_id, seq) index across tenants.
    # The first firing numbers every tenant's rows it sees, locking their counters in tenant
    # order (one firing where a statement wrote twenty tenants' events), and marks each tenant
    # done up to its last id; a tenant it could not see numbers its own rows at its own firing,
    # as before. Rows that come numbered are left alone.
    await rls.run(
        """
        create or replace function tg_event_seq() returns trigger language plpgsql as $$
        declare
            last_inserted bigint;
            tenants integer;
        begin
            if new.seq is not null
               or new.id <= coalesce(nullif(current_setting(
                      'tg_events_seq.t' || replace(new.tenant_id::text, '-', ''), true), '')::bigint, 0)
            then
                return null;
            end if;
            last_inserted := currval(pg_get_serial_sequence('events', 'id'));
            with mine as (
                select id, tenant_id,
                       row_number() over (partition by tenant_id order by id) as position,
                       count(*) over (partition by tenant_id) as total
                from events
                where id >= new.id and id <= last_inserted and coalesce(seq, 0) = 0
            ), counter as (
                insert into tenant_counters (tenant_id, name, value)
                select tenant_id, 'events', max(total) from mine group by tenant_id order by tenant_id
                on conflict (tenant_id, name) do update set value = tenant_counters.value + excluded.value
                returning tenant_id, value
            ), numbered as (
                update events set seq = counter.value - mine.total + mine.position
                from mine join counter on counter.tenant_id = mine.tenant_id
                where events.id = mine.id
                returning events.id, events.tenant_id
            )
            select count(done) from (
                select set_config('tg_events_seq.t' || replace(tenant_id::text, '-', ''),
                                  max(id)::text, true) as done
                from numbered group by tenant_id
            ) marked into tenants;
            return null;
        end $$;
        """
    )
