"""Planned mutations: a mutation of one root field whose resolver the planner knows, and whose
payload selection is plain attributes, calls that resolver directly and projects its payload,
without graphql-core's executor or Strawberry's per-field machinery around it.

The resolver is the schema's own (the very function Strawberry would call, found in the
tenant's schema, so an extension that replaces it is not planned), its arguments are
converted by Strawberry's own conversion, and each leaf is serialized by its GraphQL type:
what changes is only the walk. As with reads, a plan is made from a document the tenant's
schema has already parsed, validated and executed without errors; variables that would be
refused leave the request to Strawberry, which reports them, before anything has run.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, cast

import strawberry
from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    GraphQLEnumType,
    GraphQLError,
    GraphQLField,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    located_error,
    parse,
)
from graphql.execution.values import get_argument_values, get_variable_values
from strawberry.types import ExecutionResult

from resolvers.context import Context
from schema import inputs
from schema import orders as order_schema
from schema.budget import Budget
from server.plans.arguments import Arguments, compile_arguments
from server.plans.known import resolver_of, wrapped
from server.plans.walk import Fields, NotPlannable, Walk

Resolver = Callable[..., Awaitable[Any]]

KNOWN: frozenset[Callable[..., Any]] = frozenset({
    resolver_of(order_schema.OrderMutation, "create_order"),
})
"""Mutation resolvers that read nothing of `info` but its context: safe to call with a
stand-in for it."""


@dataclasses.dataclass(frozen=True)
class Leaf:
    type: GraphQLScalarType | GraphQLEnumType


@dataclasses.dataclass(frozen=True)
class Typename:
    name: str


@dataclasses.dataclass(frozen=True)
class Entry:
    key: str
    attribute: str
    type: GraphQLOutputType
    shape: Leaf | Typename | tuple[Entry, ...]


@dataclasses.dataclass(frozen=True)
class MutationPlan:
    operation: OperationDefinitionNode
    key: str
    node: FieldNode
    field: GraphQLField
    resolver: Resolver
    convert: Arguments
    payload: tuple[Entry, ...]
    variables: inputs.Usages
    kind: str
    name: str | None


@dataclasses.dataclass(frozen=True)
class _Info:
    """What a known resolver reads of Strawberry's Info."""

    context: Context


def make_mutation_plan(
    schema: strawberry.Schema, query: str, operation_name: str | None, budget_seconds: float
) -> MutationPlan | None:
    """The plan of one mutation of a valid document, or None when it is not plannable."""
    document = parse(query)
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    chosen = [o for o in operations if operation_name is None or (o.name and o.name.value == operation_name)]
    mutation = schema._schema.mutation_type
    if (len(chosen) != 1 or chosen[0].operation != OperationType.MUTATION or chosen[0].directives
            or mutation is None):
        return None
    operation = chosen[0]
    walk = Walk(schema._schema, fragments, Budget(budget_seconds))
    try:
        roots = walk.collect(operation.selection_set, mutation.name)
        if len(roots) != 1:
            return None
        (key, nodes), = roots.items()
        field = mutation.fields.get(nodes[0].name.value)
        resolver = None if field is None else wrapped(field)
        if field is None or resolver not in KNOWN or len(nodes) != 1 or _wrapped(field):
            return None
        payload = _entries(walk, _object(field.type), nodes)
        convert = compile_arguments(field.extensions["strawberry-definition"].arguments, schema)
    except NotPlannable:
        return None
    return MutationPlan(
        operation=operation, key=key, node=nodes[0], field=field, resolver=cast(Resolver, resolver),
        convert=convert, payload=payload, variables=inputs.usages(schema._schema, document, operation_name),
        kind=operation.operation.value, name=None if operation.name is None else operation.name.value,
    )


def _wrapped(field: GraphQLField) -> bool:
    """Whether Strawberry runs more than the resolver: permissions or field extensions."""
    definition = field.extensions["strawberry-definition"]
    return bool(definition.permission_classes or definition.extensions)


def _object(output: GraphQLOutputType) -> GraphQLObjectType:
    named = output.of_type if isinstance(output, GraphQLNonNull) else output
    while isinstance(named, (GraphQLList, GraphQLNonNull)):
        named = named.of_type
    if not isinstance(named, GraphQLObjectType):
        raise NotPlannable("not an object")
    return named


def _entries(walk: Walk, parent: GraphQLObjectType, nodes: list[FieldNode]) -> tuple[Entry, ...]:
    fields: Fields = {}
    for node in nodes:
        if node.selection_set is not None:
            walk.collect(node.selection_set, parent.name, fields)
    return tuple(_entry(walk, parent, key, selected) for key, selected in fields.items())


def _entry(walk: Walk, parent: GraphQLObjectType, key: str, nodes: list[FieldNode]) -> Entry:
    name = nodes[0].name.value
    if name == "__typename":
        return Entry(key, name, parent, Typename(parent.name))  # `parent` is not read
    field = parent.fields.get(name)
    if field is None or nodes[0].arguments:
        raise NotPlannable(name)
    definition = field.extensions.get("strawberry-definition")
    if definition is None or not definition.is_basic_field:
        raise NotPlannable(f"{parent.name}.{name}")  # a resolver of its own: Strawberry's walk
    named = field.type
    while isinstance(named, (GraphQLList, GraphQLNonNull)):
        named = named.of_type
    shape: Leaf | tuple[Entry, ...]
    if isinstance(named, (GraphQLScalarType, GraphQLEnumType)):
        shape = Leaf(named)
    else:
        shape = _entries(walk, _object(named), nodes)
    return Entry(key, definition.python_name, field.type, shape)


async def run(
    plan: MutationPlan, schema: GraphQLSchema, context: Context, variables: Mapping[str, Any] | None
) -> ExecutionResult | None:
    """The mutation's result, or None (before anything ran) when Strawberry must answer."""
    given = dict(variables or {})
    coerced = get_variable_values(schema, plan.operation.variable_definitions or (), given)
    if isinstance(coerced, list) or inputs.variable_problems(plan.variables, given):
        return None
    try:
        arguments = get_argument_values(plan.field, plan.node, coerced)
    except GraphQLError:
        return None
    try:
        payload = await plan.resolver(None, _Info(context), **plan.convert(arguments))
        data = {plan.key: _project(payload, plan.field.type, plan.payload)}
    except Exception as error:  # noqa: BLE001 - as graphql-core reports a resolver's error
        return ExecutionResult(data=None, errors=[located_error(error, [plan.node], [plan.key])])
    return ExecutionResult(data=data, errors=None)


def _project(value: Any, output: GraphQLOutputType, shape: Leaf | Typename | tuple[Entry, ...]) -> Any:
    if isinstance(output, GraphQLNonNull):
        if value is None:
            raise TypeError("a non-null field of the payload resolved to null")
        output = output.of_type
    if value is None:
        return None
    if isinstance(output, GraphQLList):
        return [_project(item, output.of_type, shape) for item in value]
    if isinstance(shape, Leaf):
        return shape.type.serialize(value)
    return {e.key: _field(value, e) for e in cast(tuple[Entry, ...], shape)}


def _field(parent: Any, entry: Entry) -> Any:
    if isinstance(entry.shape, Typename):
        return entry.shape.name
    return _project(getattr(parent, entry.attribute), entry.type, entry.shape)


__all__ = ["KNOWN", "MutationPlan", "make_mutation_plan", "run"]
