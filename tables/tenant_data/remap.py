"""Fresh ids for a copy of a tenant beside the original: every uuid primary key gets a new
value, and every reference to it follows, in uuid columns, in text columns holding a uuid
(e.g. events.aggregate_id) and in strings anywhere in JSON payloads (events, settings)."""

from __future__ import annotations

from typing import Any

from tables.tenant_data import scope, walk

UUID_TEXT = "'^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'"

FUNCTIONS = f"""
create temp table tg_idmap (old uuid primary key, new uuid not null) on commit drop;
create function pg_temp.tg_remap_text(t text) returns text language sql stable as $$
    select case when t ~ {UUID_TEXT}
        then coalesce((select m.new::text from tg_idmap m where m.old = t::uuid), t) else t end
$$;
create function pg_temp.tg_remap_json(j jsonb) returns jsonb language plpgsql stable as $$
begin
    return case jsonb_typeof(j)
        when 'object' then coalesce((select jsonb_object_agg(pg_temp.tg_remap_text(k),
                                                            pg_temp.tg_remap_json(v))
                                     from jsonb_each(j) e(k, v)), '{{}}'::jsonb)
        when 'array' then coalesce((select jsonb_agg(pg_temp.tg_remap_json(v) order by i)
                                    from jsonb_array_elements(j) with ordinality a(v, i)), '[]'::jsonb)
        when 'string' then to_jsonb(pg_temp.tg_remap_text(j #>> '{{}}'))
        else j end;
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
