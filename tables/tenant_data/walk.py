"""Which tables hold a tenant's rows, read from the catalog, in foreign-key order.

A tenant table is any table with a `tenant_id` column, plus `tenants` itself (keyed by `id`).
Every other table must be named in GLOBAL_TABLES: a new table that holds tenant data without
saying so is an error here, not a table that export and deletion silently skip.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from domain.errors import Invalid

TENANTS = "tenants"
GLOBAL_TABLES = frozenset({"migration"})
"""Tables that hold no tenant's data (Piccolo's migration log)."""


@dataclasses.dataclass(frozen=True)
class Column:
    name: str
    type: str
    serial: bool
    """Numbered from a sequence of the whole database: taken afresh on import."""


@dataclasses.dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    parents: frozenset[str]
    self_refs: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]
    """Foreign keys to the table itself: (referencing columns, referenced columns)."""

    @property
    def tenant_column(self) -> str:
        return "id" if self.name == TENANTS else "tenant_id"

    @property
    def order_by(self) -> str:
        names = [c.name for c in self.columns]
        return "id" if "id" in names else ", ".join(names)


COLUMNS = """
select c.table_name, c.column_name, c.data_type, coalesce(c.column_default, '') like 'nextval(%' as serial
from information_schema.columns c
join information_schema.tables t using (table_schema, table_name)
where c.table_schema = 'public' and t.table_type = 'BASE TABLE'
order by c.table_name, c.ordinal_position
"""

FOREIGN_KEYS = """
select con.conrelid::regclass::text as child, con.confrelid::regclass::text as parent,
       array(select a.attname::text from unnest(con.conkey) with ordinality k(n, i)
             join pg_attribute a on a.attrelid = con.conrelid and a.attnum = k.n order by k.i) as columns,
       array(select a.attname::text from unnest(con.confkey) with ordinality k(n, i)
             join pg_attribute a on a.attrelid = con.confrelid and a.attnum = k.n order by k.i) as refs
from pg_constraint con
join pg_namespace ns on ns.oid = con.connamespace
where con.contype = 'f' and ns.nspname = 'public'
"""


async def tenant_tables(connection: Any) -> list[Table]:
    """Every tenant table, parents before children (`tenants` first)."""
    columns: dict[str, list[Column]] = {}
    for row in await connection.fetch(COLUMNS):
        columns.setdefault(row["table_name"], []).append(
            Column(row["column_name"], row["data_type"], row["serial"])
        )
    tenant_names = {n for n, cols in columns.items() if any(c.name == "tenant_id" for c in cols)}
    tenant_names.add(TENANTS)
    unknown = sorted(set(columns) - tenant_names - GLOBAL_TABLES)
    if unknown:
        raise Invalid(
            f"tables {', '.join(unknown)} have no tenant_id and are not known to be global: "
            "give them a tenant_id or add them to tables.tenant_data.walk.GLOBAL_TABLES"
        )
    parents: dict[str, set[str]] = {n: set() for n in tenant_names}
    self_refs: dict[str, list[tuple[tuple[str, ...], tuple[str, ...]]]] = {n: [] for n in tenant_names}
    for fk in await connection.fetch(FOREIGN_KEYS):
        child, parent = fk["child"], fk["parent"]
        if child not in tenant_names:
            continue
        if parent == child:
            self_refs[child].append((tuple(fk["columns"]), tuple(fk["refs"])))
        elif parent in tenant_names:
            parents[child].add(parent)
    tables = {
        n: Table(n, tuple(columns[n]), frozenset(parents[n]), tuple(self_refs[n]))
        for n in tenant_names
    }
    return [tables[n] for n in _parents_first(parents)]


def _parents_first(parents: dict[str, set[str]]) -> list[str]:
    ordered: list[str] = []
    done: set[str] = set()
    while len(ordered) < len(parents):
        ready = sorted(n for n, ps in parents.items() if n not in done and ps <= done)
        if not ready:
            raise Invalid(f"foreign keys form a cycle among {sorted(set(parents) - done)}")
        ordered.extend(ready)
        done.update(ready)
    return ordered
