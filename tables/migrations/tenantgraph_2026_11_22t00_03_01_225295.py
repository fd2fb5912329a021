from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import BigInt

ID = "2026-11-22T00:03:01:225295"
VERSION = "1.38.0"
DESCRIPTION = "events.seq is given at commit (see the next migration)"


async def forwards() -> MigrationManager:
    manager = MigrationManager(
        migration_id=ID, app_name="tenantgraph", description=DESCRIPTION
    )

    manager.alter_column(
        table_class_name="EventTable",
        tablename="events",
        column_name="seq",
        db_column_name="seq",
        params={"default": None, "null": True},
        old_params={"default": 0, "null": False},
        column_class=BigInt,
        old_column_class=BigInt,
        schema=None,
    )

    return manager
