from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import BigInt

ID = "2026-11-22T00:06:47:891082"
VERSION = "1.38.0"
DESCRIPTION = "orders.number is given last in the order's transaction (tables.orders._numbered)"


async def forwards() -> MigrationManager:
    manager = MigrationManager(
        migration_id=ID, app_name="tenantgraph", description=DESCRIPTION
    )

    manager.alter_column(
        table_class_name="OrderTable",
        tablename="orders",
        column_name="number",
        db_column_name="number",
        params={"default": None, "null": True},
        old_params={"default": 0, "null": False},
        column_class=BigInt,
        old_column_class=BigInt,
        schema=None,
    )

    return manager
