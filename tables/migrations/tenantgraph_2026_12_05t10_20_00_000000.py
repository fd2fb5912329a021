from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from tables.migrations import rls

ID = "2026-12-05T10:20:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "api key rotation: a rotated key names its successor"


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="tenantgraph", description=DESCRIPTION)
    manager.add_raw(_successor)
    return manager


async def _successor() -> None:
    # Nullable, no default: adding it rewrites nothing. A successor purged after revocation
    # leaves its predecessor rotated all the same.
    await rls.run(
        """
        alter table api_keys add column replaced_by uuid
            references api_keys (id) on delete set null;
        """
    )
