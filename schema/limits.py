"""Documents are parsed, limited and validated once per schema, in time that does not grow
with how often fragments spread each other.

The limits (depth, aliases, field selections) measure each fragment once and multiply its
counts by the spreads that use it, so a few hundred bytes of fragments that spread the next
one ten times per level cost what their text costs, not what their expansion would. Only a
document within the limits goes on to graphql-core's validation, which runs under a CPU-time
budget: OverlappingFieldsCanBeMerged compares same-named fields pairwise and takes seconds on
some documents of a few kilobytes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import logging
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from graphql import (
    ASTValidationRule,
    DocumentNode,
    ExecutableDefinitionNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    parse,
)
from strawberry.schema.schema import validate_document
from strawberry.types import ExecutionContext

from domain.config import Settings
from schema.budget import Budget, OverBudget, Rules, metered

log = logging.getLogger("tenantgraph.graphql")
CEILING = 10**15
"""Counts stop growing here: fragments spread by fragments can multiply past any number
worth printing."""


@dataclasses.dataclass(frozen=True)
class Limits:
    max_depth: int
    max_aliases: int
    max_selections: int
    max_tokens: int
    budget_seconds: float

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(
            max_depth=settings.max_query_depth,
            max_aliases=settings.max_aliases,
            max_selections=settings.max_selections,
            max_tokens=settings.max_tokens,
            budget_seconds=settings.validation_budget_ms / 1000,
        )


@dataclasses.dataclass(frozen=True)
class Shape:
    """What a definition selects with its fragments expanded. Depth counts fields with a
    selection, as Strawberry's QueryDepthLimiter did, and does not look below introspection
    fields (`__schema`, `__type`)."""

    depth: int
    aliases: int
    selections: int


@dataclasses.dataclass
class _Own:
    """A definition's own selections, and its spreads with the depth each sits at (None below
    an introspection field)."""

    depth: int = 0
    aliases: int = 0
    selections: int = 0
    spreads: list[tuple[str, int | None]] = dataclasses.field(default_factory=list)


def _own(definition: ExecutableDefinitionNode) -> _Own:
    own = _Own()
    pending: list[tuple[SelectionSetNode, int | None]] = [(definition.selection_set, 0)]
    while pending:
        selection_set, depth = pending.pop()
        for selection in selection_set.selections:
            if depth is not None:
                own.depth = max(own.depth, depth)
            if isinstance(selection, FieldNode):
                own.selections += 1
                own.aliases += selection.alias is not None
                if selection.selection_set is not None:
                    below = None if depth is None or selection.name.value.startswith("__") else depth + 1
                    pending.append((selection.selection_set, below))
            elif isinstance(selection, InlineFragmentNode):
                pending.append((selection.selection_set, depth))
            elif isinstance(selection, FragmentSpreadNode):
                own.spreads.append((selection.name.value, depth))
    return own


def _total(own: _Own, fragments: Mapping[str, Shape]) -> Shape:
    """A spread of an unknown fragment, or one closing a cycle, adds nothing: validation
    reports both."""
    depth, aliases, selections = own.depth, own.aliases, own.selections
    for name, at in own.spreads:
        shape = fragments.get(name)
        if shape is None:
            continue
        aliases += shape.aliases
        selections += shape.selections
        if at is not None:
            depth = max(depth, at + shape.depth)
    return Shape(depth, min(aliases, CEILING), min(selections, CEILING))


def _fragments(document: DocumentNode) -> tuple[dict[str, Shape], list[str]]:
    """Every fragment's shape, each fragment measured once, without recursion; and the
    fragments that spread themselves (through others or through fields)."""
    owns = {
        d.name.value: _own(d) for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    shapes: dict[str, Shape] = {}
    cyclic: list[str] = []
    for root in owns:
        if root in shapes:
            continue
        path: list[tuple[str, Iterator[tuple[str, int | None]]]] = [(root, iter(owns[root].spreads))]
        on_path = {root}
        while path:
            name, spreads = path[-1]
            for spread, _at in spreads:
                if spread in on_path:
                    cyclic.append(spread)
                elif spread in owns and spread not in shapes:
                    path.append((spread, iter(owns[spread].spreads)))
                    on_path.add(spread)
                    break
            else:
                path.pop()
                on_path.discard(name)
                shapes[name] = _total(owns[name], shapes)
    return shapes, cyclic


def measure(document: DocumentNode) -> list[tuple[OperationDefinitionNode, Shape]]:
    """Each operation's shape, in time linear in the document's size."""
    fragments, _ = _fragments(document)
    return _operations(document, fragments)


def _operations(
    document: DocumentNode, fragments: Mapping[str, Shape]
) -> list[tuple[OperationDefinitionNode, Shape]]:
    return [
        (d, _total(_own(d), fragments))
        for d in document.definitions if isinstance(d, OperationDefinitionNode)
    ]


def check(document: DocumentNode, limits: Limits) -> list[GraphQLError]:
    """The limits this document breaks. Depth is per operation; aliases and selections are
    counted over the whole document, since validation covers all of it."""
    fragments, cyclic = _fragments(document)
    if cyclic:
        # Refused before anything walks the document with fragments expanded: a cycle is endless.
        return [
            GraphQLError(f"Cannot spread fragment '{name}' within itself.")
            for name in dict.fromkeys(cyclic)
        ]
    shapes = _operations(document, fragments)
    errors = [
        GraphQLError(
            f"'{operation.name.value if operation.name else 'anonymous'}' exceeds maximum "
            f"operation depth of {limits.max_depth}",
            operation,
        )
        for operation, shape in shapes if shape.depth > limits.max_depth
    ]
    aliases = sum(shape.aliases for _, shape in shapes)
    if aliases > limits.max_aliases:
        errors.append(GraphQLError(f"{aliases} aliases found. Allowed: {limits.max_aliases}"))
    selections = sum(shape.selections for _, shape in shapes)
    if selections > limits.max_selections:
        errors.append(GraphQLError(
            f"{selections} field selections found with fragments expanded (each spread counts "
            f"its fragment's fields again). Allowed: {limits.max_selections}"
        ))
    if errors:
        return errors
    pairs, worst = _same_name_pairs(document)
    if pairs > limits.max_selections:
        errors.append(GraphQLError(
            f"{pairs} pairs of fields with the same response name found (each pair is compared "
            f"to check that they can be merged; most at '{worst}'). Allowed: "
            f"{limits.max_selections}: select each field once"
        ))
    return errors


def _same_name_pairs(document: DocumentNode) -> tuple[int, str]:
    """Pairs of fields that answer the same response path, as execution merges them (each
    fragment once per merge), and the path with the most fields. Only called once the
    selections are within their limit, which bounds this walk."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    pending: list[tuple[str, list[SelectionSetNode]]] = [
        ("", [d.selection_set]) for d in document.definitions if isinstance(d, OperationDefinitionNode)
    ]
    pairs, worst, most = 0, "", 0
    while pending:
        path, sets = pending.pop()
        for key, fields in _merged(sets, fragments).items():
            pairs += len(fields) * (len(fields) - 1) // 2
            if len(fields) > most:
                worst, most = f"{path}{key}", len(fields)
            below = [f.selection_set for f in fields if f.selection_set is not None]
            if below:
                pending.append((f"{path}{key}.", below))
    return pairs, worst


