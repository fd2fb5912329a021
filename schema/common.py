"""Types shared by every domain: money, attributes, Relay page info and connections."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Generic, NewType, TypeVar
from uuid import UUID

import strawberry
from strawberry.types import Info
from strawberry.types.scalar import ScalarDefinition

from domain import catalog
from domain.errors import Conflict, DomainError, Invalid, NotFound
from resolvers import pagination
from resolvers.context import Context
from schema import cost

N = TypeVar("N")
S = TypeVar("S")
R = TypeVar("R")
Ctx = Info[Context, None]

BigInt = NewType("BigInt", int)


def _whole_number(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"BigInt cannot represent {value!r}: expected a whole number")
    return value


SCALARS: Mapping[object, ScalarDefinition] = {
    BigInt: strawberry.scalar(
        name="BigInt",
        serialize=int,
        parse_value=_whole_number,
        description="A whole number beyond 32 bits, sent as a JSON number (e.g. minor units).",
    )
}


@strawberry.type(description="An amount in minor units (cents) of an ISO 4217 currency.")
class Money:
    amount: BigInt
    currency: str

    @classmethod
    def from_domain(cls, money: catalog.Money) -> Money:
        return cls(amount=BigInt(money.amount), currency=money.currency)


@strawberry.input
class MoneyInput:
    amount: BigInt = strawberry.field(description="Minor units, e.g. 1999 for 19.99")
    currency: str = strawberry.field(description="ISO 4217 code, e.g. EUR")

    def to_domain(self) -> catalog.Money:
        return catalog.Money(amount=int(self.amount), currency=self.currency)


@strawberry.type
class Attribute:
    name: str
    value: str


@strawberry.input
class AttributeInput:
    name: str
    value: str


def attributes_out(values: Mapping[str, str]) -> list[Attribute]:
    return [Attribute(name=k, value=v) for k, v in sorted(values.items())]


def attributes_in(values: list[AttributeInput] | None) -> dict[str, str] | None:
    return None if values is None else {a.name: a.value for a in values}


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class Edge(Generic[N]):
    cursor: str
    node: N


TOTAL_COUNT_COST = 1


@strawberry.type
class Connection(Generic[N]):
    edges: list[Edge[N]]
    page_info: PageInfo
    count: strawberry.Private[Callable[[], Awaitable[int]] | None] = None

    @strawberry.field(
        description="How many items the connection's filters select in all pages (counted only "
        "when selected; query cost 1).",
        metadata=cost.weight(TOTAL_COUNT_COST),
    )
    async def total_count(self) -> int:
        assert self.count is not None, "a connection's resolver gives its count"
        return await self.count()

    @classmethod
    def of(cls, page: pagination.Page[S], convert: Callable[[S], N]) -> Connection[N]:
        return cls(
            edges=[Edge(cursor=cursor, node=convert(item)) for cursor, item in page.items],
            page_info=PageInfo(
                has_next_page=page.has_next_page,
                has_previous_page=page.has_previous_page,
                start_cursor=page.start_cursor,
                end_cursor=page.end_cursor,
            ),
            count=page.count,
        )


def window(
    info: Ctx, first: int | None, after: str | None, last: int | None, before: str | None
) -> pagination.Window:
    """The page a connection field's first/after/last/before ask for (README: Pagination)."""
    return pagination.window(info.context.settings.max_page_size, first, after, last, before)


def parse_id(value: strawberry.ID | str, field: str) -> UUID:
    try:
        return UUID(str(value))
    except ValueError:
        raise Invalid(f"{field}: not a valid id", fields={field: "invalid id"}) from None


def optional_id(value: strawberry.ID | None, field: str) -> UUID | None:
    return None if value is None else parse_id(value, field)


@strawberry.type(description="Why a mutation did not happen; `field` is the input path, if any.")
class UserError:
    field: str | None
    message: str
    code: str = strawberry.field(description="BAD_USER_INPUT, NOT_FOUND or CONFLICT")


def user_errors(error: DomainError) -> list[UserError]:
    if isinstance(error, Invalid) and error.fields:
        return [UserError(field=f, message=m, code=error.code) for f, m in error.fields.items()]
    return [UserError(field=None, message=error.message, code=error.code)]


async def attempt(work: Awaitable[R]) -> tuple[R | None, list[UserError]]:
    """Run a mutation: rule violations become typed errors in its payload; missing
    credentials or scopes stay request errors (UNAUTHENTICATED, FORBIDDEN)."""
    try:
        return await work, []
    except (Invalid, Conflict, NotFound) as error:
        return None, user_errors(error)
