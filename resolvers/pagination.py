"""Opaque keyset cursors for Relay connections."""

from __future__ import annotations

import base64
import dataclasses
import enum
import json
import typing
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Generic, TypeVar
from uuid import UUID

from domain.errors import Invalid

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class Page(Generic[T]):
    items: list[tuple[str, T]]
    has_next_page: bool
    has_previous_page: bool

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


def decode(cursor: str, order: str, kind: type | None = None) -> tuple[Any, UUID]:
    """(sort value, id) of a cursor made for the same ordering; anything else is bad input.
    `kind` is the sort value's type: by default datetime for `*_at` fields, else str."""
    invalid = Invalid("after: not a cursor from this connection", fields={"after": "invalid"})
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        made_for, value, row_id = json.loads(base64.urlsafe_b64decode(padded))
        if made_for != order:
            raise Invalid("after: cursor belongs to another ordering", fields={"after": "mismatch"})
        if isinstance(value, dict):
            value = datetime.fromisoformat(value["t"])
        parsed = (value, UUID(row_id))
    except (ValueError, TypeError, KeyError):
        raise invalid from None
    expected = kind or (datetime if order.split(":")[0].endswith("_at") else str)
    if not isinstance(value, expected) or isinstance(value, bool):
        raise invalid
    return parsed


def page_size(first: int | None, maximum: int, default: int = 20) -> int:
    size = default if first is None else first
    if not 0 <= size <= maximum:
        raise Invalid(f"first must be between 0 and {maximum}", fields={"first": "out of range"})
    return size


def paginate(
    rows: Sequence[T], size: int, key: Callable[[T], tuple[str, Any, UUID]], after: bool
) -> Page[T]:
    """Rows were fetched with limit size + 1: the extra one only says there is a next page."""
    shown = list(rows[:size])
    return Page(
        items=[(encode(*key(row)), row) for row in shown],
        has_next_page=len(rows) > size,
        has_previous_page=after,
    )
