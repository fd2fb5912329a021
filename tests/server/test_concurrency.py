"""graphql-core resolves sibling fields concurrently while a Piccolo transaction pins one
connection: many DB-backed siblings, for two tenants at once, never share a connection (no
asyncpg InterfaceError, so no error at all) and never see each other's rows."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from typing import Any
from uuid import UUID

import pytest

from domain import catalog
from services import catalog as catalog_services
from tables import catalog as catalog_tables
from tables import db
from tests.documents import META

OWN_IDS = 8
FOREIGN_IDS = 4
OWN_SKUS = 3
FOREIGN_SKUS = 2
PRODUCTS_PER_TENANT = 12
REQUESTS_PER_TENANT = 20
ROUNDS = 3

PRODUCT_FIELDS = "id variants { sku } category { id name }"
SIBLINGS = "\n".join(
    [f"  own{i}: product(id: $own{i}) {{ {PRODUCT_FIELDS} }}" for i in range(OWN_IDS)]
    + [f"  foreign{i}: product(id: $foreign{i}) {{ id }}" for i in range(FOREIGN_IDS)]
    + [f"  ownSku{i}: productBySku(sku: $ownSku{i}) {{ {PRODUCT_FIELDS} }}" for i in range(OWN_SKUS)]
    + [f"  foreignSku{i}: productBySku(sku: $foreignSku{i}) {{ id }}" for i in range(FOREIGN_SKUS)]
)
ARGUMENTS = ", ".join(
    [f"$own{i}: ID!" for i in range(OWN_IDS)]
    + [f"$foreign{i}: ID!" for i in range(FOREIGN_IDS)]
    + [f"$ownSku{i}: String!" for i in range(OWN_SKUS)]
    + [f"$foreignSku{i}: String!" for i in range(FOREIGN_SKUS)]
)
MANY_SIBLINGS = f"""
query ManySiblings({ARGUMENTS}) {{
{SIBLINGS}
  byCreation: products(first: 50) {{ edges {{ node {{ {PRODUCT_FIELDS} }} }} }}
  byTitle: products(first: 50, orderBy: {{field: TITLE, direction: DESC}}) {{
    edges {{ node {{ {PRODUCT_FIELDS} }} }}
  }}
  categories {{ id name }}
  tenant {{ id slug }}
  apiKeys {{ prefix }}
}}
"""


@dataclasses.dataclass(frozen=True)
class Stock:
    """One tenant's catalog; every sku and category name starts with `prefix`."""

    tenant_id: UUID
    prefix: str
    product_ids: list[UUID]
    skus: list[str]
    category_ids: list[UUID]
    key_prefix: str


async def seed(tenant: Any, prefix: str) -> Stock:
    tenant_id = tenant.id
    categories = [
        await catalog_services.create_category(
            name=f"{prefix} category {i}", handle=f"category-{i}", parent_id=None,
            tenant_id=tenant_id, meta=META,
        )
        for i in range(3)
    ]
    product_ids: list[UUID] = []
    skus: list[str] = []
    for i in range(PRODUCTS_PER_TENANT):
        own_skus = [f"{prefix}-{i}-{size}" for size in ("S", "M")]
        draft = catalog.ProductDraft(
            title=f"{prefix} product {i}",
            handle=f"product-{i}",
            category_id=categories[i % len(categories)].id,
            attributes={"batch": "concurrency"},
        )
        variants = [
            catalog.VariantDraft(sku=sku, title=sku, price=catalog.Money(100 + i, "EUR"))
            for sku in own_skus
        ]
        product = await catalog_services.create_product(draft, variants, tenant_id=tenant_id, meta=META)
        product_ids.append(product.id)
        skus.extend(own_skus)
    return Stock(
        tenant_id=tenant_id,
        prefix=prefix,
        product_ids=product_ids,
        skus=skus,
        category_ids=[c.id for c in categories],
        key_prefix=tenant.key.split("_")[1],
    )


def prefix_for(label: str) -> str:
    return f"{label}{uuid.uuid4().hex[:6]}".upper()


@pytest.fixture
async def stock_a(tenant_a: Any) -> Stock:
    return await seed(tenant_a, prefix_for("A"))


@pytest.fixture
async def stock_b(tenant_b: Any) -> Stock:
    return await seed(tenant_b, prefix_for("B"))


