"""Hostile GraphQL documents of growing size: fragments that fan out (directly, through inline
fragments, through list fields) and the shapes that make overlapping-field merging slow.

Each maker takes a size and returns the document's text; `SHAPES` names them with the sizes
the tests walk through. Names in each text are numbered by `tag`, so that a test can send a
text no cache has seen."""

from __future__ import annotations

from collections.abc import Callable


def fragment_fanout(levels: int, width: int = 10, tag: str = "") -> str:
    """`F0` selects a field and spreads `F1` `width` times, and so on: 2 * width^levels
    selections once expanded, from text that grows with levels * width."""
    fragments = [
        f"fragment F{i} on Query {{ tenant {{ slug }} {_spreads(f'F{i + 1}', width, i + 1 < levels)} }}"
        for i in range(levels)
    ]
    return f"query Fanout{tag} {{ ...F0 }} " + " ".join(fragments)


def inline_fanout(levels: int, width: int = 10, tag: str = "") -> str:
    """The same fan-out, each spread wrapped in an inline fragment with a directive."""
    def spreads(i: int) -> str:
        inner = f"... on Query @include(if: true) {{ ...F{i + 1} }}"
        return " ".join([inner] * width) if i + 1 < levels else ""

    fragments = [f"fragment F{i} on Query {{ tenant {{ slug }} {spreads(i)} }}" for i in range(levels)]
    return f"query Inline{tag} {{ ... on Query {{ ...F0 }} }} " + " ".join(fragments)


def list_fanout(levels: int, width: int = 10, tag: str = "") -> str:
    """Fan-out through list fields: each customer's orders' customers spread the next level
    `width` times."""
    fragments = [
        f"fragment C{i} on Customer {{ email orders(first: 100) {{ edges {{ node {{ number "
        f"customer {{ {_spreads(f'C{i + 1}', width, i + 1 < levels) or 'id'} }} }} }} }} }}"
        for i in range(levels)
    ]
    root = f"query Lists{tag} {{ customers(first: 100) {{ edges {{ node {{ ...C0 }} }} }} }}"
    return f"{root} {' '.join(fragments)}"


def subscription_fanout(levels: int, width: int = 10, tag: str = "") -> str:
    """Fan-out inside a subscription's payload selection."""
    fragments = [
        f"fragment E{i} on Event {{ cursor type {_spreads(f'E{i + 1}', width, i + 1 < levels)} }}"
        for i in range(levels)
    ]
    return f"subscription Stream{tag} {{ events {{ ...E0 }} }} " + " ".join(fragments)


def same_field_siblings(count: int, tag: str = "") -> str:
    """One field with a selection, repeated: merging compares every pair."""
    return f"query Siblings{tag} {{ " + " ".join(["tenant { slug }"] * count) + " }"


def same_field_fragments(count: int, tag: str = "") -> str:
    """Distinct fragments selecting the same field: merging compares every pair of them."""
    spreads = " ".join(f"...A{i}" for i in range(count))
    fragments = " ".join(f"fragment A{i} on Query {{ tenant {{ slug }} }}" for i in range(count))
    return f"query Fragments{tag} {{ {spreads} }} {fragments}"


def conflicting_aliases(count: int, tag: str = "") -> str:
    """Fragments giving one alias to two different fields: every pair is a conflict."""
    spreads = " ".join(f"...A{i}" for i in range(count))
    fragments = " ".join(
        f"fragment A{i} on Tenant {{ x: {'slug' if i % 2 else 'name'} }}" for i in range(count)
    )
    return f"query Conflicts{tag} {{ tenant {{ {spreads} }} }} {fragments}"


def nested_same_name(levels: int, width: int = 4, tag: str = "") -> str:
    """Same-named list fields side by side at every level, each spreading the next level."""
    def level(i: int) -> str:
        inner = f"...X{i + 1}" if i + 1 < levels else "email"
        return " ".join([f"orders {{ edges {{ node {{ customer {{ {inner} }} }} }} }}"] * width)

    fragments = " ".join(f"fragment X{i} on Customer {{ {level(i)} }}" for i in range(levels))
    return f"query Nested{tag} {{ customers {{ edges {{ node {{ ...X0 }} }} }} }} {fragments}"


def repeated_leaves(count: int, tag: str = "") -> str:
    return f"query Leaves{tag} {{ tenant {{ " + " ".join(["slug"] * count) + " } }"


def _spreads(name: str, width: int, more: bool) -> str:
    return " ".join([f"...{name}"] * width) if more else ""


Maker = Callable[..., str]
"""(size, tag="") -> document text."""
SHAPES: dict[str, tuple[Maker, tuple[int, ...]]] = {
    "fragment fan-out": (fragment_fanout, (2, 3, 4, 6, 8, 10, 20, 40)),
    "fragment fan-out, width 2": (lambda n, tag="": fragment_fanout(n, 2, tag), (4, 8, 16, 32, 64, 128)),
    "inline fragment fan-out": (inline_fanout, (2, 3, 4, 6, 8, 10, 20)),
    "list field fan-out": (list_fanout, (1, 2, 3, 4, 6, 8, 10)),
    "subscription fan-out": (subscription_fanout, (2, 3, 4, 6, 8, 10)),
    "same field siblings": (same_field_siblings, (10, 50, 100, 200, 400, 700)),
    "same field in fragments": (same_field_fragments, (10, 50, 100, 200, 240)),
    "conflicting aliases": (conflicting_aliases, (10, 30, 100, 200, 300)),
    "nested same-named lists": (nested_same_name, (2, 4, 8, 16, 24)),
    "repeated leaves": (repeated_leaves, (10, 100, 1000, 2900)),
}
"""Each shape's maker and sizes, the largest near the default token limit."""
