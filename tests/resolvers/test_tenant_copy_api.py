"""A tenant imported as a copy (fresh ids, same database) through /graphql: it reads its own
data only, and new writes continue its order numbers and event sequence."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from tables import api_keys, tenants
from tables.tenant_data import exporting, importing
from tests import tenant_data
from tests.conftest import TenantHandle
from tests.shop import CREATE_ORDER, ORDERS

PRODUCTS = "{ products(first: 50) { edges { node { id handle variants { id sku } } } } }"


def nodes(body: dict[str, Any], field: str) -> list[dict[str, Any]]:
    assert "errors" not in body, body
    return [edge["node"] for edge in body["data"][field]["edges"]]


async def test_a_copy_reads_only_its_own_rows_and_takes_new_orders_and_events(
    make_tenant: Any, client: httpx.AsyncClient, owner_dsn: str, tmp_path: Path
) -> None:
    original: TenantHandle = await make_tenant(modules=tenant_data.ALL_MODULES)
    await tenant_data.fill(original.tenant)
    owner = await asyncpg.connect(owner_dsn)
    try:
        await exporting.export(owner, slug=original.slug, out=tmp_path / "a.tar")
        done = await importing.load(owner, tmp_path / "a.tar", as_slug=f"x-{uuid.uuid4().hex[:10]}")
        _, key = await api_keys.create(tenant_id=done.tenant_id, name="admin", scopes={"admin"})
        copy = TenantHandle(tenant=await tenants.get(done.tenant_id), key=key, client=client)

        theirs = nodes(await original.gql(PRODUCTS), "products")
        ours = nodes(await copy.gql(PRODUCTS), "products")
        assert sorted(p["handle"] for p in ours) == sorted(p["handle"] for p in theirs)
        assert not {p["id"] for p in ours} & {p["id"] for p in theirs}
        their_orders = nodes(await original.gql(ORDERS, {"first": 50}), "orders")
        our_orders = nodes(await copy.gql(ORDERS, {"first": 50}), "orders")
        assert sorted(o["number"] for o in our_orders) == sorted(o["number"] for o in their_orders)
        assert not {o["id"] for o in our_orders} & {o["id"] for o in their_orders}

        created = await copy.gql(CREATE_ORDER, {"input": {"lines": [{"sku": "BEAN-1", "quantity": 1}]}})
        assert created["data"]["createOrder"]["errors"] == [], created
        number = created["data"]["createOrder"]["order"]["number"]
        assert number == max(o["number"] for o in our_orders) + 1
        assert len(nodes(await original.gql(ORDERS, {"first": 50}), "orders")) == len(their_orders)

        seqs = [r["seq"] for r in await owner.fetch(
            "select seq from events where tenant_id = $1 order by seq", done.tenant_id)]
        assert seqs == list(range(1, len(seqs) + 1)) and len(seqs) > done.rows["events"]
        with_old_key = nodes(await copy.gql(PRODUCTS, key=original.key), "products")
        assert with_old_key == theirs, "keys are not copied: the original's name the original"
    finally:
        await owner.close()

