"""Document limits are counted without expanding fragments and checked before graphql-core's
rules, so that every hostile document is refused (or validated) with work that does not grow
with its depth; what the limits let through is validated within a CPU-time budget.

The work is counted, not timed: the budget looks at the clock once every `budget.CHECK_EVERY`
units of work (selection sets walked, fields compared), and `Looks` counts those looks and can
run out after a given number of them, as the clock would."""

from __future__ import annotations

import dataclasses
import gc
from collections.abc import Iterator

import pytest
from graphql import GraphQLError, GraphQLSchema, parse, specified_rules
from strawberry.extensions.max_aliases import count_fields_with_alias
from strawberry.extensions.query_depth_limiter import determine_depth, get_fragments

from domain.config import Settings
from schema import budget, build, limits
from server import plans
from tests import hostile

SETTINGS = Settings()
DEFAULTS = limits.Limits.of(SETTINGS)
BUDGET_ONLY = dataclasses.replace(
    DEFAULTS, max_depth=10**6, max_aliases=10**6, max_selections=10**18, budget_seconds=0.1
)
"""Limits so high that only the budget stands between a document and graphql-core's rules."""
FEW = 32
"""Looks at the clock (of CHECK_EVERY units of work each) within which the limits answer any
document, without the budget having to stop anything: 22 at most were counted (30 conflicting
aliases); what the limits refuse is refused before any. Unbounded work takes millions."""
RULES = tuple(specified_rules)
LIMIT_MESSAGES = ("exceeds maximum operation depth", "aliases found", "field selections found",
                  "pairs of fields with the same response name", "more than 3000 tokens")


