from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from tables.migrations import rls

ID = "2026-12-05T10:50:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "webhook_accept: one function, its replay window and traceparent defaulted to NULL"


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="tenantgraph", description=DESCRIPTION)
    manager.add_raw(_one_accept_function)
    return manager


async def _one_accept_function() -> None:
    # The three overloads (2026-11-22T00:20: six arguments; 2026-12-04T09:40: plus the replay
    # window; 2026-12-04T16:10: plus the traceparent) become one: a caller of any earlier
    # release (rolling deploys) still passes six, seven or eight arguments, and the missing ones
    # are NULL as before. The overloads go first: next to defaults they would make a call
    # ambiguous. The body is the eight-argument one, unchanged.
    await rls.run(
        """
        drop function webhook_accept(uuid, text, text, jsonb, text, text[]);
        drop function webhook_accept(uuid, text, text, jsonb, text, text[], interval);
        drop function webhook_accept(uuid, text, text, jsonb, text, text[], interval, text);

        create function webhook_accept(
            p_tenant_id uuid, p_flow text, p_delivery_id text, p_payload jsonb,
            p_correlation_id text, p_secrets text[], p_replay_window interval default null,
            p_traceparent text default null
        ) returns table (id uuid, status text, created boolean)
        language plpgsql volatile as $$
        #variable_conflict use_column
        begin
            perform set_config('app.tenant_id', p_tenant_id::text, true);
            perform 1 from webhook_endpoints e
            where e.tenant_id = p_tenant_id and e.flow = p_flow and e.enabled
              and e.secrets::text[] = p_secrets;
            if not found then
                return;
            end if;
            if p_replay_window is not null then
                update webhook_inbox i
                set delivery_id = i.delivery_id || '@'
                    || to_char(i.received_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
                where i.tenant_id = p_tenant_id and i.flow = p_flow
                  and i.delivery_id = p_delivery_id and i.received_at <= now() - p_replay_window;
            end if;
            return query
                insert into webhook_inbox as i (id, tenant_id, flow, delivery_id, payload, status,
                                                attempts, correlation_id, received_at, updated_at,
                                                traceparent)
                values (gen_random_uuid(), p_tenant_id, p_flow, p_delivery_id, p_payload, 'queued',
                        0, p_correlation_id, now(), now(), p_traceparent)
                on conflict (tenant_id, flow, delivery_id) do nothing
                returning i.id, i.status::text, true;
            if not found then
                return query
                    select i.id, i.status::text, false from webhook_inbox i
                    where i.tenant_id = p_tenant_id and i.flow = p_flow
                      and i.delivery_id = p_delivery_id;
            end if;
        end $$;
        """
    )
