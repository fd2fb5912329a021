"""Query cost, as Shopify calculates it: scalars and enums 0, objects 1, a connection 2 plus
`first`/`last` (or its default page size) times the cost of one of its items, a mutation's root
field 10. A field whose work is heavier declares its own cost where it is defined
(`strawberry.field(metadata=cost.weight(20))`), which replaces the 0, 1, 2 or 10.

The requested cost is the worst case, computed from the document before anything runs, once
per (schema, document, operation, integer variables) and remembered; the actual cost walks what
was answered against the same selection, counting the pages as returned. Fields are merged by
response key as graphql-core merges them: an alias is a field of its own, a fragment spread
twice counts once.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    is_leaf_type,
)

from resolvers import pagination
from schema import limits

COST = "tenantgraph.cost"
OBJECT, CONNECTION, MUTATION = 1, 2, 10
ITEMS = ("edges", "nodes")
"""A connection's fields that hold its items; the rest (pageInfo) are in its own 2 points,
but for leaves that declare a cost (totalCount, 1)."""


def weight(points: int) -> dict[str, int]:
    """A field's own cost, for `strawberry.field(metadata=...)`."""
    return {COST: points}


@dataclasses.dataclass(frozen=True, slots=True)
class Field:
    """A selected field: its response key, its own cost, its page size when it is a
    connection (None otherwise), the fields selected below it, whether it holds a
    connection's items, and whether it is a leaf."""

    key: str
    own: int
    page: int | None = None
    fields: tuple[Field, ...] = ()
    items: bool = False
    leaf: bool = False

    def requested(self) -> int:
        if self.page is not None:
            items = self.page * sum(f.requested() for f in self.fields if f.items)
            return self.own + self._counted() + items
        return self.own + sum(f.requested() for f in self.fields)

    def actual(self, value: Any) -> int:
        if value is None:
            return 0
        if isinstance(value, list):
            return sum(self.actual(item) for item in value)
        if not isinstance(value, dict):
            return self.own
        fields = [f for f in self.fields if f.items] if self.page is not None else self.fields
        counted = self._counted() if self.page is not None else 0
        return self.own + counted + sum(f.actual(value[f.key]) for f in fields if f.key in value)

    def _counted(self) -> int:
        """A connection's leaves that cost something of their own (totalCount): not in its 2."""
        return sum(f.own for f in self.fields if f.leaf)


@dataclasses.dataclass(frozen=True, slots=True)
class Estimate:
    """An operation's fields, requested cost and kind."""

    fields: tuple[Field, ...]
    requested: int
    mutation: bool

    def actual(self, data: Mapping[str, Any] | None) -> int:
        """What the answer cost: a mutation's root field costs its points once it ran, whatever
        it returned."""
        if data is None:
            return 0
        if self.mutation:
            return sum(f.own for f in self.fields if f.key in data)
        return sum(f.actual(data[f.key]) for f in self.fields if f.key in data)


class Costs:
    """Requested costs of one schema's documents, remembered (the least recently used go)."""

    def __init__(self, documents: limits.Documents, max_page_size: int, maxsize: int = 1000) -> None:
        self._documents = documents
        self._max_page_size = max_page_size
        self._maxsize = maxsize
        self._estimates: OrderedDict[tuple[Any, ...], Estimate | None] = OrderedDict()

    def estimate(
        self, schema: GraphQLSchema, query: str, operation_name: str | None,
        variables: Mapping[str, Any] | None,
    ) -> Estimate | None:
        """The operation's estimate; None when the document cannot run (it is refused with its
        own error when it is validated)."""
        key = (query, operation_name, _shape(variables))
        if key in self._estimates:
            self._estimates.move_to_end(key)
            return self._estimates[key]
        found = self._compute(schema, query, operation_name, variables or {})
        if len(self._estimates) >= self._maxsize:
            self._estimates.popitem(last=False)
        self._estimates[key] = found
        return found

    def _compute(
        self, schema: GraphQLSchema, query: str, operation_name: str | None,
        variables: Mapping[str, Any],
    ) -> Estimate | None:
        try:
            document = self._documents.parse(query)
        except GraphQLError:
            return None
        if limits.check(document, self._documents.limits):
            return None  # endless or too large to walk with its fragments expanded
        operation = _operation(document, operation_name)
        if operation is None:
            return None
        root = schema.get_root_type(operation.operation)
        if root is None:
            return None
        walk = _Walk(schema, document, operation, variables, self._max_page_size)
        mutation = operation.operation == OperationType.MUTATION
        fields = walk.fields(root, [operation.selection_set], root_cost=MUTATION if mutation else None)
        if walk.unknown:
            return None  # a field the schema does not have: validation refuses the document
        total = sum(f.own for f in fields) if mutation else sum(f.requested() for f in fields)
        return Estimate(fields=fields, requested=total, mutation=mutation)


def _shape(variables: Mapping[str, Any] | None) -> tuple[tuple[str, int], ...]:
    """What of the variables can change a cost: the integers (a page's `first`/`last`)."""
    if not variables:
        return ()
    return tuple(sorted(
        (k, v) for k, v in variables.items() if isinstance(v, int) and not isinstance(v, bool)
    ))


