"""Catalog: products, their variants (SKUs) and categories, and the rules for changing them."""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Protocol
from uuid import UUID

HANDLE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
CURRENCY = re.compile(r"[A-Z]{3}")
MAX_PRICE_MINOR = 10**12
MAX_TITLE = 200
MAX_HANDLE = 120
MAX_SKU = 64
SKU = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._-]{{0,{MAX_SKU - 1}}}")


class ProductStatus(enum.Enum):
    DRAFT = "draft"
    ACTIVE = "active"
    ARCHIVED = "archived"


@dataclasses.dataclass(frozen=True)
class Money:
    """An amount in minor units (cents) of an ISO 4217 currency; never a float."""

    amount: int
    currency: str


@dataclasses.dataclass(frozen=True)
class Category:
    id: UUID
    name: str
    handle: str
    parent_id: UUID | None


@dataclasses.dataclass(frozen=True)
class Product:
    id: UUID
    handle: str
    title: str
    description: str
    status: ProductStatus
    category_id: UUID | None
    attributes: Mapping[str, str]
    created_at: datetime
    updated_at: datetime


@dataclasses.dataclass(frozen=True)
class Variant:
    id: UUID
    product_id: UUID
    sku: str
    title: str
    attributes: Mapping[str, str]
    price: Money
    active: bool


@dataclasses.dataclass(frozen=True)
class VariantDraft:
    sku: str
    title: str
    price: Money
    attributes: Mapping[str, str] = dataclasses.field(default_factory=dict)
    active: bool = True


@dataclasses.dataclass(frozen=True)
class ProductDraft:
    title: str
    handle: str
    description: str = ""
    status: ProductStatus = ProductStatus.ACTIVE
    category_id: UUID | None = None
    attributes: Mapping[str, str] = dataclasses.field(default_factory=dict)


class CatalogRules(Protocol):
    """The catalog service a tenant extension may override."""

    def check_product(self, draft: ProductDraft, path: str = "input") -> dict[str, str]: ...

    def check_variant(self, draft: VariantDraft, path: str = "variant") -> dict[str, str]: ...


class DefaultCatalogRules:
    def check_product(self, draft: ProductDraft, path: str = "input") -> dict[str, str]:
        errors: dict[str, str] = {}
        if not draft.title.strip() or len(draft.title) > MAX_TITLE:
            errors[f"{path}.title"] = f"must be 1-{MAX_TITLE} characters"
        if not HANDLE.fullmatch(draft.handle) or len(draft.handle) > MAX_HANDLE:
            errors[f"{path}.handle"] = f"must be lowercase words joined by '-' (max {MAX_HANDLE})"
        errors.update(_check_attributes(draft.attributes, f"{path}.attributes"))
        return errors

    def check_variant(self, draft: VariantDraft, path: str = "variant") -> dict[str, str]:
        errors: dict[str, str] = {}
        if not SKU.fullmatch(draft.sku):
            errors[f"{path}.sku"] = "must be 1-64 letters, digits, '.', '_' or '-'"
        if len(draft.title) > MAX_TITLE:
            errors[f"{path}.title"] = f"must be at most {MAX_TITLE} characters"
        if not 0 <= draft.price.amount <= MAX_PRICE_MINOR:
            errors[f"{path}.price.amount"] = "must be between 0 and 10^12 minor units"
        if not CURRENCY.fullmatch(draft.price.currency):
            errors[f"{path}.price.currency"] = "must be a 3-letter ISO 4217 code"
        errors.update(_check_attributes(draft.attributes, f"{path}.attributes"))
        return errors


def handle_from_title(title: str) -> str:
    return "-".join(re.findall(r"[a-z0-9]+", title.lower()))[:MAX_HANDLE] or "product"


def _check_attributes(attributes: Mapping[str, str], path: str) -> dict[str, str]:
    if len(attributes) > 50:
        return {path: "at most 50 attributes"}
    for key, value in attributes.items():
        if not key or len(key) > 64 or len(value) > 500:
            return {f"{path}.{key}": "keys are 1-64 characters, values at most 500"}
    return {}


class ProductSort(enum.Enum):
    CREATED_AT = "created_at"
    TITLE = "title"
    HANDLE = "handle"


@dataclasses.dataclass(frozen=True)
class ProductFilter:
    status: ProductStatus | None = None
    category_id: UUID | None = None
    search: str | None = None
    handle: str | None = None


@dataclasses.dataclass(frozen=True)
class ProductPatch:
    """Fields of a product to change; None leaves a field as it is."""

    title: str | None = None
    handle: str | None = None
    description: str | None = None
    status: ProductStatus | None = None
    category_id: UUID | None = None
    attributes: Mapping[str, str] | None = None

    def apply(self, product: Product) -> ProductDraft:
        return ProductDraft(
            title=product.title if self.title is None else self.title,
            handle=product.handle if self.handle is None else self.handle,
            description=product.description if self.description is None else self.description,
            status=product.status if self.status is None else self.status,
            category_id=product.category_id if self.category_id is None else self.category_id,
            attributes=product.attributes if self.attributes is None else self.attributes,
        )


@dataclasses.dataclass(frozen=True)
class VariantPatch:
    title: str | None = None
    price: Money | None = None
    attributes: Mapping[str, str] | None = None
    active: bool | None = None

    def apply(self, variant: Variant) -> VariantDraft:
        return VariantDraft(
            sku=variant.sku,
            title=variant.title if self.title is None else self.title,
            price=variant.price if self.price is None else self.price,
            attributes=variant.attributes if self.attributes is None else self.attributes,
            active=variant.active if self.active is None else self.active,
        )


def archived(before: Product, after: Product) -> bool:
    return before.status != ProductStatus.ARCHIVED and after.status == ProductStatus.ARCHIVED


def variant_payload(variant: Variant) -> dict[str, object]:
    return {
        "id": str(variant.id),
        "productId": str(variant.product_id),
        "sku": variant.sku,
        "price": {"amount": variant.price.amount, "currency": variant.price.currency},
        "active": variant.active,
    }


def product_payload(product: Product, variants: list[Variant] | None = None) -> dict[str, object]:
    payload: dict[str, object] = {
        "id": str(product.id),
        "handle": product.handle,
        "title": product.title,
        "status": product.status.value,
    }
    if variants is not None:
        payload["variants"] = [variant_payload(v) for v in variants]
    return payload
