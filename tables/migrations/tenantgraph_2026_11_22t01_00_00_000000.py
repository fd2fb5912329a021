from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from tables.engine import APP_ROLE
from tables.migrations import rls

ID = "2026-11-22T01:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "order numbers from a sequence per tenant: taking one waits for no other order"


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="tenantgraph", description=DESCRIPTION)
    manager.add_raw(_order_numbers)
    return manager


async def _order_numbers() -> None:
    # A counter row locked until commit made one tenant's orders wait for each other from
    # numbering to COMMIT. A sequence never waits: an order that rolls back after taking its
    # number leaves a gap, as in most commerce systems. Each tenant's sequence is made with the
    # tenant (a trigger; sequences of existing tenants here, continuing from their counters),
    # as the owner: the app role creates nothing, and takes numbers only through the function,
    # for the tenant of its own transaction. Should a sequence be missing, the function makes
    # it, and the tenant's other orders wait for that transaction once.
    await rls.run(
        f"""
        create or replace function tg_make_order_numbers(p_tenant uuid) returns void
        language plpgsql volatile security definer set search_path = public, pg_temp as $$
        declare
            seq_name text := 'order_numbers_' || replace(p_tenant::text, '-', '');
            scope text := coalesce(current_setting('app.tenant_id', true), '');
            start_at bigint;
        begin
            perform pg_advisory_xact_lock(hashtext(seq_name));
            -- The counter is read in the tenant's scope (RLS), then the caller's scope is back.
            perform set_config('app.tenant_id', p_tenant::text, true);
            select coalesce(max(value), 0) + 1 into start_at from tenant_counters
            where tenant_id = p_tenant and name = 'orders';
            perform set_config('app.tenant_id', scope, true);
            execute format('create sequence if not exists %I start with %s', seq_name, start_at);
        end $$;
        revoke all on function tg_make_order_numbers(uuid) from public;

        create or replace function tg_next_order_number(p_tenant uuid) returns bigint
        language plpgsql volatile security definer set search_path = public, pg_temp as $$
        declare
            seq_name text := 'order_numbers_' || replace(p_tenant::text, '-', '');
        begin
            if p_tenant is distinct from nullif(current_setting('app.tenant_id', true), '')::uuid then
                raise exception 'order numbers are taken in the tenant''s own transaction'
                    using errcode = '42501';
            end if;
            if to_regclass(seq_name) is null then
                perform tg_make_order_numbers(p_tenant);
            end if;
            return nextval(seq_name);
        end $$;
        revoke all on function tg_next_order_number(uuid) from public;
        grant execute on function tg_next_order_number(uuid) to {APP_ROLE};

        create or replace function tg_tenant_order_numbers() returns trigger
        language plpgsql security definer set search_path = public, pg_temp as $$
        begin
            perform tg_make_order_numbers(new.id);
            return null;
        end $$;
        create trigger tenants_order_numbers after insert on tenants
            for each row execute function tg_tenant_order_numbers();

        do $$
        declare
            tenant record;
        begin
            for tenant in select id from tenants loop
                perform tg_make_order_numbers(tenant.id);
            end loop;
        end $$;
        """
    )
