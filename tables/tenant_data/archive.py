"""The export format, version 1: an uncompressed tar holding

- `tables/<table>.csv` for each tenant table: PostgreSQL `COPY ... (FORMAT csv, HEADER)` of the
  tenant's rows, columns as listed in the manifest, ordered by `id`;
- `manifest.json`, written last: `{"format": "tenantgraph-tenant-export", "version": 1,
  "migration": <latest applied migration id>, "tenant": {"id", "slug"}, "exported_at",
  "tables": [{"name", "file", "columns": [{"name", "type"}], "rows", "sha256"}]}`, tables in
  foreign-key order (parents first).

Each table is spooled to a temporary file while it is copied out (the tenant is never held in
memory), then appended to the tar.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tarfile
import tempfile
from pathlib import Path
from typing import IO, Any, BinaryIO
from uuid import UUID

from domain.errors import Invalid

FORMAT = "tenantgraph-tenant-export"
VERSION = 1
MANIFEST = "manifest.json"
CHUNK = 1 << 16


@dataclasses.dataclass(frozen=True)
class TableEntry:
    name: str
    columns: list[dict[str, str]]
    rows: int
    sha256: str

    @property
    def file(self) -> str:
        return f"tables/{self.name}.csv"


@dataclasses.dataclass(frozen=True)
class Manifest:
    migration: str
    tenant_id: str
    slug: str
    exported_at: str
    tables: list[TableEntry]

    def to_json(self) -> bytes:
        body = {
            "format": FORMAT, "version": VERSION, "migration": self.migration,
            "tenant": {"id": self.tenant_id, "slug": self.slug}, "exported_at": self.exported_at,
            "tables": [{"name": t.name, "file": t.file, "columns": t.columns, "rows": t.rows,
                        "sha256": t.sha256} for t in self.tables],
        }
        return json.dumps(body, indent=2).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Manifest:
        try:
            body = json.loads(raw)
            if body.get("format") != FORMAT:
                raise Invalid(f"not a tenant export (format {body.get('format')!r})")
            if body.get("version") != VERSION:
                raise Invalid(f"export format version {body.get('version')!r} is not supported "
                              f"(this release reads version {VERSION})")
            tables = [TableEntry(t["name"], t["columns"], int(t["rows"]), t["sha256"])
                      for t in body["tables"]]
            tenant = body["tenant"]
            return cls(body["migration"], str(UUID(tenant["id"])), tenant["slug"],
                       body["exported_at"], tables)
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise Invalid(f"the manifest is unreadable: {error!r}") from None


class Spool:
    """One table's CSV on its way into the archive: written to disk and hashed as it streams."""

    def __init__(self) -> None:
        self.file: IO[bytes] = tempfile.TemporaryFile()
        self.hash = hashlib.sha256()

    async def write(self, chunk: bytes) -> None:
        self.hash.update(chunk)
        self.file.write(chunk)


def add(tar: tarfile.TarFile, name: str, source: BinaryIO | IO[bytes], size: int) -> None:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o600
    tar.addfile(info, source)


def add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    with tempfile.TemporaryFile() as file:
        file.write(data)
        file.seek(0)
        add(tar, name, file, len(data))


def open_verified(path: Path) -> tuple[tarfile.TarFile, Manifest]:
    """Open an archive and check it all before anything is written: format, version, every
    table's file present with its checksum, no stray members."""
    try:
        tar = tarfile.open(path, "r:")
    except (OSError, tarfile.TarError) as error:
        raise Invalid(f"{path} is not a readable tar archive: {error}") from None
    try:
        manifest = Manifest.from_json(_read(tar, MANIFEST))
        expected = {t.file for t in manifest.tables} | {MANIFEST}
        stray = sorted(set(tar.getnames()) - expected)
        if stray:
            raise Invalid(f"the archive holds files its manifest does not list: {stray}")
        for table in manifest.tables:
            if _sha256(tar, table.file) != table.sha256:
                raise Invalid(f"checksum mismatch in {table.file}: the archive is corrupt")
    except BaseException:
        tar.close()
        raise
    return tar, manifest


def member(tar: tarfile.TarFile, name: str) -> IO[bytes]:
    try:
        file = tar.extractfile(name)
    except KeyError:
        file = None
    if file is None:
        raise Invalid(f"the archive has no {name}")
    return file


def _read(tar: tarfile.TarFile, name: str) -> bytes:
    return member(tar, name).read()


def _sha256(tar: tarfile.TarFile, name: str) -> str:
    digest = hashlib.sha256()
    file = member(tar, name)
    while chunk := file.read(CHUNK):
        digest.update(chunk)
    return digest.hexdigest()


def columns_of(entry: TableEntry) -> list[str]:
    return [c["name"] for c in entry.columns]


def describe(columns: Any) -> list[dict[str, str]]:
    return [{"name": c.name, "type": c.type} for c in columns]