def variables(own: Stock, other: Stock, round_: int) -> dict[str, Any]:
    """Ids and skus of both tenants, rotated per round so batches differ."""
    shift = round_ * 3
    ids = own.product_ids[shift:] + own.product_ids[:shift]
    return {
        **{f"own{i}": str(ids[i]) for i in range(OWN_IDS)},
        **{f"foreign{i}": str(other.product_ids[i + shift]) for i in range(FOREIGN_IDS)},
        **{f"ownSku{i}": own.skus[i + shift] for i in range(OWN_SKUS)},
        **{f"foreignSku{i}": other.skus[i + shift] for i in range(FOREIGN_SKUS)},
    }


def products_in(data: dict[str, Any]) -> list[dict[str, Any]]:
    found = [data[f"own{i}"] for i in range(OWN_IDS)] + [data[f"ownSku{i}"] for i in range(OWN_SKUS)]
    for alias in ("byCreation", "byTitle"):
        found += [edge["node"] for edge in data[alias]["edges"]]
    return found


def foreign_rows(data: dict[str, Any], own: Stock) -> list[Any]:
    """Every id, sku and category of the answer that is not `own`'s."""
    ids = {str(i) for i in own.product_ids}
    categories = {str(i) for i in own.category_ids}
    leaks: list[Any] = []
    for product in products_in(data):
        leaks += [product["id"]] if product["id"] not in ids else []
        leaks += [v["sku"] for v in product["variants"] if v["sku"] not in own.skus]
        category = product["category"]
        leaks += [category] if category["id"] not in categories else []
        leaks += [category] if not category["name"].startswith(own.prefix) else []
    leaks += [c for c in data["categories"] if c["id"] not in categories]
    leaks += [data[f"foreign{i}"] for i in range(FOREIGN_IDS) if data[f"foreign{i}"] is not None]
    leaks += [data[f"foreignSku{i}"] for i in range(FOREIGN_SKUS) if data[f"foreignSku{i}"] is not None]
    leaks += [data["tenant"]] if data["tenant"]["id"] != str(own.tenant_id) else []
    leaks += [key for key in data["apiKeys"] if key["prefix"] != own.key_prefix]
    return leaks


async def run_rounds(tenant_a: Any, tenant_b: Any, stock_a: Stock, stock_b: Stock) -> list[Any]:
    """(tenant handle, stock, body) for every request of every round."""
    answers: list[Any] = []
    for round_ in range(ROUNDS):
        calls = [
            (tenant, own, variables(own, other, round_))
            for _ in range(REQUESTS_PER_TENANT)
            for tenant, own, other in ((tenant_a, stock_a, stock_b), (tenant_b, stock_b, stock_a))
        ]
        bodies = await asyncio.gather(*(t.gql(MANY_SIBLINGS, v) for t, _, v in calls))
        answers += [(own, body) for (_, own, _), body in zip(calls, bodies, strict=True)]
    return answers


async def test_concurrent_sibling_heavy_queries_never_error(
    tenant_a: Any, tenant_b: Any, stock_a: Stock, stock_b: Stock
) -> None:
    answers = await run_rounds(tenant_a, tenant_b, stock_a, stock_b)

    errors = [body["errors"] for _, body in answers if "errors" in body]
    assert len(answers) == ROUNDS * REQUESTS_PER_TENANT * 2
    assert errors == []


async def test_concurrent_sibling_heavy_queries_see_only_own_rows(
    tenant_a: Any, tenant_b: Any, stock_a: Stock, stock_b: Stock
) -> None:
    answers = await run_rounds(tenant_a, tenant_b, stock_a, stock_b)

    leaks = [foreign_rows(body["data"], own) for own, body in answers]
    assert leaks == [[] for _ in answers]


async def test_concurrent_sibling_heavy_queries_see_all_own_rows(
    tenant_a: Any, tenant_b: Any, stock_a: Stock, stock_b: Stock
) -> None:
    answers = await run_rounds(tenant_a, tenant_b, stock_a, stock_b)

    for own, body in answers:
        data = body["data"]
        assert all(data[f"own{i}"] is not None for i in range(OWN_IDS))
        assert all(data[f"ownSku{i}"] is not None for i in range(OWN_SKUS))
        listed = {edge["node"]["id"] for edge in data["byCreation"]["edges"]}
        assert listed == {str(i) for i in own.product_ids}
        assert {c["id"] for c in data["categories"]} == {str(i) for i in own.category_ids}
        assert data["apiKeys"] == [{"prefix": own.key_prefix}]
        assert all(len(p["variants"]) == 2 for p in products_in(data))


