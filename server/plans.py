"""Query planning: a query whose whole selection maps onto known columns and relations is
answered by one SQL statement that builds the response data in PostgreSQL.

A plan is made from a document that the tenant's schema has already parsed, validated (with
its limits) and executed without errors, so validation stays Strawberry's. A field is
plannable only when the tenant's schema resolves it with the very resolver (or plain
attribute) this module knows: an extension that overrides a type or field, a directive, an
unknown field or a root field outside the table below leaves the whole operation to
Strawberry. Plans are cached per (schema fingerprint, document, operation name).
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

import strawberry
from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    get_named_type,
    parse,
)
from graphql.execution.values import get_argument_values, get_variable_values

from domain import tenancy
from resolvers import plans as rules
from schema import catalog, inputs, limits, orders, pricing
from tables import plans as sql

Fields = dict[str, list[FieldNode]]
RootBuild = Callable[[sql.Statement, dict[str, Any], "Request"], str]


class NotPlannable(Exception):
    """The selection uses something the planner does not translate."""


@dataclasses.dataclass(frozen=True)
class Request:
    tenant_id: UUID
    principal: tenancy.Principal
    price_list: str | None
    variables: Mapping[str, Any] | None
    max_page_size: int


def _resolver(cls: type, name: str) -> Callable[..., Any]:
    field = cls.__strawberry_definition__.get_field(name)  # type: ignore[attr-defined]
    assert field is not None and field.base_resolver is not None
    return field.base_resolver.wrapped_func  # type: ignore[no-any-return]


def _wrapped(definition: GraphQLField) -> Callable[..., Any] | None:
    """The function behind a field in this schema; None for a plain attribute."""
    base = definition.extensions["strawberry-definition"].base_resolver
    return None if base is None else base.wrapped_func  # type: ignore[no-any-return]


@dataclasses.dataclass(frozen=True)
class Relation:
    resolver: Callable[..., Any]
    scope: str
    join: Callable[[sql.Node], sql.Node]
    many: bool = False


@dataclasses.dataclass(frozen=True)
class TypeSpec:
    columns: Mapping[str, str]
    money: Mapping[str, tuple[str, str]] = dataclasses.field(default_factory=dict)
    relations: Mapping[str, Relation] = dataclasses.field(default_factory=dict)


TYPES: dict[str, TypeSpec] = {
    "Product": TypeSpec(sql.PRODUCT_COLUMNS, relations={
        "variants": Relation(_resolver(catalog.Product, "variants"), "catalog:read",
                             sql.variants_of_product, many=True),
    }),
    "Variant": TypeSpec(sql.VARIANT_COLUMNS, sql.VARIANT_MONEY),
    "Order": TypeSpec(sql.ORDER_COLUMNS, sql.ORDER_MONEY, relations={
        "lines": Relation(_resolver(orders.Order, "lines"), "orders:read", sql.lines_of_order, many=True),
        "customer": Relation(_resolver(orders.Order, "customer"), "customers:read", sql.customer_of_order),
    }),
    "OrderLine": TypeSpec(sql.LINE_COLUMNS, sql.LINE_MONEY, relations={
        "variant": Relation(_resolver(orders.OrderLine, "variant"), "catalog:read", sql.variant_of_line),
    }),
    "Customer": TypeSpec(sql.CUSTOMER_COLUMNS),
}
# Variant prices in schemas with pricing: the base price unless X-Price-List selects a list.
LIST_PRICE = _resolver(pricing.PricedVariant, "price")
LIST_COMPARE_AT = _resolver(pricing.PricedVariant, "compare_at_price")
MONEY = frozenset({"amount", "currency", "__typename"})
EDGE = frozenset({"cursor", "__typename"})
PAGE_INFO = frozenset({"hasNextPage", "hasPreviousPage", "startCursor", "endCursor", "__typename"})
PRODUCT_SORTS = {"created_at": datetime, "title": str, "handle": str}
ORDER_SORTS = {"created_at": datetime, "number": int, "total": int}


@dataclasses.dataclass(frozen=True)
class Root:
    key: str
    field: GraphQLField | None
    node: FieldNode
    build: RootBuild


@dataclasses.dataclass(frozen=True)
class Plan:
    operation: OperationDefinitionNode
    roots: tuple[Root, ...]
    scopes: frozenset[str]
    prices: bool
    variables: inputs.Usages


class _Walk:
    """One plan being made: the fragments in scope, scopes needed, prices read."""

    def __init__(
        self, schema: GraphQLSchema, fragments: Mapping[str, FragmentDefinitionNode], budget: limits.Budget
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
            if isinstance(selection, FragmentSpreadNode):
                if selection.name.value in seen:
                    continue
                seen.add(selection.name.value)
            fragment: InlineFragmentNode | FragmentDefinitionNode = (
                self.fragments[selection.name.value] if isinstance(selection, FragmentSpreadNode)
                else selection
            )
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
        resolver = _wrapped(definition)
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
            elif name == "__typename":
                parts.append((key, "__typename", None))
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


def _by_id(scope: str, fetch: Callable[[sql.Statement, UUID, sql.Node], str], node: sql.Node) -> RootBuild:
    def build(statement: sql.Statement, args: dict[str, Any], request: Request) -> str:
        rules.require(request.principal, [scope])
        return fetch(statement, rules.row_id(args["id"]), node)

    return build


def _page(
    scope: str, source: sql.Source, kinds: Mapping[str, type], shape: sql.PageShape
) -> RootBuild:
    def build(statement: sql.Statement, args: dict[str, Any], request: Request) -> str:
        rules.require(request.principal, [scope])
        page = rules.page_request(
            args, kinds=kinds, max_page_size=request.max_page_size, cursors=shape.cursors
        )
        return sql.page(statement, source, page, shape)

    return build


ROOTS = {
    _resolver(catalog.CatalogQuery, "product"): ("by_id", "catalog:read", sql.product_by_id),
    _resolver(orders.OrderQuery, "order"): ("by_id", "orders:read", sql.order_by_id),
    _resolver(catalog.CatalogQuery, "products"): ("page", "catalog:read", (sql.PRODUCTS, PRODUCT_SORTS)),
    _resolver(orders.OrderQuery, "orders"): ("page", "orders:read", (sql.ORDERS, ORDER_SORTS)),
}


def _root(walk: _Walk, query: GraphQLObjectType, key: str, nodes: list[FieldNode]) -> Root:
    name = nodes[0].name.value
    definition = query.fields.get(name)
    if definition is None:
        raise NotPlannable(name)
    resolver = _wrapped(definition)
    known = None if resolver is None else ROOTS.get(resolver)
    if known is None:
        raise NotPlannable(f"Query.{name}")
    kind, scope, how = known
    type_name = get_named_type(definition.type).name
    if kind == "by_id":
        node = walk.object(type_name, walk.children(nodes, type_name))
        return Root(key, definition, nodes[0], _by_id(scope, how, node))
    shape = walk.connection(nodes, type_name)
    source, kinds = how
    return Root(key, definition, nodes[0], _page(scope, source, kinds, shape))


def make_plan(
    schema: GraphQLSchema, query: str, operation_name: str | None, budget_seconds: float
) -> Plan | None:
    """The plan of one operation of a valid document, or None when it is not plannable.
    Raises limits.OverBudget when planning takes more CPU time than the budget."""
    budget = limits.Budget(budget_seconds)
    document = parse(query)
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    chosen = [o for o in operations if operation_name is None or (o.name and o.name.value == operation_name)]
    if len(chosen) != 1 or chosen[0].operation != OperationType.QUERY or chosen[0].directives:
        return None
    operation = chosen[0]
    walk = _Walk(schema, fragments, budget)
    query_type = schema.query_type
    assert query_type is not None
    try:
        fields = walk.collect(operation.selection_set, query_type.name)
        roots = tuple(
            Root(key, None, nodes[0], _typename(query_type.name))
            if nodes[0].name.value == "__typename" else _root(walk, query_type, key, nodes)
            for key, nodes in fields.items()
        )
    except NotPlannable:
        return None
    return Plan(
        operation=operation, roots=roots, scopes=frozenset(walk.scopes), prices=walk.prices,
        variables=inputs.usages(schema, document, operation_name),
    )


def _typename(name: str) -> RootBuild:
    return lambda statement, args, request: sql.literal(name)


async def run(plan: Plan, schema: GraphQLSchema, request: Request) -> str | None:
    """The response data as JSON text, or None when the resolvers must answer instead."""
    if plan.prices and request.price_list is not None:
        return None
    coerced = get_variable_values(schema, plan.operation.variable_definitions or (), request.variables or {})
    if isinstance(coerced, list) or inputs.variable_problems(plan.variables, request.variables or {}):
        return None
    statement = sql.Statement(request.tenant_id)
    try:
        rules.require(request.principal, plan.scopes)
        roots = [
            (root.key, root.build(statement, _arguments(root, coerced), request)) for root in plan.roots
        ]
    except rules.Fallback:
        return None
    return await sql.fetch(sql.data(roots), statement.params, tenant_id=request.tenant_id)


def _arguments(root: Root, variables: Any) -> dict[str, Any]:
    if root.field is None:
        return {}
    try:
        return get_argument_values(root.field, root.node, variables)
    except GraphQLError:
        raise rules.Fallback("arguments") from None


class PlanCache:
    """Plans by (schema fingerprint, document, operation name); None marks the unplannable.
    Only documents the tenant's schema has executed without errors are planned."""

    def __init__(self, budget_seconds: float, maxsize: int = 1000) -> None:
        self._plans: OrderedDict[tuple[str, str, str | None], Plan | None] = OrderedDict()
        self._budget_seconds = budget_seconds
        self._maxsize = maxsize

    def get(self, fingerprint: str, query: str, operation_name: str | None) -> Plan | None:
        return self._plans.get((fingerprint, query, operation_name))

    def knows(self, fingerprint: str, query: str, operation_name: str | None) -> bool:
        return (fingerprint, query, operation_name) in self._plans

    def learn(
        self, schema: strawberry.Schema, fingerprint: str, query: str, operation_name: str | None
    ) -> None:
        key = (fingerprint, query, operation_name)
        if key in self._plans:
            return
        try:
            plan = make_plan(schema._schema, query, operation_name, self._budget_seconds)
        except limits.OverBudget:
            # Not remembered: the budget is time (a busy moment), and a later request may plan it.
            return
        if len(self._plans) >= self._maxsize:
            self._plans.popitem(last=False)
        self._plans[key] = plan


__all__ = ["Plan", "PlanCache", "Request", "make_plan", "run"]