@pytest.fixture(autouse=True)
def no_collection() -> Iterator[None]:
    """The budgets here that are CPU time (20 ms, the planner's) are for the limits' own work:
    a collection of the suite's garbage (other tests run an app in-process, whose collector
    thresholds make rare collections long) is not."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@pytest.fixture(scope="module")
def schema() -> GraphQLSchema:
    everything = build.build_schema(build.MODULES, ["banban"], SETTINGS)
    return everything.schema._schema


class Looks(budget.Budget):
    """A budget of looks at the clock instead of CPU seconds: spent after `allowed` looks."""

    def __init__(self, allowed: int = 10**9) -> None:
        super().__init__(float("inf"))
        self.allowed = allowed
        self.looks = 0

    def spent(self) -> bool:
        self.looks += 1
        return self.looks > self.allowed


def checked(schema: GraphQLSchema, text: str, chosen: limits.Limits, looks: Looks | None = None
            ) -> tuple[list[GraphQLError], int]:
    """The errors of a document no cache has seen, and how often its check looked at the clock."""
    looks = looks or Looks()
    documents = limits.Documents(chosen)
    try:
        document = documents.parse(text)
    except GraphQLError as error:
        return [error], looks.looks
    errors = documents.errors(schema, text, document, RULES, looks)
    return errors, looks.looks


def sizes() -> list[tuple[str, int]]:
    return [(name, size) for name, (_, sizes) in hostile.SHAPES.items() for size in sizes]


@pytest.mark.parametrize(("shape", "size"), sizes())
def test_the_limits_answer_every_hostile_document_within_the_budget(
    schema: GraphQLSchema, shape: str, size: int
) -> None:
    make, _ = hostile.SHAPES[shape]

    errors, looks = checked(schema, make(size), DEFAULTS)

    assert looks <= FEW, f"{looks} looks at the clock, {errors[:1]}"
    assert not any(isinstance(error, budget.OverBudget) for error in errors)


@pytest.mark.parametrize("shape", hostile.SHAPES)
def test_the_largest_of_each_shape_is_refused_by_a_limit(schema: GraphQLSchema, shape: str) -> None:
    make, sizes = hostile.SHAPES[shape]

    errors, _ = checked(schema, make(sizes[-1]), DEFAULTS)

    assert errors
    assert all(any(m in error.message for m in LIMIT_MESSAGES) for error in errors), errors


@pytest.mark.parametrize(("shape", "size"), sizes())
def test_without_the_limits_the_budget_still_bounds_validation(
    schema: GraphQLSchema, shape: str, size: int
) -> None:
    make, _ = hostile.SHAPES[shape]

    errors, looks = checked(schema, make(size), BUDGET_ONLY, Looks(allowed=FEW))

    # Either validated with less work than the budget allows, or stopped at its first look past it.
    over = [error for error in errors if isinstance(error, budget.OverBudget)]
    assert (looks <= FEW and not over) or (looks == FEW + 1 and len(over) == 1), (looks, errors[:1])


def test_the_budget_interrupts_overlapping_field_merging(schema: GraphQLSchema) -> None:
    text = hostile.same_field_siblings(700)
    documents = limits.Documents(BUDGET_ONLY)  # as requests are checked: the collector paused
    document = documents.parse(text)
    looks = Looks(allowed=FEW)

    errors = documents.errors(schema, text, document, RULES, budget.Budget(0.02))
    counted = documents.errors(schema, text, document, RULES, looks)

    # Unbudgeted, the pairwise merging of 700 siblings validates (after seconds): no error at all.
    assert [type(error) for error in errors] == [budget.OverBudget]
    assert [type(error) for error in counted] == [budget.OverBudget] and looks.looks == FEW + 1
    assert "more than 20 ms of CPU time" in errors[0].message


def test_a_document_over_the_budget_is_not_remembered_as_invalid(schema: GraphQLSchema) -> None:
    text = hostile.same_field_siblings(30)
    documents = limits.Documents(DEFAULTS)
    document = documents.parse(text)

    refused = documents.errors(schema, text, document, RULES, budget.Budget(0))
    accepted = documents.errors(schema, text, document, RULES, budget.Budget(1))

    assert [type(error) for error in refused] == [budget.OverBudget]
    assert accepted == []


def test_a_known_document_is_answered_from_the_cache(schema: GraphQLSchema) -> None:
    text = "query Known { tenant { slug } }"
    documents = limits.Documents(DEFAULTS)
    document = documents.parse(text)
    first = documents.errors(schema, text, document, RULES)

    again = documents.parse(text)

    assert again is document
    assert documents.errors(schema, text, again, RULES) is first


# What is counted.


def test_a_fan_out_is_counted_by_multiplying_not_by_expanding() -> None:
    document = parse(hostile.fragment_fanout(12, width=10))

    [(_, shape)] = limits.measure(document)

    assert shape == limits.Shape(depth=1, aliases=0, selections=2 * sum(10**i for i in range(12)))


OLD_LIMITER_CASES = [
    "query A { tenant { slug } }",
    "query B { products { edges { node { variants { price { amount } } } } } }",
    "query C { ...P } fragment P on Query { products { edges { node { ...N } } } } "
    "fragment N on Product { id v: variants { sku } }",
    "query D { ... on Query { a: tenant { slug } } b: tenant { ... on Tenant { name } } }",
    "query E { __schema { types { fields { type { name } } } } t: tenant { slug } }",
    "query F { ...G ...G } fragment G on Query { x: tenant { slug } ...H } "
    "fragment H on Query { y: tenant { id } }",
    "query G1 { tenant { slug } } query G2 { a: tenant { name } b: tenant { id } }",
]


@pytest.mark.parametrize("text", OLD_LIMITER_CASES)
def test_depth_and_aliases_are_counted_as_strawberrys_limiters_counted_them(text: str) -> None:
    document = parse(text)
    fragments = get_fragments(document.definitions)

    shapes = limits.measure(document)

    for operation, shape in shapes:
        assert shape.depth == determine_depth(
            operation, fragments, 0, 10**6, None, "op", None  # type: ignore[arg-type]
        )
        assert shape.aliases == count_fields_with_alias(operation, fragments)


def test_introspection_fields_do_not_count_for_depth_but_do_for_selections() -> None:
    [(_, shape)] = limits.measure(parse("{ __schema { types { fields { type { ofType { name } } } } } }"))

    assert shape.depth == 0
    assert shape.selections == 6


def test_fragment_cycles_are_refused_and_unknown_fragments_left_to_validation(schema: GraphQLSchema) -> None:
    cyclic = "query C { ...A } fragment A on Query { tenant { slug } ...B } fragment B on Query { ...A }"
    unknown = "query U { ...Nowhere }"

    through_a_field = "{ ...A } fragment A on Query { tenant { ...B } } fragment B on Tenant { ...A }"

    cycle_errors, _ = checked(schema, cyclic, DEFAULTS)
    field_errors, looks = checked(schema, through_a_field, DEFAULTS)
    unknown_errors, _ = checked(schema, unknown, DEFAULTS)

    assert any("Cannot spread fragment 'A' within itself" in e.message for e in cycle_errors)
    assert [e.message for e in field_errors] == ["Cannot spread fragment 'A' within itself."]
    assert looks <= FEW
    assert [e.message for e in unknown_errors] == ["Unknown fragment 'Nowhere'."]


def test_a_long_chain_of_fragments_needs_no_recursion(schema: GraphQLSchema) -> None:
    chain = " ".join(f"fragment F{i} on Query {{ ...F{i + 1} }}" for i in range(2000))
    text = f"query Chain {{ ...F0 }} {chain} fragment F2000 on Query {{ tenant {{ slug }} }}"

    [(_, shape)] = limits.measure(parse(text))

    assert shape == limits.Shape(depth=1, aliases=0, selections=2)


def test_same_named_fields_are_counted_in_pairs_per_response_path() -> None:
    # 10 selections; tenant.slug merges 3 own fields and 3 of S (spread twice, merged once).
    document = parse("{ tenant { slug slug slug ...S ...S } } fragment S on Tenant { slug slug slug }")

    refused = limits.check(document, dataclasses.replace(DEFAULTS, max_selections=14))
    accepted = limits.check(document, dataclasses.replace(DEFAULTS, max_selections=15))

    assert [e.message for e in refused] == [
        "15 pairs of fields with the same response name found (each pair is compared to check "
        "that they can be merged; most at 'tenant.slug'). Allowed: 14: select each field once"
    ]
    assert accepted == []


def test_the_planner_merges_each_fragment_once(schema: GraphQLSchema) -> None:
    product = 'product(id: "00000000-0000-0000-0000-000000000000") { id title }'
    text = hostile.fragment_fanout(12).replace("tenant { slug }", product)

    plan = plans.make_plan(schema, text, None, DEFAULTS.budget_seconds)  # raises OverBudget when spent

    assert plan is not None and [root.key for root in plan.roots] == ["product"]
