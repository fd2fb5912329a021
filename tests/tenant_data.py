"""A tenant with rows in every tenant table, and archives compared by content."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import tarfile
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import asyncpg

from domain import catalog, documents, metrics, tenancy
from domain import modules as domain_modules
from server import demo
from services import catalog as catalog_services
from tables import db
from tables import documents as document_tables
from tables import idempotency as idempotency_tables
from tables import metrics as metric_tables
from tables import webhooks as webhook_tables
from tables.tenant_data import walk
from tests.documents import META

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


async def fill(tenant: tenancy.Tenant) -> None:
    """The demo's commerce data (stock, price list, customers, orders, payments, shipments),
    plus what the demo leaves out: a category tree, a custom metric, a webhook endpoint and a
    delivery in its inbox, an answered Idempotency-Key and a trusted document."""
    coffee = await catalog_services.create_category(
        name="Coffee", handle="coffee", parent_id=None, tenant_id=tenant.id, meta=META)
    beans = await catalog_services.create_category(
        name="Beans", handle="beans", parent_id=coffee.id, tenant_id=tenant.id, meta=META)
    skus = ["BEAN-1", "BEAN-2", "MUG-1"]
    for index, sku in enumerate(skus):
        await catalog_services.create_product(
            catalog.ProductDraft(title=f"Item {sku}", handle=sku.lower(), category_id=beans.id,
                                 attributes={"origin": "ET"}),
            [catalog.VariantDraft(sku=sku, title=sku, price=catalog.Money(900 + index, "EUR"))],
            tenant_id=tenant.id, meta=META,
        )
    await demo.commerce(tenant, skus, meta=META)
    await metric_tables.record(
        metrics.MetricDraft("visits", Decimal("12.5"), (("channel", "web"),), datetime.now(UTC)),
        tenant_id=tenant.id, meta=META,
    )
    endpoint = await webhook_tables.create_endpoint("purchase-flow", tenant_id=tenant.id)
    await webhook_tables.accept_signed(
        endpoint, delivery_id=f"d{uuid.uuid4().hex}", payload=json.dumps({"version": 1}),
        correlation_id="test",
    )
    key = idempotency_tables.Key(tenant.id, "key:test", "order-1")
    token = await idempotency_tables.claim(
        key, "hash", retention=timedelta(hours=24), stale_after=timedelta(hours=1)
    )
    assert isinstance(token, uuid.UUID)
    await idempotency_tables.finish(key, token, 200, b'{"data":{"createOrder":null}}')
    trusted = "query Slug { tenant { slug } }"
    await document_tables.push(
        [document_tables.Stored(documents.sha256(trusted), trusted, ("Slug",))], tenant_id=tenant.id
    )
    await _outbound(tenant.id)


async def _outbound(tenant_id: uuid.UUID) -> None:
    """An outbound endpoint with a message, its attempt and the dispatcher's cursor, and the
    relay's cursor."""
    async with db.transaction(tenant_id=tenant_id) as tx:
        endpoint = await tx.connection.fetchval(
            "insert into outbound_endpoints (tenant_id, url, event_types, secrets) values"
            " ($1, 'https://example.com/hook', '{*}',"
            " '[{\"secret\": \"whsec_dGVzdC1zZWNyZXQtb2YtMjQtYnl0ZXMh\"}]') returning id",
            tenant_id)
        message = await tx.connection.fetchval(
            "insert into outbound_messages (tenant_id, endpoint_id, event_seq, event_type, msg_id,"
            " body) values ($1, $2, 1, 'order.created', 'msg_1', '{}') returning id",
            tenant_id, endpoint)
        await tx.connection.execute(
            "insert into outbound_attempts (tenant_id, message_id, endpoint_id) values ($1, $2, $3)",
            tenant_id, message, endpoint)
        await tx.connection.execute(
            "insert into outbound_cursors (tenant_id, last_seq) values ($1, 1)", tenant_id)
        await tx.connection.execute(
            "insert into relay_cursors (tenant_id, last_seq) values ($1, 0)", tenant_id)


ALL_MODULES = tuple(domain_modules.MODULES)


async def counts(connection: asyncpg.Connection, tenant_id: uuid.UUID) -> dict[str, int]:
    """Rows of the tenant in each tenant table, read as the owner under the tenant's scope."""
    async with connection.transaction():
        await connection.execute(
            "select set_config('app.platform', 'on', true), set_config('app.tenant_id', $1, true)",
            str(tenant_id),
        )
        return {
            table.name: await connection.fetchval(
                f"select count(*) from {table.name} where {table.tenant_column} = $1", tenant_id)
            for table in await walk.tenant_tables(connection)
        }


def contents(path: Path, ids: Mapping[str, str] | None = None, slug: str | None = None,
             skip: frozenset[str] = frozenset()) -> dict[str, tuple[int, str]]:
    """Per table of an archive: (rows, sha256 of its sorted rows), database-wide serial ids
    left out, every uuid read through `ids` (new -> old) and the tenant's slug read as `slug`."""
    found: dict[str, tuple[int, str]] = {}
    with tarfile.open(path) as tar:
        manifest = json.loads(_read(tar, "manifest.json"))
        for table in manifest["tables"]:
            if table["name"] in skip:
                continue
            names = [c["name"] for c in table["columns"]]
            keep = [i for i, c in enumerate(table["columns"])
                    if not (c["name"] == "id" and c["type"] in ("integer", "bigint"))]
            rows = list(csv.reader(io.StringIO(_read(tar, table["file"]).decode())))[1:]
            if slug is not None and table["name"] == walk.TENANTS:
                rows = [[slug if names[i] == "slug" else v for i, v in enumerate(r)] for r in rows]
            lines = sorted(json.dumps([_mapped(row[i], ids or {}) for i in keep]) for row in rows)
            found[table["name"]] = (len(rows), hashlib.sha256("\n".join(lines).encode()).hexdigest())
    return found


def uuids(path: Path, skip: frozenset[str] = frozenset()) -> set[str]:
    """Every uuid written anywhere in an archive's tables."""
    with tarfile.open(path) as tar:
        return {found for info in tar.getmembers()
                if info.name.startswith("tables/") and info.name[7:-4] not in skip
                for found in UUID.findall(_read(tar, info.name).decode())}


def _mapped(value: str, ids: Mapping[str, str]) -> str:
    return UUID.sub(lambda m: ids.get(m.group(0), m.group(0)), value)


def _read(tar: tarfile.TarFile, name: str) -> bytes:
    file = tar.extractfile(name)
    assert file is not None
    return file.read()


def id_map(path: Path) -> dict[str, str]:
    """new -> old, from the CSV `tenant import --id-map` writes."""
    with path.open() as file:
        return {row["new"]: row["old"] for row in csv.DictReader(file)}
