from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from tables.migrations import rls

ID = "2026-11-21T21:32:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "commerce domain security: tenant-scoped keys, checks, indexes, row-level security"

TENANT_TABLES = (
    "events", "tenant_counters", "price_lists", "variant_prices", "locations", "stock_levels",
    "stock_adjustments", "reservations", "customers", "customer_addresses", "orders",
    "order_lines", "payments", "metrics",
)


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="tenantgraph", description=DESCRIPTION)
    manager.add_raw(_constraints_and_security)
    return manager


async def _constraints_and_security() -> None:
    await rls.run(
        """
        alter table variants add constraint variants_tenant_id_id_key unique (tenant_id, id);
        alter table variants add constraint variants_compare_at_check
            check (compare_at_amount is null or compare_at_amount >= 0);

        alter table events add constraint events_tenant_id_seq_key unique (tenant_id, seq);
        alter table events add constraint events_tenant_fk
            foreign key (tenant_id) references tenants (id) on delete cascade;
        create index events_unpublished_idx on events (tenant_id, seq) where published_at is null;
        create index events_tenant_aggregate_idx on events (tenant_id, aggregate_type, aggregate_id, seq);
        create index events_tenant_created_idx on events (tenant_id, created_at, seq);

        alter table tenant_counters add constraint tenant_counters_tenant_id_name_key
            unique (tenant_id, name);
        alter table tenant_counters add constraint tenant_counters_tenant_fk
            foreign key (tenant_id) references tenants (id) on delete cascade;

        alter table price_lists add constraint price_lists_tenant_id_id_key unique (tenant_id, id);
        alter table price_lists add constraint price_lists_tenant_id_handle_key
            unique (tenant_id, handle);
        alter table price_lists add constraint price_lists_tenant_fk
            foreign key (tenant_id) references tenants (id) on delete cascade;
        alter table variant_prices add constraint variant_prices_tenant_variant_list_key
            unique (tenant_id, variant_id, price_list_id);
        alter table variant_prices add constraint variant_prices_list_fk
            foreign key (tenant_id, price_list_id) references price_lists (tenant_id, id)
            on delete cascade;
        alter table variant_prices add constraint variant_prices_variant_fk
            foreign key (tenant_id, variant_id) references variants (tenant_id, id) on delete cascade;
        alter table variant_prices add constraint variant_prices_amount_check
            check (amount >= 0 and (compare_at_amount is null or compare_at_amount >= 0));

        alter table locations add constraint locations_tenant_id_id_key unique (tenant_id, id);
        alter table locations add constraint locations_tenant_id_handle_key
            unique (tenant_id, handle);
        alter table locations add constraint locations_tenant_fk
            foreign key (tenant_id) references tenants (id) on delete cascade;
        alter table stock_levels add constraint stock_levels_tenant_variant_location_key
            unique (tenant_id, variant_id, location_id);
        alter table stock_levels add constraint stock_levels_variant_fk
            foreign key (tenant_id, variant_id) references variants (tenant_id, id) on delete cascade;
        alter table stock_levels add constraint stock_levels_location_fk
            foreign key (tenant_id, location_id) references locations (tenant_id, id);
        alter table stock_levels add constraint stock_levels_quantities_check
            check (on_hand >= 0 and reserved >= 0 and reserved <= on_hand);
        create index stock_levels_tenant_location_idx on stock_levels (tenant_id, location_id);
        alter table stock_adjustments add constraint stock_adjustments_variant_fk
            foreign key (tenant_id, variant_id) references variants (tenant_id, id) on delete cascade;
        alter table stock_adjustments add constraint stock_adjustments_location_fk
            foreign key (tenant_id, location_id) references locations (tenant_id, id);
        alter table stock_adjustments add constraint stock_adjustments_reason_check
            check (reason in ('received', 'sold', 'returned', 'damaged', 'correction'));
        create index stock_adjustments_tenant_variant_idx
            on stock_adjustments (tenant_id, variant_id, created_at);

        alter table customers add constraint customers_tenant_id_id_key unique (tenant_id, id);
        alter table customers add constraint customers_tenant_id_email_key
            unique (tenant_id, email_key);
        alter table customers add constraint customers_tenant_fk
            foreign key (tenant_id) references tenants (id) on delete cascade;
        alter table customers add constraint customers_email_key_check
            check (email_key = lower(email));
        create index customers_tenant_created_idx on customers (tenant_id, created_at, id);
        create index customers_tenant_name_idx on customers (tenant_id, last_name, first_name, id);
        alter table customer_addresses add constraint customer_addresses_customer_fk
            foreign key (tenant_id, customer_id) references customers (tenant_id, id)
            on delete cascade;
        create index customer_addresses_tenant_customer_idx
            on customer_addresses (tenant_id, customer_id);

        alter table orders add constraint orders_tenant_id_id_key unique (tenant_id, id);
        alter table orders add constraint orders_tenant_id_number_key unique (tenant_id, number);
        alter table orders add constraint orders_tenant_id_idempotency_key_key
            unique (tenant_id, idempotency_key);
        alter table orders add constraint orders_tenant_id_external_ref_key
            unique (tenant_id, external_ref);
        alter table orders add constraint orders_tenant_fk
            foreign key (tenant_id) references tenants (id) on delete cascade;
        alter table orders add constraint orders_customer_fk
            foreign key (tenant_id, customer_id) references customers (tenant_id, id);
        alter table orders add constraint orders_price_list_fk
            foreign key (tenant_id, price_list_id) references price_lists (tenant_id, id);
        alter table orders add constraint orders_status_check
            check (status in ('pending', 'paid', 'fulfilled', 'cancelled', 'refunded'));
        alter table orders add constraint orders_totals_check
            check (subtotal >= 0 and discount_total >= 0 and tax_total >= 0 and total >= 0);
        create index orders_tenant_created_idx on orders (tenant_id, created_at, id);
        create index orders_tenant_customer_idx on orders (tenant_id, customer_id, created_at, id);
        create index orders_tenant_status_idx on orders (tenant_id, status, created_at, id);
        alter table order_lines add constraint order_lines_order_fk
            foreign key (tenant_id, order_id) references orders (tenant_id, id) on delete cascade;
        alter table order_lines add constraint order_lines_variant_fk
            foreign key (tenant_id, variant_id) references variants (tenant_id, id);
        alter table order_lines add constraint order_lines_quantity_check
            check (quantity > 0 and unit_price >= 0 and discount >= 0 and line_total >= 0);
        create index order_lines_tenant_order_idx on order_lines (tenant_id, order_id, position);
        create index order_lines_tenant_variant_idx on order_lines (tenant_id, variant_id);

        alter table reservations add constraint reservations_order_fk
            foreign key (tenant_id, order_id) references orders (tenant_id, id) on delete cascade;
        alter table reservations add constraint reservations_variant_fk
            foreign key (tenant_id, variant_id) references variants (tenant_id, id);
        alter table reservations add constraint reservations_location_fk
            foreign key (tenant_id, location_id) references locations (tenant_id, id);
        alter table reservations add constraint reservations_status_check
            check (status in ('active', 'committed', 'released') and quantity > 0);
        create index reservations_tenant_order_idx on reservations (tenant_id, order_id);

        alter table payments add constraint payments_order_fk
            foreign key (tenant_id, order_id) references orders (tenant_id, id) on delete cascade;
        alter table payments add constraint payments_kind_check
            check (kind in ('authorization', 'capture', 'refund') and amount > 0);
        create index payments_tenant_order_idx on payments (tenant_id, order_id, created_at);

        alter table metrics add constraint metrics_tenant_fk
            foreign key (tenant_id) references tenants (id) on delete cascade;
        create index metrics_tenant_name_recorded_idx on metrics (tenant_id, name, recorded_at);
        """
    )
    for table in TENANT_TABLES:
        await rls.tenant_policy(table)
    await rls.run("grant usage on all sequences in schema public to tenantgraph_app;")
