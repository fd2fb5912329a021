from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from tables.migrations import rls

ID = "2026-12-04T13:01:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "shipping security: tenant-scoped keys, checks, indexes, row-level security"

TENANT_TABLES = ("shipments", "shipment_lines")


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="tenantgraph", description=DESCRIPTION)
    manager.add_raw(_constraints_and_security)
    return manager


async def _constraints_and_security() -> None:
    # Every reference carries the tenant, so no row can point at another tenant's order,
    # line or shipment, whatever the SQL that writes it.
    await rls.run(
        """
        alter table order_lines add constraint order_lines_tenant_id_id_key unique (tenant_id, id);

        alter table shipments add constraint shipments_tenant_id_id_key unique (tenant_id, id);
        alter table shipments add constraint shipments_order_fk
            foreign key (tenant_id, order_id) references orders (tenant_id, id) on delete cascade;
        alter table shipments add constraint shipments_status_check
            check (status in ('pending', 'shipped', 'delivered', 'returned'));
        create index shipments_tenant_order_idx on shipments (tenant_id, order_id, created_at, id);
        create index shipments_tenant_created_idx on shipments (tenant_id, created_at, id);

        alter table shipment_lines add constraint shipment_lines_shipment_fk
            foreign key (tenant_id, shipment_id) references shipments (tenant_id, id)
            on delete cascade;
        alter table shipment_lines add constraint shipment_lines_order_line_fk
            foreign key (tenant_id, order_line_id) references order_lines (tenant_id, id)
            on delete cascade;
        alter table shipment_lines add constraint shipment_lines_shipment_line_key
            unique (tenant_id, shipment_id, order_line_id);
        alter table shipment_lines add constraint shipment_lines_quantity_check check (quantity > 0);
        create index shipment_lines_tenant_order_line_idx on shipment_lines (tenant_id, order_line_id);
        """
    )
    for table in TENANT_TABLES:
        await rls.tenant_policy(table)
