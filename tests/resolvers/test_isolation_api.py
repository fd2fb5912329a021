"""Tenant isolation through /graphql: tenant B's credential never reads or changes A's data."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import pytest

from tests.documents import (
    ADD_VARIANT,
    ARCHIVE_PRODUCT,
    CREATE_CATEGORY,
    CREATE_PRODUCT,
    PRODUCT_BY_SKU,
    PRODUCTS,
    UPDATE_PRODUCT,
    UPDATE_VARIANT,
    codes,
    error_codes,
    error_fields,
    payload,
    product_input,
)

CATEGORIES = """
query Categories { categories { id name handle } }
"""

PRODUCT_DETAIL = """
query Detail($id: ID!) {
  product(id: $id) {
    id handle title description status
    category { id }
    variants { id sku title active price { amount currency } }
  }
}
"""

PRODUCT_CATEGORY = """
query ProductCategory($id: ID!) { product(id: $id) { id category { id } } }
"""

PRODUCT_IDS = """
query ProductIds($filter: ProductFilter, $after: String) {
  products(first: 100, filter: $filter, after: $after) { edges { node { id } } }
}
"""

UPDATE_PRODUCT_CATEGORY = """
mutation MoveProduct($id: ID!, $categoryId: ID!) {
  updateProduct(id: $id, input: {categoryId: $categoryId}) {
    product { id category { id } } errors { field message code }
  }
}
"""

PRODUCT_BY_SKU_VARIANTS = """
query BySkuVariants($sku: String!) { productBySku(sku: $sku) { id handle variants { id sku } } }
"""


@dataclasses.dataclass(frozen=True)
class Seeded:
    """What tenant A owns, all of it reachable with A's key."""

    category_id: str
    product_id: str
    archived_id: str
    variant_id: str
    sku: str
    title: str
    handle: str
    word: str


