"""Row-level security helpers for migrations: enable and force RLS, grant the app role."""

from __future__ import annotations

from tables.engine import APP_ROLE, DB

CURRENT_TENANT = "nullif(current_setting('app.tenant_id', true), '')::uuid"
PLATFORM = "current_setting('app.platform', true) = 'on'"


async def run(sql: str) -> None:
    """Execute several statements in the migration's transaction (fetch() allows only one)."""
    transaction = DB.current_transaction.get()
    if transaction is not None:
        await transaction.connection.execute(sql)
        return
    connection = await DB.get_new_connection()
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


async def tenant_policy(table: str) -> None:
    """Rows of the current tenant only; no tenant set means no rows."""
    await _secure(table, f"tenant_id = {CURRENT_TENANT}")


async def platform_policy(table: str, *, tenant_column: str) -> None:
    """Registry tables: the current tenant's rows, or every row under the platform scope."""
    await _secure(table, f"{tenant_column} = {CURRENT_TENANT} or {PLATFORM}")


async def _secure(table: str, condition: str) -> None:
    await run(
        f"""
        alter table {table} enable row level security;
        alter table {table} force row level security;
        create policy {table}_isolation on {table}
            using ({condition}) with check ({condition});
        grant select, insert, update, delete on {table} to {APP_ROLE};
        """
    )
