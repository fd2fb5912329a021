from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from tables.migrations import rls

ID = "2026-11-21T21:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "foundation security: tenant-scoped keys and foreign keys, row-level security"


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="tenantgraph", description=DESCRIPTION)
    manager.add_raw(_constraints_and_security)
    return manager


TENANT_TABLES = ("categories", "products", "variants")
PLATFORM_TABLES = ("tenants", "api_keys")


async def _constraints_and_security() -> None:
    await rls.run(
        """
        alter table categories add constraint categories_tenant_id_id_key unique (tenant_id, id);
        alter table categories add constraint categories_tenant_id_handle_key
            unique (tenant_id, handle);
        alter table categories add constraint categories_tenant_fk
            foreign key (tenant_id) references tenants (id) on delete cascade;
        alter table categories add constraint categories_parent_fk
            foreign key (tenant_id, parent_id) references categories (tenant_id, id);

        alter table products add constraint products_tenant_id_id_key unique (tenant_id, id);
        alter table products add constraint products_tenant_id_handle_key
            unique (tenant_id, handle);
        alter table products add constraint products_tenant_fk
            foreign key (tenant_id) references tenants (id) on delete cascade;
        alter table products add constraint products_category_fk
            foreign key (tenant_id, category_id) references categories (tenant_id, id);
        alter table products add constraint products_status_check
            check (status in ('draft', 'active', 'archived'));
        create index products_tenant_created_idx on products (tenant_id, created_at, id);
        create index products_tenant_title_idx on products (tenant_id, title, id);

        alter table variants add constraint variants_tenant_id_sku_key unique (tenant_id, sku);
        alter table variants add constraint variants_product_fk
            foreign key (tenant_id, product_id) references products (tenant_id, id)
            on delete cascade;
        alter table variants add constraint variants_price_check check (price_amount >= 0);
        create index variants_tenant_product_idx on variants (tenant_id, product_id, position);

        alter table api_keys add constraint api_keys_tenant_id_prefix_key
            unique (tenant_id, prefix);
        alter table api_keys add constraint api_keys_tenant_fk
            foreign key (tenant_id) references tenants (id) on delete cascade;
        create index api_keys_prefix_idx on api_keys (prefix);
        """
    )
    for table in TENANT_TABLES:
        await rls.tenant_policy(table)
    await rls.platform_policy("tenants", tenant_column="id")
    await rls.platform_policy("api_keys", tenant_column="tenant_id")
