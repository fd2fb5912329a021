"""The rules a planned read must follow to answer exactly as the resolvers would: the same
scopes, page sizes and cursors. Anything they would answer with an error falls back to them."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from typing import Any
from uuid import UUID

from domain import tenancy
from domain.errors import DomainError
from resolvers import pagination
from tables import plans as sql


class Fallback(Exception):
    """This request is not for the planned path; the resolvers answer it (and its errors)."""


def require(principal: tenancy.Principal, scopes: Iterable[str]) -> None:
    if not all(principal.can(scope) for scope in scopes):
        raise Fallback("missing scope")


def row_id(value: Any) -> UUID:
    try:
        return UUID(str(value))
    except ValueError:
        raise Fallback("not an id") from None


def page_request(
    args: Mapping[str, Any], *, kinds: Mapping[str, type], max_page_size: int, cursors: bool
) -> sql.PageRequest:
    """The page `first`/`after` (or `last`/`before`) and `orderBy` select, as the list
    resolvers read them."""
    if args.get("filter") is not None:
        raise Fallback("filtered list")
    order = args.get("orderBy") or {}
    sort = _value(order.get("field"), "created_at")
    descending = _value(order.get("direction"), "asc") == "desc"
    kind = kinds.get(sort, str)
    if cursors and kind is str and sort != "handle":
        raise Fallback("cursor over free text")  # json.dumps escapes non-ASCII, PostgreSQL does not
    ordering = pagination.ordering(sort, descending)
    try:
        window = pagination.window(
            max_page_size, args.get("first"), args.get("after"), args.get("last"), args.get("before")
        )
        key = window.key(ordering, kind)
    except DomainError:
        raise Fallback("bad page arguments") from None
    return sql.PageRequest(
        sort=sort, descending=descending, after=key, size=window.size, ordering=ordering, kind=kind,
        backward=window.backward,
    )


def _value(member: Any, default: str) -> str:
    return default if member is None else str(member.value if isinstance(member, enum.Enum) else member)