def _operation(document: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if name is None:
        return operations[0] if len(operations) == 1 else None
    return next((o for o in operations if o.name is not None and o.name.value == name), None)


class _Walk:
    """The selection of one operation, fragments expanded (limits.check bounds that)."""

    def __init__(
        self, schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode,
        variables: Mapping[str, Any], max_page_size: int,
    ) -> None:
        self.schema = schema
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.defaults = {
            d.variable.name.value: d.default_value for d in operation.variable_definitions or ()
        }
        self.variables = variables
        self.max_page_size = max_page_size
        self.unknown = False

    def fields(
        self, parent: GraphQLNamedType, sets: Sequence[SelectionSetNode], root_cost: int | None = None
    ) -> tuple[Field, ...]:
        found: list[Field] = []
        for key, nodes in self._merged(parent, sets).items():
            field = self._field(key, nodes, root_cost)
            # A field that costs nothing and holds nothing (a scalar) is left out of the walk.
            if field is not None and (field.own or field.fields or field.page is not None):
                found.append(field)
        return tuple(found)

    def _field(
        self, key: str, nodes: list[tuple[GraphQLNamedType, FieldNode]], root_cost: int | None
    ) -> Field | None:
        parent, node = nodes[0]
        definition = _definition(parent, node.name.value)
        if definition is None:
            self.unknown = self.unknown or not node.name.value.startswith("__")
            return None  # __typename and introspection cost nothing
        named = get_named_type(definition.type)
        own = _own(definition)
        if root_cost is not None:
            return Field(key, root_cost if own is None else own)
        if is_leaf_type(named):
            return Field(key, own or 0, leaf=True)
        below = [n.selection_set for _, n in nodes if n.selection_set is not None]
        fields = self.fields(named, below)
        connection = _is_connection(named, definition)
        page = self._page(definition, node) if connection else None
        items = node.name.value in ITEMS
        base = CONNECTION if connection else 0 if items and _is_edge(named) else OBJECT
        return Field(key, base if own is None else own, page, fields, items)

    def _page(self, definition: GraphQLField, node: FieldNode) -> int:
        """`first` or `last` as given, else its default (the resolvers' default page size when
        neither declares one), else the largest page."""
        size: Any = None
        for argument in node.arguments or ():
            if argument.name.value in ("first", "last"):
                size = self._value(argument.value)
        if size is None:
            for name in ("first", "last"):
                declared = definition.args.get(name)
                if declared is not None and isinstance(declared.default_value, int):
                    size = declared.default_value
            size = pagination.DEFAULT_PAGE_SIZE if size is None else size
        if not isinstance(size, int) or isinstance(size, bool):
            return self.max_page_size
        return max(0, min(size, self.max_page_size))

    def _value(self, value: Any) -> Any:
        if isinstance(value, IntValueNode):
            # Longer than Int can hold: validation refuses it (int() would raise past 4,300 digits).
            return int(value.value) if len(value.value) <= 20 else None
        if isinstance(value, VariableNode):
            name = value.name.value
            if name in self.variables:
                return self.variables[name]
            return self._value(self.defaults.get(name))
        return None

    def _merged(
        self, parent: GraphQLNamedType, sets: Iterable[SelectionSetNode]
    ) -> dict[str, list[tuple[GraphQLNamedType, FieldNode]]]:
        """Fields by response key, each with the type it is selected on."""
        fields: dict[str, list[tuple[GraphQLNamedType, FieldNode]]] = {}
        visited: set[str] = set()
        pending = [(parent, s) for s in sets]
        while pending:
            on, selection_set = pending.pop(0)
            for selection in selection_set.selections:
                if isinstance(selection, FieldNode):
                    key = (selection.alias or selection.name).value
                    fields.setdefault(key, []).append((on, selection))
                elif isinstance(selection, InlineFragmentNode):
                    pending.append((self._on(on, selection.type_condition), selection.selection_set))
                elif isinstance(selection, FragmentSpreadNode):
                    fragment = self.fragments.get(selection.name.value)
                    if fragment is not None and fragment.name.value not in visited:
                        visited.add(fragment.name.value)
                        pending.append((self._on(on, fragment.type_condition), fragment.selection_set))
        return fields

    def _on(self, parent: GraphQLNamedType, condition: Any) -> GraphQLNamedType:
        if condition is None:
            return parent
        found = self.schema.get_type(condition.name.value)
        return parent if found is None else found


def _definition(parent: GraphQLNamedType, name: str) -> GraphQLField | None:
    fields = getattr(parent, "fields", None)
    if name.startswith("__") or not isinstance(fields, dict):
        return None
    found = fields.get(name)
    return found if isinstance(found, GraphQLField) else None


def _own(definition: GraphQLField) -> int | None:
    strawberry_field = (definition.extensions or {}).get("strawberry-definition")
    points = None if strawberry_field is None else strawberry_field.metadata.get(COST)
    return points if isinstance(points, int) else None


def _is_connection(named: GraphQLNamedType, definition: GraphQLField) -> bool:
    return (
        isinstance(named, GraphQLObjectType) and "edges" in named.fields
        and ("first" in definition.args or "last" in definition.args)
    )


def _is_edge(named: GraphQLNamedType) -> bool:
    return isinstance(named, GraphQLObjectType) and "node" in named.fields


__all__ = ["COST", "Costs", "Estimate", "Field", "weight"]
