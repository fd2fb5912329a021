"""GraphQL documents shared by the API tests."""

from __future__ import annotations

from typing import Any

from domain.events import WriteMeta

META = WriteMeta(actor="test", correlation_id="test")

CREATE_PRODUCT = """
mutation Create($input: ProductCreateInput!) {
  createProduct(input: $input) { id handle title status variants { id sku price { amount currency } } }
}
"""

PRODUCT = """
query Product($id: ID!) { product(id: $id) { id title variants { sku } } }
"""

PRODUCT_BY_SKU = """
query BySku($sku: String!) { productBySku(sku: $sku) { id title } }
"""

PRODUCTS = """
query Products($first: Int, $after: String, $filter: ProductFilter, $orderBy: ProductOrder) {
  products(first: $first, after: $after, filter: $filter, orderBy: $orderBy) {
    edges { cursor node { id title handle status } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""

UPDATE_PRODUCT = """
mutation Update($id: ID!, $input: ProductUpdateInput!) {
  updateProduct(id: $id, input: $input) { id title handle status }
}
"""

ARCHIVE_PRODUCT = """
mutation Archive($id: ID!) { archiveProduct(id: $id) { id status } }
"""

ADD_VARIANT = """
mutation Add($productId: ID!, $input: VariantInput!) {
  addVariant(productId: $productId, input: $input) { id sku }
}
"""

UPDATE_VARIANT = """
mutation UpdateVariant($id: ID!, $input: VariantUpdateInput!) {
  updateVariant(id: $id, input: $input) { id sku price { amount } }
}
"""


def product_input(
    title: str, skus: list[str], *, amount: int = 1000, **extra: Any
) -> dict[str, Any]:
    return {
        "title": title,
        "variants": [
            {"sku": sku, "price": {"amount": amount, "currency": "EUR"}} for sku in skus
        ],
        **extra,
    }


def codes(body: dict[str, Any]) -> list[str]:
    return [error["extensions"]["code"] for error in body.get("errors", [])]
