"""Fresh ids for a copy of a tenant beside the original: every uuid primary key gets a new
value, and every reference to it follows, in uuid columns, in text columns holding a uuid
(e.g. events.aggregate_id) and in strings anywhere in JSON payloads (events, settings)."""

from __future__ import annotations

from typing import Any

from tables.tenant_data import scope, walk

UUID_PATTERN = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
UUID_TEXT = f"'^{UUID_PATTERN}$'"
QUOTED_UUID = f"""'"({UUID_PATTERN})"'"""

FUNCTIONS = f"""
create temp table tg_idmap (old uuid primary key, new uuid not null) on commit drop;
create function pg_temp.tg_remap_text(t text) returns text language sql stable as $$
    select case when t ~ {UUID_TEXT}
        then coalesce((select m.new::text from tg_idmap m where m.old = t::uuid), t) else t end
$$;
create function pg_temp.tg_remap_json(j jsonb) returns jsonb language plpgsql stable as $$
declare
    t text := j::text;
    found record;
begin
    -- JSON text quotes every string: a quoted uuid is a whole string value (or key).
    for found in select distinct m[1] as old from regexp_matches(t, {QUOTED_UUID}, 'g') m loop
        t := replace(t, '"' || found.old || '"', '"' || pg_temp.tg_remap_text(found.old) || '"');
    end loop;
    return t::jsonb;
end $$;
"""

ID_MAP = "tg_idmap"
TEXT_TYPES = {"text", "character varying"}


async def prepare(connection: Any, staged: dict[str, walk.Table]) -> None:
    await connection.execute(FUNCTIONS)
    for name, table in staged.items():
        if any(c.name == "id" and c.type == "uuid" for c in table.columns):
            await connection.execute(
                f"insert into tg_idmap select id, gen_random_uuid() from {scope.ident(stage(name))}"
            )
    await connection.execute("analyze tg_idmap")


async def apply(connection: Any, table: walk.Table) -> None:
    sets = [f"{scope.ident(c.name)} = {_mapped(c)}" for c in table.columns if _mapped(c)]
    if sets:
        await connection.execute(f"update {scope.ident(stage(table.name))} set {', '.join(sets)}")


def _mapped(column: walk.Column) -> str:
    name = scope.ident(column.name)
    if column.serial:
        return ""
    if column.type == "uuid":
        return f"coalesce((select m.new from tg_idmap m where m.old = {name}), {name})"
    if column.type in TEXT_TYPES:
        return f"pg_temp.tg_remap_text({name})"
    if column.type == "jsonb":
        return f"pg_temp.tg_remap_json({name})"
    return ""


def stage(table: str) -> str:
    return f"tg_stage_{table}"
