"""A planned mutation completes its payload as graphql-core does, on a schema made for the
purpose (its resolvers added to the planner's KNOWN for the test): nulls where a field may be
null, an error located at its path, a null that goes up to the nearest nullable position, a
resolver's error; and argument types the planner does not convert are not planned."""

from __future__ import annotations

import enum
from typing import Any

import pytest
import strawberry
from strawberry.relay import GlobalID

from server.plans import mutations
from server.plans.arguments import compile_arguments
from server.plans.known import resolver_of
from server.plans.walk import NotPlannable


@strawberry.type
class Inner:
    name: str
    note: str | None = None


@strawberry.enum
class Kind(enum.Enum):
    A = "a"
    B = "b"


@strawberry.type
class Payload:
    inner: Inner | None
    items: list[Inner | None]
    required: list[Inner]
    kind: Kind
    tags: list[str]


@strawberry.input
class Options:
    kind: Kind = Kind.B
    names: list[str] | None = None
    depth: int = 3


def _payload(broken: str, options: Options) -> Payload:
    bad = Inner(name=None)  # type: ignore[arg-type] - the bug a completion must report
    good = Inner(name=f"{options.kind.value}{options.depth}{''.join(options.names or [])}")
    return Payload(
        inner=bad if broken == "inner" else good,
        items=[good, bad if broken == "item" else None],
        required=[bad if broken == "required" else good],
        kind=options.kind, tags=["t"],
    )


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def make(self, info: strawberry.Info, broken: str = "", options: Options | None = None) -> Payload:
        return _payload(broken, options or Options())

    @strawberry.mutation
    async def maybe(self, info: strawberry.Info) -> Payload | None:
        raise ValueError("refused by the resolver")


@strawberry.type
class Query:
    ok: bool = True


SCHEMA = strawberry.Schema(query=Query, mutation=Mutation)
SELECTION = """{ __typename inner { name note } items { name } required { name } kind tags }"""


@pytest.fixture(autouse=True)
def known(monkeypatch: pytest.MonkeyPatch) -> None:
    known = frozenset({resolver_of(Mutation, "make"), resolver_of(Mutation, "maybe")})
    monkeypatch.setattr(mutations, "KNOWN", known)


async def _both(document: str, variables: dict[str, Any] | None = None) -> tuple[Any, Any]:
    """(Strawberry's result, the plan's) as (data, [(message, path)])."""
    plan = mutations.make_mutation_plan(SCHEMA, document, None, 1.0)
    assert plan is not None
    planned = await mutations.run(plan, SCHEMA._schema, None, variables)  # type: ignore[arg-type]
    executed = await SCHEMA.execute(document, variable_values=variables)
    assert planned is not None

    def shown(result: Any) -> Any:
        return result.data, [(e.message, e.path) for e in result.errors or ()]

    return shown(executed), shown(planned)


@pytest.mark.parametrize("broken", ["", "inner", "item", "required"])
async def test_a_payload_completes_as_graphql_core_completes_it(broken: str) -> None:
    executed, planned = await _both(f'mutation {{ made: make(broken: "{broken}") {SELECTION} }}')
    assert planned == executed
    assert bool(executed[1]) == bool(broken)


async def test_arguments_with_defaults_enums_and_lists() -> None:
    document = f"mutation($o: Options) {{ make(options: $o) {SELECTION} }}"
    for options in (None, {}, {"kind": "A", "names": ["x", "y"]}, {"depth": 1, "names": None}):
        executed, planned = await _both(document, {"o": options})
        assert planned == executed and not executed[1]


async def test_a_resolver_error_under_a_nullable_root() -> None:
    executed, planned = await _both("mutation { maybe { tags } }")
    assert planned == executed == ({"maybe": None}, [("refused by the resolver", ["maybe"])])


def test_argument_types_it_does_not_convert_are_not_planned() -> None:
    @strawberry.type
    class Refused:
        @strawberry.mutation
        def by_global_id(self, id: GlobalID) -> bool:
            return True

        @strawberry.mutation
        def by_maybe(self, value: strawberry.Maybe[int]) -> bool:
            return True

    schema = strawberry.Schema(query=Query, mutation=Refused)
    assert schema._schema.mutation_type is not None
    for name in ("byGlobalId", "byMaybe"):
        field = schema._schema.mutation_type.fields[name]
        with pytest.raises(NotPlannable):
            compile_arguments(field.extensions["strawberry-definition"].arguments, schema)
