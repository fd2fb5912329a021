from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from tables.migrations import rls

ID = "2026-12-05T11:20:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "outbound_messages.next_trigger: why a message is due next (scheduled, manual, recovery)"


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="tenantgraph", description=DESCRIPTION)
    manager.add_raw(_next_trigger)
    return manager


async def _next_trigger() -> None:
    # A redelivery or a recovery makes a message due; the engine's next attempt records that
    # trigger and sets it back to 'scheduled' in the same transaction.
    await rls.run(
        """
        alter table outbound_messages add column next_trigger text not null default 'scheduled'
            check (next_trigger in ('scheduled', 'manual', 'recovery'));
        """
    )
