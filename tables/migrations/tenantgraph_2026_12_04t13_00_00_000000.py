from typing import Any

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import UUID, Integer, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.defaults.uuid import UUID4
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-04T13:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "shipping domain tables: shipments and the order lines they carry"

# (column, class, params) per table, as `piccolo migrations new --auto` would write them.
TABLES: dict[tuple[str, str], list[tuple[str, type, dict[str, Any]]]] = {
    ("ShipmentTable", "shipments"): [
        ("id", UUID, {"default": UUID4(), "primary_key": True}),
        ("tenant_id", UUID, {"default": UUID4()}),
        ("order_id", UUID, {"default": UUID4()}),
        ("status", Varchar, {"length": 16, "default": "pending"}),
        ("carrier", Varchar, {"length": 64, "default": ""}),
        ("service", Varchar, {"length": 64, "default": ""}),
        ("tracking_number", Varchar, {"length": 128, "default": ""}),
        ("tracking_url", Varchar, {"length": 2048, "default": ""}),
        ("created_at", Timestamptz, {"default": TimestamptzNow()}),
        ("updated_at", Timestamptz, {"default": TimestamptzNow()}),
    ],
    ("ShipmentLineTable", "shipment_lines"): [
        ("id", UUID, {"default": UUID4(), "primary_key": True}),
        ("tenant_id", UUID, {"default": UUID4()}),
        ("shipment_id", UUID, {"default": UUID4()}),
        ("order_line_id", UUID, {"default": UUID4()}),
        ("quantity", Integer, {"default": 0}),
    ],
}


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="tenantgraph", description=DESCRIPTION)
    for (class_name, tablename), columns in TABLES.items():
        manager.add_table(class_name=class_name, tablename=tablename, schema=None, columns=None)
        for name, column_class, params in columns:
            manager.add_column(
                table_class_name=class_name,
                tablename=tablename,
                column_name=name,
                db_column_name=name,
                column_class_name=column_class.__name__,
                column_class=column_class,
                params={
                    "null": False, "primary_key": False, "unique": False, "index": False,
                    "index_method": IndexMethod.btree, "choices": None, "db_column_name": None,
                    "secret": False, **params,
                },
                schema=None,
            )
    return manager
