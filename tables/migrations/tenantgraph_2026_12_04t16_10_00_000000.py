from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from tables.migrations import rls

ID = "2026-12-04T16:10:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "trace context (W3C traceparent) on inbox rows and events; webhook_accept stores it"


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="tenantgraph", description=DESCRIPTION)
    manager.add_raw(_trace_context)
    return manager


async def _trace_context() -> None:
    # Nullable, no default: adding them rewrites nothing, and untraced work writes a NULL.
    # webhook_accept of 2026-12-04T09:40 stays (processes of an older release during a rolling
    # deploy); this overload takes the delivery's traceparent as an eighth argument.
    await rls.run(
        """
        alter table webhook_inbox add column traceparent text;
        alter table events add column traceparent text;

        create or replace function webhook_accept(
            p_tenant_id uuid, p_flow text, p_delivery_id text, p_payload jsonb,
            p_correlation_id text, p_secrets text[], p_replay_window interval, p_traceparent text
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
