"""DataLoaders: a page of products with variants and category costs a constant number of queries."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from domain import catalog
from services import catalog as catalog_services
from tables.engine import DB
from tests.documents import META

PAGE = """
query Page($first: Int!) {
  products(first: $first) {
    edges { node { id title category { name } variants { sku price { amount } } } }
  }
}
"""


@pytest.fixture
def query_log(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every statement Piccolo sends, recorded on its way to the real engine."""
    statements: list[str] = []
    run = DB.run_querystring

    async def counting(querystring: Any, in_pool: bool = True) -> Any:
        statements.append(str(querystring))
        return await run(querystring, in_pool)

    monkeypatch.setattr(DB, "run_querystring", counting)
    yield statements


async def seed(tenant: Any, count: int) -> None:
    shelf = await catalog_services.create_category(
        name="Shelf", handle="shelf", parent_id=None, tenant_id=tenant.id, meta=META
    )
    for n in range(count):
        draft = catalog.ProductDraft(title=f"P{n}", handle=f"p-{n}", category_id=shelf.id)
        variants = [
            catalog.VariantDraft(sku=f"P{n}-{v}", title="", price=catalog.Money(100, "EUR"))
            for v in range(2)
        ]
        await catalog_services.create_product(draft, variants, tenant_id=tenant.id, meta=META)


async def test_query_count_does_not_grow_with_page_size(tenant_a: Any, query_log: list[str]) -> None:
    await seed(tenant_a, 50)
    await tenant_a.gql(PAGE, {"first": 1})  # the key's first use also records last_used_at

    query_log.clear()
    small = await tenant_a.gql(PAGE, {"first": 2})
    small_count = len(query_log)
    query_log.clear()
    large = await tenant_a.gql(PAGE, {"first": 50})
    large_count = len(query_log)

    assert "errors" not in small and "errors" not in large
    assert len(large["data"]["products"]["edges"]) == 50
    assert all(len(e["node"]["variants"]) == 2 for e in large["data"]["products"]["edges"])
    assert large_count == small_count
    # credentials + tenant, the page, one batch of variants, one batch of categories
    assert large_count <= 5
