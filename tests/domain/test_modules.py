"""The module list: a declaration that would fail silently later fails here."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from domain import events, modules, tenancy

ROOT = Path(__file__).resolve().parents[2]
# Where events are appended: the storage and use-case layers, workers, extensions.
EVENT_SOURCES = ("domain", "tables", "services", "workers", "extensions")
# Where scopes are checked: the code behind GraphQL fields.
SCOPE_SOURCES = ("resolvers", "schema", "extensions")

GIFTCARDS = modules.ModuleSpec(
    "giftcards", requires=("orders",), scopes=("giftcards:read", "giftcards:write"),
    events={"giftcard.issued": "giftcards:read"},
)


def test_an_event_type_without_a_read_scope_is_refused() -> None:
    unread = modules.ModuleSpec("giftcards", scopes=("giftcards:read",), events={"giftcard.issued": ""})

    with pytest.raises(ValueError, match="'giftcard.issued' has no read scope"):
        modules.registry(*tenancy.MODULES.values(), unread)


def test_an_event_read_with_another_modules_scope_is_refused() -> None:
    borrowed = modules.ModuleSpec(
        "giftcards", scopes=("giftcards:read",), events={"giftcard.issued": "orders:read"}
    )

    with pytest.raises(ValueError, match="no read scope of the module"):
        modules.registry(*tenancy.MODULES.values(), borrowed)


def test_an_event_type_declared_by_two_modules_is_refused() -> None:
    twice = modules.ModuleSpec(
        "giftcards", scopes=("giftcards:read",), events={"order.created": "giftcards:read"}
    )

    with pytest.raises(ValueError, match="declared by orders too"):
        modules.registry(*tenancy.MODULES.values(), twice)


def test_an_unknown_requirement_is_refused() -> None:
    with pytest.raises(ValueError, match="requires unknown module orders"):
        modules.registry(GIFTCARDS)


def test_a_slug_listed_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="listed twice"):
        modules.registry(*tenancy.MODULES.values(), tenancy.MODULES["catalog"])


def test_a_well_declared_module_is_accepted_and_its_events_get_its_read_scope() -> None:
    found = modules.registry(*tenancy.MODULES.values(), GIFTCARDS)

    assert found["giftcards"] is GIFTCARDS


def _sources(packages: tuple[str, ...]) -> Iterator[tuple[Path, ast.Module]]:
    for package in packages:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path, ast.parse(path.read_text())


def _strings(node: ast.AST) -> set[str]:
    return {n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)}


def _dicts(trees: list[ast.Module]) -> dict[str, ast.Dict]:
    """Dict literals by the name they are assigned to (`EVENTS = {...}`)."""
    found: dict[str, ast.Dict] = {}
    for node in (n for tree in trees for n in ast.walk(tree)):
        if isinstance(node, ast.AnnAssign | ast.Assign) and isinstance(node.value, ast.Dict):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                if isinstance(target, ast.Name):
                    found[target.id] = node.value
    return found


def _constants(sources: list[tuple[Path, ast.Module]]) -> dict[tuple[str, str], set[str]]:
    """Module-level string constants (`CREATED = "shipment.created"`) by (module, name), as
    `shipping.CREATED` names them."""
    found: dict[tuple[str, str], set[str]] = {}
    for path, tree in sources:
        for node in tree.body:
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
                for target in node.targets:
                    if isinstance(target, ast.Name) and isinstance(node.value.value, str):
                        found.setdefault((path.stem, target.id), set()).add(node.value.value)
    return found


def _event_arguments(function: ast.AST) -> Iterator[ast.expr]:
    """First arguments of calls to `draft` (or a helper `_append` of it) in a function."""
    for call in ast.walk(function):
        if isinstance(call, ast.Call) and call.args:
            func = call.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in ("draft", "_append"):
                yield call.args[0]


def _appended_types() -> set[str]:
    """Event types the code appends: literals, names assigned literals in the same function,
    module constants (`shipping.CREATED`) and dicts of event types (`EVENTS[kind]`)."""
    sources = list(_sources(EVENT_SOURCES))
    trees = [tree for _, tree in sources]
    dicts = _dicts(trees)
    constants = _constants(sources)
    found: set[str] = set()
    functions = (n for tree in trees for n in ast.walk(tree))
    for function in functions:
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        assigned = {
            t.id: n.value for n in ast.walk(function) if isinstance(n, ast.Assign)
            for t in n.targets if isinstance(t, ast.Name)
        }
        for first in _event_arguments(function):
            if isinstance(first, ast.Name):
                first = assigned.get(first.id, first)
            if isinstance(first, ast.Attribute) and isinstance(first.value, ast.Name):
                found |= constants.get((first.value.id, first.attr), set())
            elif isinstance(first, ast.Subscript):
                table = first.value
                first = dicts[table.attr if isinstance(table, ast.Attribute) else getattr(table, "id", "")]
                found |= {v.value for v in first.values if isinstance(v, ast.Constant)}
            else:
                found |= _strings(first)
    return found


def test_every_event_type_the_code_appends_is_declared_with_a_read_scope() -> None:
    declared = {t for spec in tenancy.MODULES.values() for t in spec.events}

    appended = _appended_types()

    assert "order.status_changed" in appended and "payment.refunded" in appended
    assert appended - declared == set(), "declare these in their module's events (domain/modules.py)"
    assert declared - appended == set(), "declared but never appended"


def test_every_declared_scope_is_checked_by_some_field() -> None:
    used = set().union(*(_strings(tree) for _, tree in _sources(SCOPE_SOURCES)))

    unused = {s for spec in tenancy.MODULES.values() for s in spec.scopes} - used

    assert unused == set(), "a scope no field checks: remove it or check it"


def test_the_scope_check_fails_for_a_scope_no_field_uses() -> None:
    used = set().union(*(_strings(tree) for _, tree in _sources(SCOPE_SOURCES)))

    assert not set(GIFTCARDS.scopes) <= used


# What the modules written by hand before the module list declared; modules added since are
# checked by the rules above and by their own tests.
HAND_WRITTEN_READ_SCOPES = {
    "product": "catalog:read", "variant": "catalog:read", "category": "catalog:read",
    "price": "pricing:read", "price_list": "pricing:read",
    "inventory": "inventory:read", "location": "inventory:read",
    "customer": "customers:read", "order": "orders:read", "payment": "payments:read",
    "metrics": "metrics:read",
}
HAND_WRITTEN_MODULES = {
    "catalog": ((), ("catalog:read", "catalog:write")),
    "pricing": (("catalog",), ("pricing:read", "pricing:write")),
    "inventory": (("catalog",), ("inventory:read", "inventory:write")),
    "customers": ((), ("customers:read", "customers:write")),
    "orders": (("catalog", "customers", "inventory"), ("orders:read", "orders:write")),
    "payments": (("orders",), ("payments:read", "payments:write")),
    "metrics": (("orders",), ("metrics:read", "metrics:write")),
}


def test_read_scopes_are_derived_as_they_were() -> None:
    derived = {a: events.READ_SCOPES.get(a) for a in HAND_WRITTEN_READ_SCOPES}
    added = {
        type.split(".", 1)[0]: scope
        for slug, spec in tenancy.MODULES.items() if slug not in HAND_WRITTEN_MODULES
        for type, scope in spec.events.items()
    }

    assert derived == HAND_WRITTEN_READ_SCOPES
    assert events.READ_SCOPES == {**HAND_WRITTEN_READ_SCOPES, **added}


def test_module_requirements_and_scopes_are_as_they_were() -> None:
    found = {slug: (spec.requires, spec.scopes) for slug, spec in tenancy.MODULES.items()}

    assert {slug: found.get(slug) for slug in HAND_WRITTEN_MODULES} == HAND_WRITTEN_MODULES
