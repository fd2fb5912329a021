"""Planned mutations: a mutation of one root field whose resolver the planner knows, and whose
payload selection is plain attributes, calls that resolver directly and completes its payload
by the selection, without graphql-core's executor or Strawberry's per-field machinery.

The resolver is the schema's own (the very function Strawberry would call, found in the
tenant's schema, so an extension that replaces it is not planned); its arguments are
converted by converters built once per plan to give what Strawberry's conversion gives
(server.plans.arguments); each leaf is serialized by its GraphQL type, and an error is
located and nulled up to the nearest nullable position, as graphql-core completes values. As
with reads, a plan is made from a document the tenant's schema has already parsed, validated
and executed without errors; variables that would be refused leave the request to
Strawberry, which reports them, before anything has run.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, cast

import strawberry
from graphql import (
    FieldNode,
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
    get_named_type,
    located_error,
)
from graphql.execution.values import get_argument_values
from strawberry.types import ExecutionResult

from resolvers.context import Context
from schema import inputs
from schema import orders as order_schema
from schema.budget import Budget
from server.plans import documents
from server.plans.arguments import Arguments, compile_arguments
from server.plans.known import resolver_of, wrapped
from server.plans.walk import Fields, NotPlannable, Walk

Resolver = Callable[..., Awaitable[Any]]
Path = list[str | int]

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
    """A selected field: its response key, the attribute it reads, its type and what is
    selected of it; `label` ("Type.field") and `nodes` for its errors."""

    key: str
    attribute: str
    type: GraphQLOutputType
    shape: Leaf | Typename | tuple[Entry, ...]
    label: str
    nodes: tuple[FieldNode, ...]


@dataclasses.dataclass(frozen=True)
class MutationPlan:
    operation: OperationDefinitionNode
    root: Entry
    field: GraphQLField
    resolver: Resolver
    convert: Arguments
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
    chosen = documents.operation(query, operation_name, OperationType.MUTATION)
    mutation = schema._schema.mutation_type
    if chosen is None or mutation is None:
        return None
    walk = Walk(schema._schema, chosen.fragments, Budget(budget_seconds))
    try:
        roots = walk.collect(chosen.node.selection_set, mutation.name)
        if len(roots) != 1:
            return None
        (key, nodes), = roots.items()
        field = mutation.fields.get(nodes[0].name.value)
        resolver = None if field is None else wrapped(field)
        if field is None or resolver not in KNOWN or _guarded(field):
            return None
        root = _entry(walk, mutation, key, nodes)
        convert = compile_arguments(field.extensions["strawberry-definition"].arguments, schema)
    except NotPlannable:
        return None
    return MutationPlan(
        operation=chosen.node, root=root, field=field, resolver=cast(Resolver, resolver),
        convert=convert, variables=inputs.usages(schema._schema, chosen.document, operation_name),
        kind=chosen.node.operation.value, name=chosen.name,
    )


def _guarded(field: GraphQLField) -> bool:
    """Whether Strawberry runs more than the resolver: permissions or field extensions."""
    definition = field.extensions["strawberry-definition"]
    return bool(definition.permission_classes or definition.extensions)


def _entry(walk: Walk, parent: GraphQLObjectType, key: str, nodes: list[FieldNode]) -> Entry:
    name = nodes[0].name.value
    label = f"{parent.name}.{name}"
    if name == "__typename":
        return Entry(key, name, parent, Typename(parent.name), label, tuple(nodes))
    field = parent.fields.get(name)
    if field is None:
        raise NotPlannable(name)
    definition = field.extensions.get("strawberry-definition")
    if definition is None or parent is not walk.schema.mutation_type and (
        not definition.is_basic_field or nodes[0].arguments
    ):
        raise NotPlannable(label)  # a resolver of its own: Strawberry's walk
    named = get_named_type(field.type)
    shape: Leaf | tuple[Entry, ...]
    if isinstance(named, (GraphQLScalarType, GraphQLEnumType)):
        shape = Leaf(named)
    elif isinstance(named, GraphQLObjectType):
        selected: Fields = {}
        for node in nodes:
            if node.selection_set is not None:
                walk.collect(node.selection_set, named.name, selected)
        shape = tuple(_entry(walk, named, k, selected_nodes) for k, selected_nodes in selected.items())
    else:
        raise NotPlannable(f"{label}: not an object")  # a union or an interface
    return Entry(key, definition.python_name, field.type, shape, label, tuple(nodes))


async def run(
    plan: MutationPlan, schema: GraphQLSchema, context: Context, variables: Mapping[str, Any] | None
) -> ExecutionResult | None:
    """The mutation's result, or None (before anything ran) when Strawberry must answer."""
    coerced = documents.coerced(schema, plan.operation, plan.variables, variables)
    if coerced is None:
        return None
    try:
        arguments = get_argument_values(plan.field, plan.root.nodes[0], coerced)
    except GraphQLError:
        return None
    root = plan.root
    try:
        payload = await plan.resolver(None, _Info(context), **plan.convert(arguments))
    except Exception as raised:  # noqa: BLE001 - as graphql-core reports a resolver's error
        failed = [located_error(raised, list(root.nodes), [root.key])]
        return ExecutionResult(data=None if isinstance(root.type, GraphQLNonNull) else {root.key: None},
                               errors=failed)
    errors: list[GraphQLError] = []
    try:
        value = _at(payload, root.type, root, [root.key], errors)
    except GraphQLError as error:  # the root is non-null: the whole data goes
        return ExecutionResult(data=None, errors=[*errors, error])
    return ExecutionResult(data={root.key: value}, errors=errors or None)


def _at(value: Any, output: GraphQLOutputType, entry: Entry, path: Path, errors: list[GraphQLError]) -> Any:
    """One position (a field or a list item) completed as graphql-core completes it: an error
    is located at its path; a nullable position becomes null and keeps it, a non-null one
    passes it up to its parent."""
    try:
        return _complete(value, output, entry, path, errors)
    except Exception as raised:
        error = located_error(raised, list(entry.nodes), path)  # an inner error keeps its own path
        if isinstance(output, GraphQLNonNull):
            raise error from None
        errors.append(error)
        return None


def _complete(
    value: Any, output: GraphQLOutputType, entry: Entry, path: Path, errors: list[GraphQLError]
) -> Any:
    if isinstance(output, GraphQLNonNull):
        if value is None:
            raise TypeError(f"Cannot return null for non-nullable field {entry.label}.")
        output = output.of_type
    if value is None:
        return None
    if isinstance(output, GraphQLList):
        return [_at(item, output.of_type, entry, [*path, i], errors) for i, item in enumerate(value)]
    if isinstance(entry.shape, Leaf):
        return entry.shape.type.serialize(value)
    fields = cast(tuple[Entry, ...], entry.shape)
    return {
        e.key: e.shape.name if isinstance(e.shape, Typename)
        else _at(getattr(value, e.attribute), e.type, e, [*path, e.key], errors)
        for e in fields
    }


__all__ = ["KNOWN", "MutationPlan", "make_mutation_plan", "run"]
