"""The catalog through /graphql: create, read, update, archive, validation."""

from __future__ import annotations

from typing import Any

import pytest

from tests.documents import (
    ADD_VARIANT,
    ARCHIVE_PRODUCT,
    CREATE_CATEGORY,
    CREATE_PRODUCT,
    PRODUCT,
    PRODUCT_BY_SKU,
    UPDATE_PRODUCT,
    UPDATE_VARIANT,
    codes,
    error_codes,
    error_fields,
    payload,
    payload_errors,
    product_input,
)


async def create(tenant: Any, title: str, skus: list[str], **extra: Any) -> dict[str, Any]:
    body = await tenant.gql(CREATE_PRODUCT, {"input": product_input(title, skus, **extra)})
    product: dict[str, Any] = payload(body, "createProduct")["product"]
    return product


async def test_created_product_reads_back_by_id_and_sku(tenant_a: Any) -> None:
    created = await create(tenant_a, "Moka Pot", ["MOKA-3", "MOKA-6"])

    by_id = await tenant_a.gql(PRODUCT, {"id": created["id"]})
    by_sku = await tenant_a.gql(PRODUCT_BY_SKU, {"sku": "MOKA-6"})

    assert created["handle"] == "moka-pot"
    assert by_id["data"]["product"]["variants"] == [{"sku": "MOKA-3"}, {"sku": "MOKA-6"}]
    assert by_sku["data"]["productBySku"]["id"] == created["id"]


async def test_unknown_product_is_null(tenant_a: Any) -> None:
    body = await tenant_a.gql(PRODUCT, {"id": "00000000-0000-0000-0000-000000000000"})
    assert body == {"data": {"product": None}}


async def test_invalid_input_names_each_field(tenant_a: Any) -> None:
    bad = {
        "title": "",
        "handle": "Not A Handle",
        "variants": [{"sku": "bad sku", "price": {"amount": -5, "currency": "euro"}}],
    }
    body = await tenant_a.gql(CREATE_PRODUCT, {"input": bad})

    assert error_codes(body, "createProduct") == ["BAD_USER_INPUT"]
    assert set(error_fields(body, "createProduct")) == {
        "input.title",
        "input.handle",
        "input.variants[0].sku",
        "input.variants[0].price.amount",
        "input.variants[0].price.currency",
    }


async def test_duplicate_sku_is_rejected_and_nothing_is_written(tenant_a: Any) -> None:
    await create(tenant_a, "Kettle", ["KETTLE-1"])

    body = await tenant_a.gql(
        CREATE_PRODUCT, {"input": product_input("Kettle Two", ["KETTLE-2", "KETTLE-1"])}
    )

    assert payload_errors(body, "createProduct") == [
        {"field": "input.variants[1].sku", "message": "already exists", "code": "BAD_USER_INPUT"}
    ]
    missing = await tenant_a.gql(PRODUCT_BY_SKU, {"sku": "KETTLE-2"})
    assert missing["data"]["productBySku"] is None


async def test_same_sku_in_two_tenants_is_allowed(tenant_a: Any, tenant_b: Any) -> None:
    await create(tenant_a, "Cup", ["CUP-1"])
    await create(tenant_b, "Cup", ["CUP-1"])


async def test_update_and_archive(tenant_a: Any) -> None:
    created = await create(tenant_a, "Tamper", ["TAMP-1"])

    updated = await tenant_a.gql(UPDATE_PRODUCT, {"id": created["id"], "input": {"title": "Tamper 58"}})
    archived = await tenant_a.gql(ARCHIVE_PRODUCT, {"id": created["id"]})

    assert payload(updated, "updateProduct")["product"]["title"] == "Tamper 58"
    assert payload(updated, "updateProduct")["product"]["handle"] == "tamper"
    assert payload(archived, "archiveProduct")["product"]["status"] == "ARCHIVED"


