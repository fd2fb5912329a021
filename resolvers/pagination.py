"""Opaque keyset cursors for Relay connections."""

from __future__ import annotations

import base64
import dataclasses
import enum
import json
import typing
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, Generic, TypeVar
from uuid import UUID

from domain.errors import Invalid

T = TypeVar("T")
DEFAULT_PAGE_SIZE = 20
"""The page size when neither `first` nor `last` is given (schema.cost counts the same)."""


@dataclasses.dataclass(frozen=True)
class Page(Generic[T]):
    items: list[tuple[str, T]]
    has_next_page: bool
    has_previous_page: bool
    count: Callable[[], Awaitable[int]] | None = None
    """The connection's totalCount, awaited only when a client selects it."""

    @property
    def start_cursor(self) -> str | None:
        return self.items[0][0] if self.items else None

    @property
    def end_cursor(self) -> str | None:
        return self.items[-1][0] if self.items else None


def ordering(sort: str, descending: bool) -> str:
    """The ordering a cursor is made for, `<sort key>:<asc|desc>`: a cursor of another is refused."""
    return f"{sort}:{'desc' if descending else 'asc'}"


def sort_kinds(sorts: type[enum.Enum], row: type) -> dict[str, type]:
    """The type of each sort key's values: a key names an attribute of the listed row type,
    and a cursor's value must have that attribute's type."""
    hints = typing.get_type_hints(row)
    return {member.value: hints[member.value] for member in sorts}


def encode(order: str, value: Any, row_id: UUID) -> str:
    """The cursor of a row: base64url, unpadded, of the compact JSON [order, value, id], a
    datetime value being {"t": its isoformat} (tables.plans.cursor writes the same in SQL)."""
    if isinstance(value, datetime):
        value = {"t": value.isoformat()}
    raw = json.dumps([order, value, str(row_id)], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(
    cursor: str, order: str, kind: type | None = None, name: str = "after"
) -> tuple[Any, UUID]:
    """(sort value, id) of a cursor made for the same ordering; anything else is bad input.
    `kind` is the sort value's type: by default datetime for `*_at` fields, else str."""
    invalid = Invalid(f"{name}: not a cursor from this connection", fields={name: "invalid"})
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        made_for, value, row_id = json.loads(base64.urlsafe_b64decode(padded))
        if made_for != order:
            raise Invalid(f"{name}: cursor belongs to another ordering", fields={name: "mismatch"})
        if isinstance(value, dict):
            value = datetime.fromisoformat(value["t"])
        parsed = (value, UUID(row_id))
    except (ValueError, TypeError, KeyError):
        raise invalid from None
    expected = kind or (datetime if order.split(":")[0].endswith("_at") else str)
    if not isinstance(value, expected) or isinstance(value, bool):
        raise invalid
    return parsed


def page_size(
    first: int | None, maximum: int, default: int = DEFAULT_PAGE_SIZE, name: str = "first"
) -> int:
    size = default if first is None else first
    if not 0 <= size <= maximum:
        raise Invalid(f"{name} must be between 0 and {maximum}", fields={name: "out of range"})
    return size


@dataclasses.dataclass(frozen=True)
class Window:
    """Which page a connection's arguments ask for: `size` rows after `cursor` in the
    connection's order (first/after), or, `backward`, the `size` rows just before it
    (last/before). `cursor` is None on the first (or, backward, the last) page."""

    size: int
    cursor: str | None
    backward: bool

    @property
    def argument(self) -> str:
        """The argument the cursor came in, for error messages."""
        return "before" if self.backward else "after"

    def key(self, order: str, kind: type | None = None) -> tuple[Any, UUID] | None:
        return None if self.cursor is None else decode(self.cursor, order, kind, self.argument)


def window(
    maximum: int, first: int | None = None, after: str | None = None,
    last: int | None = None, before: str | None = None,
) -> Window:
    """first/after page forward, last/before backward; mixing the two pairs is refused
    (the Relay spec strongly discourages first with last; we do not guess what it means)."""
    if last is None and before is None:
        return Window(page_size(first, maximum), after, backward=False)
    if first is not None or after is not None:
        raise Invalid(
            "first/after page forward and last/before page backward: use one pair, not both",
            fields={"last" if last is not None else "before": "used with first/after"},
        )
    return Window(page_size(last, maximum, name="last"), before, backward=True)


def scan_descending(descending: bool, page: Window) -> bool:
    """The direction to read rows in: a backward page reads the connection's order reversed
    from its cursor, and is turned round again by `paginate_window`."""
    return descending != page.backward


def paginate_window(
    rows: Sequence[T], page: Window, key: Callable[[T], tuple[str, Any, UUID]],
    count: Callable[[], Awaitable[int]] | None = None,
) -> Page[T]:
    """Rows were read in scan order with limit size + 1: the extra one says there are more
    rows beyond the page in that direction. Edges are always in the connection's order. On
    the other side, a cursor's own row lies there (so hasPreviousPage of an `after` page and
    hasNextPage of a `before` page are true exactly when a cursor was given)."""
    return page_of(rows, page, lambda row: encode(*key(row)), count)


def page_of(
    rows: Sequence[T], page: Window, cursor: Callable[[T], str],
    count: Callable[[], Awaitable[int]] | None = None,
) -> Page[T]:
    """paginate_window for connections with cursors of their own making."""
    shown = list(rows[: page.size])
    more = len(rows) > page.size
    if page.backward:
        shown.reverse()
    items = [(cursor(row), row) for row in shown]
    given = page.cursor is not None
    return Page(
        items=items,
        has_next_page=given if page.backward else more,
        has_previous_page=more if page.backward else given,
        count=count,
    )