# The same, one layer down: tables.catalog called from many tasks of one task tree


def catalog_calls(stock: Stock) -> list[Any]:
    """Coroutines reading `stock`'s tenant, each paired with a check of its result."""
    tenant_id = stock.tenant_id
    ids, skus = set(stock.product_ids), set(stock.skus)
    categories = set(stock.category_ids)
    every = catalog.ProductFilter()
    return [
        (catalog_tables.get_products(stock.product_ids, tenant_id=tenant_id),
         lambda found: set(found) == ids),
        (catalog_tables.variants_of(stock.product_ids, tenant_id=tenant_id),
         lambda found: {v.sku for vs in found.values() for v in vs} == skus),
        (catalog_tables.variants_by_sku(stock.skus, tenant_id=tenant_id),
         lambda found: set(found) == skus),
        (catalog_tables.variants_by_sku_with_products(stock.skus, tenant_id=tenant_id),
         lambda found: set(found[0]) == skus and set(found[1]) == ids),
        (catalog_tables.list_products(
            tenant_id=tenant_id, where=every, sort=catalog.ProductSort.TITLE,
            descending=False, after=None, limit=100),
         lambda found: {p.id for p in found} == ids),
        (catalog_tables.get_categories(stock.category_ids, tenant_id=tenant_id),
         lambda found: set(found) == categories),
        (catalog_tables.list_categories(tenant_id=tenant_id),
         lambda found: {c.id for c in found} == categories),
        (catalog_tables.find_by_attributes({"batch": "concurrency"}, tenant_id=tenant_id, limit=100),
         lambda found: {p.id for p in found} == ids),
    ]


async def gather_checked(stocks: list[Stock], repeat: int) -> list[bool]:
    pairs = [pair for _ in range(repeat) for stock in stocks for pair in catalog_calls(stock)]
    results = await asyncio.gather(*(call for call, _ in pairs))
    return [check(result) for (_, check), result in zip(pairs, results, strict=True)]


async def test_gathered_catalog_calls_for_two_tenants_are_correct(
    stock_a: Stock, stock_b: Stock
) -> None:
    checks = await gather_checked([stock_a, stock_b], repeat=10)

    assert checks == [True] * len(checks)


async def test_gathered_catalog_calls_inside_an_open_transaction_are_correct(
    stock_a: Stock, stock_b: Stock
) -> None:
    async with db.transaction(tenant_id=stock_a.tenant_id) as tx:
        before = await tx.connection.fetchval("select count(*) from products")
        checks = await gather_checked([stock_a, stock_b], repeat=10)
        after = await tx.connection.fetchval("select count(*) from products")

    assert checks == [True] * len(checks)
    assert before == after == PRODUCTS_PER_TENANT


async def test_gathered_calls_share_no_connection_with_the_open_transaction(
    stock_a: Stock, stock_b: Stock
) -> None:
    """The parent's connection is busy with its own query while the children run theirs."""
    async with db.transaction(tenant_id=stock_a.tenant_id) as tx:
        parent_query = tx.connection.fetchval("select count(*) from products, pg_sleep(0.2)")
        parent, *children = await asyncio.gather(
            parent_query,
            *(catalog_tables.get_products(stock.product_ids, tenant_id=stock.tenant_id)
              for _ in range(10) for stock in (stock_a, stock_b)),
        )

    assert parent == PRODUCTS_PER_TENANT
    assert [set(found) for found in children] == [
        set(stock.product_ids) for _ in range(10) for stock in (stock_a, stock_b)
    ]


async def test_calls_in_the_parent_task_join_its_transaction(stock_a: Stock, stock_b: Stock) -> None:
    async with db.transaction(tenant_id=stock_a.tenant_id) as tx:
        await tx.connection.execute("update products set title = title || ' (draft)'")
        own = await catalog_tables.get_products(stock_a.product_ids, tenant_id=stock_a.tenant_id)
        other = await catalog_tables.get_products(stock_b.product_ids, tenant_id=stock_b.tenant_id)
        await tx.connection.execute("update products set title = left(title, -8)")

    assert all(p.title.endswith(" (draft)") for p in own.values())
    assert set(own) == set(stock_a.product_ids)
    assert set(other) == set(stock_b.product_ids)
    assert not any(p.title.endswith(" (draft)") for p in other.values())
