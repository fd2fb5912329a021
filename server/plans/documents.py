"""What planned reads and planned mutations share: the one operation a document runs, and its
variables as graphql-core coerces them (or None when Strawberry must report them)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from graphql import (
    DocumentNode,
    FragmentDefinitionNode,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    parse,
)
from graphql.execution.values import VariableValues, get_variable_values

from schema import inputs


@dataclasses.dataclass(frozen=True)
class Operation:
    document: DocumentNode
    node: OperationDefinitionNode
    fragments: dict[str, FragmentDefinitionNode]

    @property
    def name(self) -> str | None:
        return None if self.node.name is None else self.node.name.value


def operation(query: str, operation_name: str | None, kind: OperationType) -> Operation | None:
    """The operation of a valid document that `operation_name` picks, when it is of `kind` and
    has no directive; None otherwise."""
    document = parse(query)
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    chosen = [o for o in operations if operation_name is None or (o.name and o.name.value == operation_name)]
    if len(chosen) != 1 or chosen[0].operation != kind or chosen[0].directives:
        return None
    return Operation(document, chosen[0], fragments)


def coerced(
    schema: GraphQLSchema, node: OperationDefinitionNode, usages: inputs.Usages,
    variables: Mapping[str, Any] | None,
) -> VariableValues | None:
    """The operation's variables as graphql-core coerces them; None when they would be refused
    (wrong types, or strings over their columns' limits), for Strawberry to say why."""
    given = dict(variables or {})
    found = get_variable_values(schema, node.variable_definitions or (), given)
    if isinstance(found, list) or inputs.variable_problems(usages, given):
        return None
    return found


__all__ = ["Operation", "coerced", "operation"]