def _merged(
    sets: list[SelectionSetNode], fragments: Mapping[str, FragmentDefinitionNode]
) -> dict[str, list[FieldNode]]:
    fields: dict[str, list[FieldNode]] = {}
    visited: set[str] = set()
    pending = list(sets)
    while pending:
        for selection in pending.pop().selections:
            if isinstance(selection, FieldNode):
                fields.setdefault((selection.alias or selection.name).value, []).append(selection)
            elif isinstance(selection, InlineFragmentNode):
                pending.append(selection.selection_set)
            elif (
                isinstance(selection, FragmentSpreadNode)
                and selection.name.value in fragments
                and selection.name.value not in visited
            ):
                visited.add(selection.name.value)
                pending.append(fragments[selection.name.value].selection_set)
    return fields


def validate(
    schema: GraphQLSchema, document: DocumentNode, rules: Sequence[type[ASTValidationRule]],
    limits: Limits, budget: Budget,
) -> list[GraphQLError]:
    """The limits' errors, else those of the rules (with Strawberry's own), within the budget."""
    errors = check(document, limits)
    if errors:
        return errors
    if budget.spent():
        return [budget.exceeded()]
    return validate_document(schema, document, metered(rules, budget))


class Documents:
    """Parsed documents and their validation errors for one schema, by document text. A
    document over its budget is not remembered as invalid: the budget is time, and the next
    attempt may pass."""

    def __init__(self, limits: Limits, maxsize: int = 1000) -> None:
        self.limits = limits
        self._maxsize = maxsize
        self._parsed: OrderedDict[str, DocumentNode] = OrderedDict()
        self._errors: OrderedDict[tuple[str, Rules], list[GraphQLError]] = OrderedDict()

    def parse(self, query: str) -> DocumentNode:
        """The document; parsing takes time linear in it, and MAX_TOKENS bounds it."""
        found = self._parsed.get(query)
        if found is not None:
            self._parsed.move_to_end(query)
            return found
        with _collector_paused():
            document = parse(query, max_tokens=self.limits.max_tokens)
        _remember(self._parsed, query, document, self._maxsize)
        return document

    def errors(
        self, schema: GraphQLSchema, query: str, document: DocumentNode, rules: Rules,
        budget: Budget | None = None,
    ) -> list[GraphQLError]:
        key = (query, rules)
        found = self._errors.get(key)
        if found is not None:
            self._errors.move_to_end(key)
            return found
        budget = budget or Budget(self.limits.budget_seconds)
        with _collector_paused():
            errors = validate(schema, document, rules, self.limits, budget)
        if any(isinstance(error, OverBudget) for error in errors):
            log.warning("document refused: over its validation budget of %g s", self.limits.budget_seconds)
            return errors
        _remember(self._errors, key, errors, self._maxsize)
        return errors


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """A garbage collection over the whole heap can take longer than the budget: it is not the
    document's work, so it waits until the document is checked (whose garbage is bounded)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _remember(cache: OrderedDict[Any, Any], key: Any, value: Any, maxsize: int) -> None:
    if len(cache) >= maxsize:
        cache.popitem(last=False)
    cache[key] = value


def parse_operation(documents: Documents, context: ExecutionContext) -> None:
    """Strawberry's parsing step: with the token limit, each document once per schema
    (replaces ParserCache)."""
    if context.query:
        context.graphql_document = documents.parse(context.query)


def validate_operation(documents: Documents, context: ExecutionContext) -> None:
    """Strawberry's validation step: with the limits (see `validate`), each document once per
    schema (replaces ValidationCache and the limiters)."""
    assert context.query and context.graphql_document is not None
    context.pre_execution_errors = documents.errors(
        context.schema._schema, context.query, context.graphql_document, context.validation_rules,
    ) or _unnamed_among_several(context.graphql_document, context)


def _unnamed_among_several(document: DocumentNode, context: Any) -> list[GraphQLError]:
    """A document of several operations and a request naming none is refused, as graphql-core
    and the GraphQL-over-HTTP spec do; Strawberry would run the first (its `operation_name`
    falls back to it, so the name the request gave is read where Strawberry keeps it)."""
    if getattr(context, "_provided_operation_name", None) is not None:
        return []
    operations = sum(isinstance(d, OperationDefinitionNode) for d in document.definitions)
    if operations < 2:
        return []
    return [GraphQLError("Must provide operation name if query contains multiple operations.")]


__all__ = [
    "Documents", "Limits", "Shape", "check", "measure", "parse_operation", "validate",
    "validate_operation",
]