async def ok(tenant: Any, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    body = await tenant.gql(query, variables)
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


async def mutate(
    tenant: Any, query: str, mutation: str, variables: dict[str, Any]
) -> dict[str, Any]:
    """The payload of a mutation that must succeed."""
    return payload(await tenant.gql(query, variables), mutation)


async def create_product(tenant: Any, input_: dict[str, Any]) -> dict[str, Any]:
    created = await mutate(tenant, CREATE_PRODUCT, "createProduct", {"input": input_})
    product: dict[str, Any] = created["product"]
    return product


async def create_category(tenant: Any, name: str, handle: str) -> str:
    created = await mutate(
        tenant, CREATE_CATEGORY, "createCategory", {"input": {"name": name, "handle": handle}}
    )
    category_id: str = created["category"]["id"]
    return category_id


async def product_ids(tenant: Any, **variables: Any) -> set[str]:
    data = await ok(tenant, PRODUCT_IDS, variables)
    return {edge["node"]["id"] for edge in data["products"]["edges"]}


async def detail(tenant: Any, product_id: str) -> dict[str, Any]:
    data = await ok(tenant, PRODUCT_DETAIL, {"id": product_id})
    product: dict[str, Any] = data["product"]
    return product


@pytest.fixture
async def seeded(tenant_a: Any) -> Seeded:
    word = f"zebra{uuid.uuid4().hex[:8]}"
    category_id = await create_category(tenant_a, f"Secret {word}", f"secret-{word}")
    title = f"Secret {word} grinder"
    sku = f"A-{word}-1".upper()
    product = await create_product(
        tenant_a, product_input(title, [sku], amount=4200, categoryId=category_id)
    )
    archived = await create_product(tenant_a, product_input(f"Old {word}", [f"A-{word}-OLD".upper()]))
    await mutate(tenant_a, ARCHIVE_PRODUCT, "archiveProduct", {"id": archived["id"]})
    return Seeded(
        category_id=category_id,
        product_id=product["id"],
        archived_id=archived["id"],
        variant_id=product["variants"][0]["id"],
        sku=sku,
        title=title,
        handle=product["handle"],
        word=word,
    )


@pytest.fixture
async def b_product(tenant_b: Any, seeded: Seeded) -> dict[str, Any]:
    """B's own product, created after A's and with A's title (so A's handle), so that B's
    filtered lists are never trivially empty."""
    return await create_product(tenant_b, product_input(seeded.title, ["B-KETTLE-1"]))


def a_ids(seeded: Seeded) -> set[str]:
    return {seeded.product_id, seeded.archived_id}


# Reads


async def test_b_reads_a_product_by_id_as_null(tenant_b: Any, seeded: Seeded) -> None:
    body = await tenant_b.gql(PRODUCT_DETAIL, {"id": seeded.product_id})
    assert body == {"data": {"product": None}}


async def test_b_reads_a_product_by_sku_as_null(tenant_b: Any, seeded: Seeded) -> None:
    body = await tenant_b.gql(PRODUCT_BY_SKU, {"sku": seeded.sku})
    assert body == {"data": {"productBySku": None}}


async def test_b_product_list_holds_none_of_a(tenant_b: Any, seeded: Seeded, b_product: Any) -> None:
    listed = await product_ids(tenant_b)
    assert listed == {b_product["id"]}


async def test_b_search_filter_finds_none_of_a(tenant_b: Any, seeded: Seeded, b_product: Any) -> None:
    listed = await product_ids(tenant_b, filter={"search": seeded.word})
    assert listed == {b_product["id"]}


async def test_b_handle_filter_finds_none_of_a(tenant_b: Any, seeded: Seeded, b_product: Any) -> None:
    listed = await product_ids(tenant_b, filter={"handle": seeded.handle})
    assert b_product["handle"] == seeded.handle
    assert listed == {b_product["id"]}


async def test_b_status_filter_finds_none_of_a(tenant_b: Any, seeded: Seeded, b_product: Any) -> None:
    archived = await product_ids(tenant_b, filter={"status": "ARCHIVED"})
    active = await product_ids(tenant_b, filter={"status": "ACTIVE"})

    assert archived == set()
    assert active == {b_product["id"]}


async def test_b_filter_by_a_category_finds_none_of_a(
    tenant_b: Any, seeded: Seeded, b_product: Any
) -> None:
    body = await tenant_b.gql(PRODUCT_IDS, {"filter": {"categoryId": seeded.category_id}})

    assert codes(body) in ([], ["BAD_USER_INPUT"])
    edges = (body.get("data") or {}).get("products") or {"edges": []}
    assert {edge["node"]["id"] for edge in edges["edges"]} == set()


async def test_b_filter_by_malformed_category_finds_none_of_a(
    tenant_b: Any, seeded: Seeded, b_product: Any
) -> None:
    body = await tenant_b.gql(PRODUCT_IDS, {"filter": {"categoryId": "not-a-uuid"}})

    assert codes(body) in ([], ["BAD_USER_INPUT"])
    edges = (body.get("data") or {}).get("products") or {"edges": []}
    assert not {edge["node"]["id"] for edge in edges["edges"]} & a_ids(seeded)


async def test_b_categories_hold_none_of_a(tenant_b: Any, seeded: Seeded) -> None:
    own = await create_category(tenant_b, "Mugs", "mugs")

    data = await ok(tenant_b, CATEGORIES)

    assert [c["id"] for c in data["categories"]] == [own]


async def test_a_cursor_used_by_b_returns_only_b_rows(
    tenant_a: Any, tenant_b: Any, seeded: Seeded, b_product: Any
) -> None:
    page = await ok(tenant_a, PRODUCTS, {"first": 1})
    cursor = page["products"]["edges"][0]["cursor"]

    listed = await product_ids(tenant_b, after=cursor)

    assert listed == {b_product["id"]}


async def test_b_key_cannot_select_tenant_a(tenant_a: Any, tenant_b: Any, seeded: Seeded) -> None:
    response = await tenant_b.post(
        PRODUCT_DETAIL, {"id": seeded.product_id}, headers={"x-tenant-id": tenant_a.slug}
    )

    assert response.status_code == 403
    assert response.json().get("data") is None
    assert codes(response.json()) == ["FORBIDDEN"]


# Writes


async def test_b_cannot_update_a_product(tenant_a: Any, tenant_b: Any, seeded: Seeded) -> None:
    before = await detail(tenant_a, seeded.product_id)

    body = await tenant_b.gql(
        UPDATE_PRODUCT, {"id": seeded.product_id, "input": {"title": "Hijacked", "handle": "hijacked"}}
    )

    assert error_codes(body, "updateProduct") == ["NOT_FOUND"]
    assert body["data"]["updateProduct"]["product"] is None
    assert await detail(tenant_a, seeded.product_id) == before


async def test_b_cannot_archive_a_product(tenant_a: Any, tenant_b: Any, seeded: Seeded) -> None:
    before = await detail(tenant_a, seeded.product_id)

    body = await tenant_b.gql(ARCHIVE_PRODUCT, {"id": seeded.product_id})

    assert error_codes(body, "archiveProduct") == ["NOT_FOUND"]
    after = await detail(tenant_a, seeded.product_id)
    assert after == before
    assert after["status"] == "ACTIVE"


async def test_b_cannot_add_variant_to_a_product(
    tenant_a: Any, tenant_b: Any, seeded: Seeded
) -> None:
    before = await detail(tenant_a, seeded.product_id)
    variant = {"sku": "INTRUDER-1", "price": {"amount": 1, "currency": "EUR"}}

    body = await tenant_b.gql(ADD_VARIANT, {"productId": seeded.product_id, "input": variant})

    assert error_codes(body, "addVariant") == ["NOT_FOUND"]
    assert await detail(tenant_a, seeded.product_id) == before
    for tenant in (tenant_a, tenant_b):
        assert (await ok(tenant, PRODUCT_BY_SKU, {"sku": "INTRUDER-1"})) == {"productBySku": None}


async def test_b_cannot_update_a_variant(tenant_a: Any, tenant_b: Any, seeded: Seeded) -> None:
    before = await detail(tenant_a, seeded.product_id)

    body = await tenant_b.gql(UPDATE_VARIANT, {
        "id": seeded.variant_id,
        "input": {"title": "Hijacked", "active": False, "price": {"amount": 1, "currency": "USD"}},
    })

    assert error_codes(body, "updateVariant") == ["NOT_FOUND"]
    after = await detail(tenant_a, seeded.product_id)
    assert after == before
    assert after["variants"][0]["price"] == {"amount": 4200, "currency": "EUR"}


async def test_b_cannot_create_product_in_a_category(
    tenant_a: Any, tenant_b: Any, seeded: Seeded
) -> None:
    input_ = product_input("Sneaky", ["SNEAKY-1"], categoryId=seeded.category_id)

    body = await tenant_b.gql(CREATE_PRODUCT, {"input": input_})

    assert error_codes(body, "createProduct") == ["BAD_USER_INPUT"]
    assert set(error_fields(body, "createProduct")) == {"input.categoryId"}
    assert await product_ids(tenant_b) == set()
    assert (await ok(tenant_b, PRODUCT_BY_SKU, {"sku": "SNEAKY-1"})) == {"productBySku": None}
    assert await product_ids(tenant_a, filter={"categoryId": seeded.category_id}) == {
        seeded.product_id
    }


async def test_b_cannot_move_own_product_into_a_category(
    tenant_b: Any, seeded: Seeded, b_product: Any
) -> None:
    body = await tenant_b.gql(
        UPDATE_PRODUCT_CATEGORY, {"id": b_product["id"], "categoryId": seeded.category_id}
    )

    assert error_codes(body, "updateProduct") == ["BAD_USER_INPUT"]
    assert set(error_fields(body, "updateProduct")) == {"input.categoryId"}
    after = await ok(tenant_b, PRODUCT_CATEGORY, {"id": b_product["id"]})
    assert after["product"]["category"] is None


async def test_b_cannot_nest_category_under_a_category(tenant_b: Any, seeded: Seeded) -> None:
    input_ = {"name": "Child", "handle": "child", "parentId": seeded.category_id}

    body = await tenant_b.gql(CREATE_CATEGORY, {"input": input_})

    assert error_codes(body, "createCategory") == ["BAD_USER_INPUT"]
    assert set(error_fields(body, "createCategory")) == {"input.parentId"}
    assert (await ok(tenant_b, CATEGORIES)) == {"categories": []}


async def test_b_may_reuse_a_sku_and_handle(tenant_a: Any, tenant_b: Any, seeded: Seeded) -> None:
    before = await detail(tenant_a, seeded.product_id)

    created = await create_product(tenant_b, product_input(seeded.title, [seeded.sku], amount=7))

    assert created["handle"] == seeded.handle
    assert created["id"] != seeded.product_id
    as_b = await ok(tenant_b, PRODUCT_BY_SKU_VARIANTS, {"sku": seeded.sku})
    as_a = await ok(tenant_a, PRODUCT_BY_SKU_VARIANTS, {"sku": seeded.sku})
    assert as_b["productBySku"]["id"] == created["id"]
    assert as_b["productBySku"]["variants"] == [
        {"id": created["variants"][0]["id"], "sku": seeded.sku}
    ]
    assert as_a["productBySku"]["id"] == seeded.product_id
    assert await detail(tenant_a, seeded.product_id) == before
