from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from tables.migrations import rls

ID = "2026-12-05T13:20:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "events_seq plans without sequential scans: its rows are found on the primary key"


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="tenantgraph", description=DESCRIPTION)
    manager.add_raw(_no_seqscan)
    return manager


async def _no_seqscan() -> None:
    # The function's plan is made when its session first commits events and kept: on a fresh
    # database, statistics that saw a small events table made it a sequential scan, which then
    # read the whole table at every commit as it grew (bench (c): 64 million rows read in
    # 10,000 scans, createOrder at 0.27x). The id range on the primary key is the way in
    # whatever the statistics say.
    await rls.run("alter function tg_event_seq() set enable_seqscan = off;")
