"""Apply migrations as the owner role and make sure the app role exists and owns nothing."""

from __future__ import annotations

import contextlib
import io
import os

import asyncpg
from piccolo.apps.migrations.commands.forwards import run_forwards

from tables.engine import APP_ROLE, configure


async def migrate(owner_dsn: str, *, app_password: str) -> None:
    await ensure_app_role(owner_dsn, app_password)
    configure(owner_dsn)
    # Piccolo's runner finds its app registry through this variable.
    os.environ.setdefault("PICCOLO_CONF", "tables.piccolo_conf")
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        result = await run_forwards(app_name="all")
    if not result.success:
        raise RuntimeError(f"migrations failed: {result.message}\n{output.getvalue()}")


async def ensure_app_role(owner_dsn: str, password: str) -> None:
    literal = password.replace("'", "''")
    connection = await asyncpg.connect(owner_dsn)
    try:
        database = await connection.fetchval("select current_database()")
        await connection.execute(
            f"""
            do $$ begin
                if not exists (select from pg_roles where rolname = '{APP_ROLE}') then
                    create role {APP_ROLE} login;
                end if;
            end $$;
            alter role {APP_ROLE} with login nosuperuser nobypassrls nocreatedb nocreaterole
                password '{literal}';
            grant connect on database "{database}" to {APP_ROLE};
            grant usage on schema public to {APP_ROLE};
            """
        )
    finally:
        await connection.close()
