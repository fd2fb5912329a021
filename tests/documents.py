"""GraphQL documents shared by the API tests."""

from __future__ import annotations

from typing import Any

from domain.events import WriteMeta

META = WriteMeta(actor="test", correlation_id="test")

CREATE_PRODUCT = """
mutation Create($input: ProductCreateInput!) {
  createProduct(input: $input) {
    product { id handle title status variants { id sku price { amount currency } } }
    errors { field message code }
  }
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
  updateProduct(id: $id, input: $input) {
    product { id title handle status } errors { field message code }
  }
}
"""

ARCHIVE_PRODUCT = """
mutation Archive($id: ID!) {
  archiveProduct(id: $id) { product { id status } errors { field message code } }
}
"""

ADD_VARIANT = """
mutation Add($productId: ID!, $input: VariantInput!) {
  addVariant(productId: $productId, input: $input) {
    variant { id sku } errors { field message code }
  }
}
"""

UPDATE_VARIANT = """
mutation UpdateVariant($id: ID!, $input: VariantUpdateInput!) {
  updateVariant(id: $id, input: $input) {
    variant { id sku price { amount } } errors { field message code }
  }
}
"""


CREATE_CATEGORY = """
mutation CreateCategory($input: CategoryInput!) {
  createCategory(input: $input) { category { id name handle parentId } errors { field message code } }
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
    """Codes of the request-level errors (UNAUTHENTICATED, FORBIDDEN, validation, ...)."""
    return [error["extensions"]["code"] for error in body.get("errors", [])]


def payload(body: dict[str, Any], mutation: str) -> dict[str, Any]:
    """The payload of a mutation that succeeded: no request errors and no payload errors."""
    assert "errors" not in body, body
    found: dict[str, Any] = body["data"][mutation]
    assert found["errors"] == [], body
    return found


def payload_errors(body: dict[str, Any], mutation: str) -> list[dict[str, Any]]:
    """The typed errors of a mutation that was refused; everything else in its payload is null."""
    assert "errors" not in body, body
    found: dict[str, Any] = body["data"][mutation]
    assert found["errors"], body
    assert all(value is None for name, value in found.items() if name != "errors"), body
    errors: list[dict[str, Any]] = found["errors"]
    return errors


def error_codes(body: dict[str, Any], mutation: str) -> list[str]:
    """The distinct codes of a refused mutation's payload errors."""
    return sorted({error["code"] for error in payload_errors(body, mutation)})


def error_fields(body: dict[str, Any], mutation: str) -> dict[str | None, str]:
    """Input path -> message of a refused mutation's payload errors."""
    return {error["field"]: error["message"] for error in payload_errors(body, mutation)}
