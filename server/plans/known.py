"""What the planner knows: the types and root fields it translates into SQL, the resolver
(or plain attribute) each stands for in the schema, and the scope each needs, which is the
scope its resolver requires (resolvers.<module>.READ). A field the schema resolves otherwise
leaves the operation to Strawberry."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any
from uuid import UUID

from graphql import GraphQLField
from strawberry.types.base import get_object_definition

from resolvers import catalog as resolve_catalog
from resolvers import customers as resolve_customers
from resolvers import orders as resolve_orders
from schema import catalog, orders, pricing
from tables import plans as sql


def resolver_of(cls: type, name: str) -> Callable[..., Any]:
    field = get_object_definition(cls, strict=True).get_field(name)
    assert field is not None and field.base_resolver is not None
    # Typed as possibly a staticmethod or classmethod object; resolvers here are plain methods.
    return field.base_resolver.wrapped_func  # type: ignore[return-value]


def wrapped(definition: GraphQLField) -> Callable[..., Any] | None:
    """The function behind a field in this schema; None for a plain attribute."""
    base = definition.extensions["strawberry-definition"].base_resolver
    return None if base is None else base.wrapped_func


@dataclasses.dataclass(frozen=True)
class Relation:
    resolver: Callable[..., Any]
    scope: str
    join: Callable[[sql.Node], sql.Node]
    many: bool = False


@dataclasses.dataclass(frozen=True)
class TypeSpec:
    """How the planner reads a type's fields (by Python name): columns, money columns and
    relations. `resolver_only` names the fields it leaves to the resolvers: a selection of one
    is answered by Strawberry. A test checks that every field is one or the other."""

    columns: Mapping[str, str]
    money: Mapping[str, tuple[str, str]] = dataclasses.field(default_factory=dict)
    relations: Mapping[str, Relation] = dataclasses.field(default_factory=dict)
    resolver_only: frozenset[str] = frozenset()


TYPES: dict[str, TypeSpec] = {
    "Product": TypeSpec(sql.PRODUCT_COLUMNS, relations={
        "variants": Relation(resolver_of(catalog.Product, "variants"), resolve_catalog.READ,
                             sql.variants_of_product, many=True),
    }, resolver_only=frozenset({"attributes", "category"})),
    "Variant": TypeSpec(sql.VARIANT_COLUMNS, sql.VARIANT_MONEY, resolver_only=frozenset({
        "attributes", "prices", "stock", "available",
    })),
    "Order": TypeSpec(sql.ORDER_COLUMNS, sql.ORDER_MONEY, relations={
        "lines": Relation(resolver_of(orders.Order, "lines"), resolve_orders.READ, sql.lines_of_order,
                          many=True),
        "customer": Relation(resolver_of(orders.Order, "customer"), resolve_customers.READ,
                             sql.customer_of_order),
    }, resolver_only=frozenset({
        "payments", "authorized_amount", "captured_amount", "refunded_amount", "balance",
        "shipments",
    })),
    "OrderLine": TypeSpec(sql.LINE_COLUMNS, sql.LINE_MONEY, relations={
        "variant": Relation(resolver_of(orders.OrderLine, "variant"), resolve_catalog.READ,
                            sql.variant_of_line),
    }),
    "Customer": TypeSpec(sql.CUSTOMER_COLUMNS, resolver_only=frozenset({
        "addresses", "default_shipping_address", "default_billing_address", "orders",
    })),
}
# Variant prices in schemas with pricing: the base price unless X-Price-List selects a list.
LIST_PRICE = resolver_of(pricing.PricedVariant, "price")
LIST_COMPARE_AT = resolver_of(pricing.PricedVariant, "compare_at_price")
MONEY = frozenset({"amount", "currency", "__typename"})
EDGE = frozenset({"cursor", "__typename"})
PAGE_INFO = frozenset({"hasNextPage", "hasPreviousPage", "startCursor", "endCursor", "__typename"})


@dataclasses.dataclass(frozen=True)
class ById:
    scope: str
    fetch: Callable[[sql.Statement, UUID, sql.Node], str]


@dataclasses.dataclass(frozen=True)
class Page:
    scope: str
    source: sql.Source
    kinds: Mapping[str, type]


ROOTS: dict[Callable[..., Any], ById | Page] = {
    resolver_of(catalog.CatalogQuery, "product"): ById(resolve_catalog.READ, sql.product_by_id),
    resolver_of(orders.OrderQuery, "order"): ById(resolve_orders.READ, sql.order_by_id),
    resolver_of(catalog.CatalogQuery, "products"): Page(
        resolve_catalog.READ, sql.PRODUCTS, resolve_catalog.SORT_KINDS
    ),
    resolver_of(orders.OrderQuery, "orders"): Page(
        resolve_orders.READ, sql.ORDERS, resolve_orders.SORT_KINDS
    ),
}
