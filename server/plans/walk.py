"""Walking a selection: what one operation's fields mean to the planner (server.plans.known),
as SQL nodes; NotPlannable as soon as anything is not translated."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    SelectionSetNode,
    get_named_type,
)

from schema.budget import Budget
from server.plans.known import (
    EDGE,
    LIST_COMPARE_AT,
    LIST_PRICE,
    MONEY,
    PAGE_INFO,
    TYPES,
    TypeSpec,
    wrapped,
)
from tables import plans as sql

Fields = dict[str, list[FieldNode]]


class NotPlannable(Exception):
    """The selection uses something the planner does not translate."""


class Walk:
    """One plan being made: the fragments in scope, scopes needed, prices read."""

    def __init__(
        self, schema: GraphQLSchema, fragments: Mapping[str, FragmentDefinitionNode], budget: Budget
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.budget = budget
        self.scopes: set[str] = set()
        self.prices = False

    def collect(self, selections: SelectionSetNode, type_name: str, into: Fields | None = None,
                visited: set[str] | None = None) -> Fields:
        """Fields by response key, in order, through fragments; as graphql-core merges them,
        each fragment once per merge (a second spread adds nothing new)."""
        self.budget.check()
        found: Fields = {} if into is None else into
        seen: set[str] = set() if visited is None else visited
        for selection in selections.selections:
            if selection.directives:
                raise NotPlannable("directive")
            if isinstance(selection, FieldNode):
                found.setdefault((selection.alias or selection.name).value, []).append(selection)
                continue
            fragment: InlineFragmentNode | FragmentDefinitionNode
            if isinstance(selection, FragmentSpreadNode):
                if selection.name.value in seen:
                    continue
                seen.add(selection.name.value)
                fragment = self.fragments[selection.name.value]
            else:
                # graphql-core types selections as their base class; the third kind is this one.
                fragment = cast(InlineFragmentNode, selection)
            condition = fragment.type_condition
            if condition is not None and condition.name.value != type_name:
                raise NotPlannable("fragment on another type")
            if isinstance(fragment, FragmentDefinitionNode) and fragment.directives:
                raise NotPlannable("directive")
            self.collect(fragment.selection_set, type_name, found, seen)
        return found

    def children(self, nodes: list[FieldNode], type_name: str) -> Fields:
        merged: Fields = {}
        visited: set[str] = set()
        for node in nodes:
            if node.selection_set is None:
                raise NotPlannable("leaf where an object was expected")
            self.collect(node.selection_set, type_name, merged, visited)
        return merged

    def object(self, type_name: str, fields: Fields) -> sql.Node:
        spec = TYPES.get(type_name)
        if spec is None:
            raise NotPlannable(type_name)
        gql_type = self.schema.get_type(type_name)
        assert isinstance(gql_type, GraphQLObjectType)
        parts = [(key, self.field(gql_type, spec, nodes)) for key, nodes in fields.items()]
        rendered: dict[str, str] = {}

        def node(alias: str) -> str:  # the same text for the same alias: made once per plan
            if alias not in rendered:
                rendered[alias] = sql.obj([(key, part(alias)) for key, part in parts])
            return rendered[alias]

        return node

    def field(self, parent: GraphQLObjectType, spec: TypeSpec, nodes: list[FieldNode]) -> sql.Node:
        name = nodes[0].name.value
        if name == "__typename":
            return sql.constant(parent.name)
        if nodes[0].arguments:
            raise NotPlannable("arguments")
        definition = parent.fields.get(name)
        if definition is None:
            raise NotPlannable(name)
        resolver = wrapped(definition)
        python_name = definition.extensions["strawberry-definition"].python_name
        if resolver is None:
            return self.plain(spec, python_name, nodes)
        if resolver in (LIST_PRICE, LIST_COMPARE_AT) and parent.name == "Variant":
            self.prices = True
            fields = self.money_fields(nodes)
            if resolver is LIST_COMPARE_AT:
                return sql.compare_at(fields)
            return sql.money(*sql.VARIANT_MONEY["price"], fields)
        relation = spec.relations.get(python_name)
        if relation is None or relation.resolver is not resolver:
            raise NotPlannable(f"{parent.name}.{name} has a resolver the planner does not know")
        self.scopes.add(relation.scope)
        child = get_named_type(definition.type).name
        return relation.join(self.object(child, self.children(nodes, child)))

    def plain(self, spec: TypeSpec, python_name: str, nodes: list[FieldNode]) -> sql.Node:
        if python_name in spec.columns:
            if nodes[0].selection_set is not None:
                raise NotPlannable("selection on a leaf")
            return sql.column(spec.columns[python_name])
        if python_name in spec.money:
            return sql.money(*spec.money[python_name], self.money_fields(nodes))
        raise NotPlannable(python_name)

    def money_fields(self, nodes: list[FieldNode]) -> list[tuple[str, str]]:
        return self.leaves(self.children(nodes, "Money"), MONEY)

    def connection(self, nodes: list[FieldNode], type_name: str) -> sql.PageShape:
        """The parts of a Connection selection."""
        gql_type = self.schema.get_type(type_name)
        assert isinstance(gql_type, GraphQLObjectType)
        edge_type = get_named_type(gql_type.fields["edges"].type)
        assert isinstance(edge_type, GraphQLObjectType)
        node_type = get_named_type(edge_type.fields["node"].type).name
        parts: list[tuple[str, str, Any]] = []
        cursors = False
        for key, found in self.children(nodes, type_name).items():
            name = found[0].name.value
            if name == "edges":
                edge_fields = self.children(found, edge_type.name)
                cursors |= any(f[0].name.value == "cursor" for f in edge_fields.values())
                parts.append((key, "edges", self.edge(edge_fields, edge_type.name, node_type)))
            elif name == "pageInfo":
                info = self.leaves(self.children(found, "PageInfo"), PAGE_INFO)
                cursors |= any(n in ("startCursor", "endCursor") for _, n in info)
                parts.append((key, "pageInfo", info))
            elif name in ("__typename", "totalCount"):
                self.leaves({key: found}, frozenset({name}))
                parts.append((key, name, None))
            else:
                raise NotPlannable(f"{type_name}.{name}")
        return sql.PageShape(fields=parts, cursors=cursors, typename=type_name)

    def edge(self, fields: Fields, edge_type: str, node_type: str) -> sql.Node:
        """Each aliased `node` gets its own object; cursors are the page rows' `_cursor`."""
        self.leaves({k: f for k, f in fields.items() if f[0].name.value != "node"}, EDGE)
        parts = [
            (key, self.object(node_type, self.children(found, node_type))
             if found[0].name.value == "node" else sql.edge_part(found[0].name.value, edge_type))
            for key, found in fields.items()
        ]
        return lambda alias: sql.obj([(key, part(alias)) for key, part in parts])

    def leaves(self, fields: Fields, known: frozenset[str]) -> list[tuple[str, str]]:
        """(response key, field name) of leaf fields the planner knows, without arguments."""
        for found in fields.values():
            if found[0].name.value not in known or found[0].arguments or found[0].selection_set:
                raise NotPlannable(found[0].name.value)
        return [(key, found[0].name.value) for key, found in fields.items()]
