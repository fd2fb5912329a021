from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from tables.migrations import rls

ID = "2026-11-22T00:20:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "webhook_accept: a verified delivery stored in one statement (tables.webhooks.accept_signed)"


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="tenantgraph", description=DESCRIPTION)
    manager.add_raw(_accept_function)
    return manager


async def _accept_function() -> None:
    # One round trip, in the statement's own transaction: the tenant scope is set first (RLS
    # applies: the function runs as its caller), then nothing is stored unless the endpoint is
    # still enabled and holds exactly the secrets the signature was checked against, so a
    # process holding endpoints in memory never accepts a secret rotated out or dropped.
    # No rows: the endpoint changed. Else the stored delivery, and whether this call stored it.
    await rls.run(
        """
        create or replace function webhook_accept(
            p_tenant_id uuid, p_flow text, p_delivery_id text, p_payload jsonb,
            p_correlation_id text, p_secrets text[]
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
            return query
                insert into webhook_inbox as i (id, tenant_id, flow, delivery_id, payload, status,
                                                attempts, correlation_id, received_at, updated_at)
                values (gen_random_uuid(), p_tenant_id, p_flow, p_delivery_id, p_payload, 'queued',
                        0, p_correlation_id, now(), now())
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