async def test_variants_are_added_and_repriced(tenant_a: Any) -> None:
    created = await create(tenant_a, "Scale", ["SCALE-1"])
    added = await tenant_a.gql(ADD_VARIANT, {
        "productId": created["id"],
        "input": {"sku": "SCALE-2", "price": {"amount": 4500, "currency": "EUR"}},
    })
    variant_id = payload(added, "addVariant")["variant"]["id"]

    repriced = await tenant_a.gql(
        UPDATE_VARIANT, {"id": variant_id, "input": {"price": {"amount": 3900, "currency": "EUR"}}}
    )

    expected = {"id": variant_id, "sku": "SCALE-2", "price": {"amount": 3900}}
    assert payload(repriced, "updateVariant")["variant"] == expected


async def test_malformed_id_is_bad_input(tenant_a: Any) -> None:
    body = await tenant_a.gql(PRODUCT, {"id": "not-a-uuid"})
    assert codes(body) == ["BAD_USER_INPUT"]


NEW_VARIANT = {"sku": "ODD-1", "price": {"amount": 100, "currency": "EUR"}}


@pytest.mark.parametrize(
    ("document", "mutation", "variables", "field"),
    [
        (UPDATE_PRODUCT, "updateProduct", {"id": "not-a-uuid", "input": {"title": "X"}}, "id"),
        (ARCHIVE_PRODUCT, "archiveProduct", {"id": "not-a-uuid"}, "id"),
        (ADD_VARIANT, "addVariant", {"productId": "not-a-uuid", "input": NEW_VARIANT}, "productId"),
        (UPDATE_VARIANT, "updateVariant", {"id": "not-a-uuid", "input": {"title": "X"}}, "id"),
        (CREATE_PRODUCT, "createProduct",
         {"input": product_input("Odd", ["ODD-1"], categoryId="not-a-uuid")}, "input.categoryId"),
        (CREATE_CATEGORY, "createCategory",
         {"input": {"name": "Odd", "handle": "odd", "parentId": "not-a-uuid"}}, "input.parentId"),
    ],
    ids=["updateProduct", "archiveProduct", "addVariant", "updateVariant", "createProduct",
         "createCategory"],
)
async def test_malformed_id_in_a_mutation_is_an_error_of_that_field(
    tenant_a: Any, document: str, mutation: str, variables: dict[str, Any], field: str
) -> None:
    body = await tenant_a.gql(document, variables)

    assert payload_errors(body, mutation) == [
        {"field": field, "message": "invalid id", "code": "BAD_USER_INPUT"}
    ]
    missing = await tenant_a.gql(PRODUCT_BY_SKU, {"sku": "ODD-1"})
    assert missing["data"]["productBySku"] is None


async def test_updating_an_unknown_product_is_not_found(tenant_a: Any) -> None:
    body = await tenant_a.gql(
        UPDATE_PRODUCT, {"id": "00000000-0000-0000-0000-000000000000", "input": {"title": "X"}}
    )

    assert payload_errors(body, "updateProduct") == [
        {"field": None, "message": "product not found", "code": "NOT_FOUND"}
    ]


async def test_taken_category_handle_is_an_error_of_that_field(tenant_a: Any) -> None:
    first = await tenant_a.gql(CREATE_CATEGORY, {"input": {"name": "Mugs", "handle": "mugs"}})
    payload(first, "createCategory")

    again = await tenant_a.gql(CREATE_CATEGORY, {"input": {"name": "More mugs", "handle": "mugs"}})

    assert error_fields(again, "createCategory") == {"input.handle": "taken"}


async def test_read_scope_cannot_write(tenant_a: Any) -> None:
    reader = await tenant_a.key_with("catalog:read")

    body = await tenant_a.gql(
        CREATE_PRODUCT, {"input": product_input("Nope", ["NOPE-1"])}, key=reader
    )

    assert codes(body) == ["FORBIDDEN"]
    assert body.get("data") is None
