"""Query planning: a query whose whole selection maps onto known columns and relations is
answered by one SQL statement that builds the response data in PostgreSQL. (A known mutation
is planned too, without SQL of its own: server.plans.mutations.)

A plan is made from a document that the tenant's schema has already parsed, validated (with
its limits) and executed without errors, so validation stays Strawberry's. A field is
plannable only when the tenant's schema resolves it with the very resolver (or plain
attribute) the planner knows (server.plans.known): an extension that overrides a type or
field, a directive, an unknown field or another root field leaves the whole operation to
Strawberry. Plans are cached per (schema fingerprint, document, operation name).
"""

from __future__ import annotations

import dataclasses
import logging
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any
from uuid import UUID

import strawberry
from graphql import (
    FieldNode,
    GraphQLError,
    GraphQLField,
    GraphQLObjectType,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    get_named_type,
)
from graphql.execution.values import get_argument_values

from domain import tenancy
from resolvers import plans as rules
from schema import inputs
from schema.budget import Budget, OverBudget
from server.plans import documents
from server.plans.known import ROOTS, ById, wrapped
from server.plans.mutations import MutationPlan, make_mutation_plan
from server.plans.walk import NotPlannable, Walk
from tables import plans as sql

log = logging.getLogger("tenantgraph.plans")

RootBuild = Callable[[sql.Statement, dict[str, Any], "Request"], str]


@dataclasses.dataclass(frozen=True)
class Request:
    tenant_id: UUID
    principal: tenancy.Principal
    price_list: str | None
    variables: Mapping[str, Any] | None
    max_page_size: int


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
    kind: str
    """The operation's type as the metrics label it ("query": only queries are planned)."""
    name: str | None
    """The operation's name in the document, None when it has none."""


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


def _root(walk: Walk, query: GraphQLObjectType, key: str, nodes: list[FieldNode]) -> Root:
    name = nodes[0].name.value
    definition = query.fields.get(name)
    if definition is None:
        raise NotPlannable(name)
    resolver = wrapped(definition)
    known = None if resolver is None else ROOTS.get(resolver)
    if known is None:
        raise NotPlannable(f"Query.{name}")
    type_name = get_named_type(definition.type).name
    if isinstance(known, ById):
        node = walk.object(type_name, walk.children(nodes, type_name))
        return Root(key, definition, nodes[0], _by_id(known.scope, known.fetch, node))
    shape = walk.connection(nodes, type_name)
    return Root(key, definition, nodes[0], _page(known.scope, known.source, known.kinds, shape))


def make_plan(
    schema: GraphQLSchema, query: str, operation_name: str | None, budget_seconds: float
) -> Plan | None:
    """The plan of one operation of a valid document, or None when it is not plannable.
    Raises OverBudget when planning takes more CPU time than the budget."""
    budget = Budget(budget_seconds)
    chosen = documents.operation(query, operation_name, OperationType.QUERY)
    if chosen is None:
        return None
    operation = chosen.node
    walk = Walk(schema, chosen.fragments, budget)
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
        variables=inputs.usages(schema, chosen.document, operation_name),
        kind=operation.operation.value, name=chosen.name,
    )


def _typename(name: str) -> RootBuild:
    return lambda statement, args, request: sql.literal(name)


async def run(plan: Plan, schema: GraphQLSchema, request: Request) -> str | None:
    """The response data as JSON text, or None when the resolvers must answer instead."""
    if plan.prices and request.price_list is not None:
        return None
    coerced = documents.coerced(schema, plan.operation, plan.variables, request.variables)
    if coerced is None:
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
        self._plans: OrderedDict[tuple[str, str, str | None], Plan | MutationPlan | None] = OrderedDict()
        self._budget_seconds = budget_seconds
        self._maxsize = maxsize

    def get(self, fingerprint: str, query: str, operation_name: str | None) -> Plan | MutationPlan | None:
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
            plan: Plan | MutationPlan | None = make_plan(
                schema._schema, query, operation_name, self._budget_seconds
            ) or make_mutation_plan(schema, query, operation_name, self._budget_seconds)
        except OverBudget:
            # Not remembered: the budget is time (a busy moment), and a later request may plan it.
            return
        except Exception:  # noqa: BLE001 - the answer (a mutation's: committed) is sent regardless
            log.exception("planning failed; the document stays with the resolvers")
            plan = None
        if len(self._plans) >= self._maxsize:
            self._plans.popitem(last=False)
        self._plans[key] = plan


__all__ = ["MutationPlan", "Plan", "PlanCache", "Request", "make_plan", "run"]
