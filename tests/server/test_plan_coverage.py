"""The planner knows every field of the types it plans: each is planned (a column, a money
column, a relation with its very resolver) or listed as resolver-only. A field added to
`Product`, `Variant`, `Order`, `OrderLine` or `Customer` on one side only fails here, instead
of silently sending every query that selects it to the resolvers."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import pytest
from graphql import GraphQLField, GraphQLObjectType, GraphQLSchema, get_named_type

from domain import tenancy
from domain.config import Settings
from schema import build
from server.plans import known

SETTINGS = Settings()
CONNECTION_PARTS = frozenset({"edges", "pageInfo", "totalCount"})


@pytest.fixture(scope="module")
def schemas() -> list[GraphQLSchema]:
    """Every core module with what it requires, then all of them: each adds its own fields."""
    sets = [_with_requirements(slug) for slug in tenancy.MODULES] + [set(tenancy.MODULES)]
    return [build.build_schema(modules, [], SETTINGS).schema._schema for modules in sets]


def _with_requirements(slug: str) -> set[str]:
    wanted = {slug}
    for required in tenancy.MODULES[slug].requires:
        wanted |= _with_requirements(required)
    return wanted


def _python_name(field: GraphQLField) -> str:
    return str(field.extensions["strawberry-definition"].python_name)


def _known(type_name: str, spec: known.TypeSpec, field: GraphQLField) -> bool:
    name, resolver = _python_name(field), known.wrapped(field)
    if name in spec.resolver_only:
        return True
    if resolver is None:
        return name in spec.columns or name in spec.money
    if type_name == "Variant" and resolver in (known.LIST_PRICE, known.LIST_COMPARE_AT):
        return True
    relation = spec.relations.get(name)
    return relation is not None and relation.resolver is resolver


def unknown_fields(schema: GraphQLSchema, types: Mapping[str, known.TypeSpec]) -> list[str]:
    """`Type.field` for every field of a planned type that the planner does not know."""
    found = []
    for type_name, spec in types.items():
        gql_type = schema.get_type(type_name)
        if not isinstance(gql_type, GraphQLObjectType):
            continue
        found += [f"{type_name}.{name}" for name, field in gql_type.fields.items()
                  if not _known(type_name, spec, field)]
    return found


def test_every_field_of_a_planned_type_is_planned_or_resolver_only(schemas: list[GraphQLSchema]) -> None:
    for schema in schemas:
        assert unknown_fields(schema, known.TYPES) == []


def test_a_field_the_planner_does_not_know_is_reported(schemas: list[GraphQLSchema]) -> None:
    everything = schemas[-1]
    customer = known.TYPES["Customer"]
    forgot_one = {**known.TYPES, "Customer": dataclasses.replace(
        customer, resolver_only=customer.resolver_only - {"addresses"}
    )}
    lost_a_column = {**known.TYPES, "Order": dataclasses.replace(
        known.TYPES["Order"], columns={k: v for k, v in known.TYPES["Order"].columns.items() if k != "number"}
    )}

    assert unknown_fields(everything, forgot_one) == ["Customer.addresses"]
    assert unknown_fields(everything, lost_a_column) == ["Order.number"]


def test_the_planner_names_no_field_that_does_not_exist(schemas: list[GraphQLSchema]) -> None:
    """A field removed or renamed on the GraphQL side leaves no stale entry behind."""
    for type_name, spec in known.TYPES.items():
        names = {_python_name(field) for schema in schemas
                 if isinstance(gql_type := schema.get_type(type_name), GraphQLObjectType)
                 for field in gql_type.fields.values()}
        listed = {*spec.columns, *spec.money, *spec.relations, *spec.resolver_only}
        assert listed - names == set(), type_name


def test_the_leaves_and_connections_of_planned_types_are_all_known(schemas: list[GraphQLSchema]) -> None:
    for schema in schemas:
        _assert_fields(schema, "Money", known.MONEY)
        _assert_fields(schema, "PageInfo", known.PAGE_INFO)
        for root in known.ROOTS:
            for field in _query_fields_resolved_by(schema, root):
                connection = get_named_type(field.type)
                assert isinstance(connection, GraphQLObjectType)
                if connection.name in known.TYPES:
                    continue
                _assert_fields(schema, connection.name, CONNECTION_PARTS)
                edge = get_named_type(connection.fields["edges"].type)
                _assert_fields(schema, edge.name, known.EDGE | {"node"})


def _query_fields_resolved_by(schema: GraphQLSchema, resolver: object) -> list[GraphQLField]:
    assert schema.query_type is not None
    return [f for f in schema.query_type.fields.values() if known.wrapped(f) is resolver]


def _assert_fields(schema: GraphQLSchema, type_name: str, expected: frozenset[str]) -> None:
    gql_type = schema.get_type(type_name)
    if isinstance(gql_type, GraphQLObjectType):
        assert set(gql_type.fields) <= expected, type_name
