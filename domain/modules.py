"""The module list: every domain module of tenantgraph, declared once.

An entry holds what the domain layer needs (slug, requirements, scopes, its event types and
the scope that may read each). The other layers find a module's parts by its slug, the name
each layer mirrors: its tables in `tables.<slug>`, its GraphQL fragments and subscriptions in
`schema.<slug>` (`MODULE`). Adding a module: its files, its migration, one entry here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping


@dataclasses.dataclass(frozen=True)
class ModuleSpec:
    slug: str
    requires: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()
    events: Mapping[str, str] = dataclasses.field(default_factory=dict)
    """Each event type the module appends, with the scope that lets a principal read it."""


@dataclasses.dataclass(frozen=True)
class ExtensionSpec:
    """A tenant extension as the domain sees it; the rest lives in its package."""

    slug: str
    requires: tuple[str, ...] = ()
    package: str = ""
    """Where it is installed from (`extensions.<slug>`); set when the entry point is loaded."""


def _events(scope: str, *types: str) -> Mapping[str, str]:
    return {type: scope for type in types}


def registry(*specs: ModuleSpec) -> Mapping[str, ModuleSpec]:
    """The specs by slug; refuses a list that would fail silently later."""
    found = {spec.slug: spec for spec in specs}
    problems = [problem for spec in specs for problem in check(spec, found)]
    if len(found) != len(specs):
        problems.append("a module slug is listed twice")
    if problems:
        raise ValueError("; ".join(problems))
    return found


def check(spec: ModuleSpec, known: Mapping[str, ModuleSpec]) -> list[str]:
    """What is wrong with one module's declaration, given the modules known."""
    problems = [f"{spec.slug} requires unknown module {r}" for r in spec.requires if r not in known]
    for type, scope in spec.events.items():
        if "." not in type:
            problems.append(f"{spec.slug}: event type {type!r} is not <aggregate>.<change>")
        if scope not in spec.scopes:
            problems.append(f"{spec.slug}: event {type!r} has no read scope of the module ({scope!r})")
    owners = {t: other.slug for other in known.values() if other is not spec for t in other.events}
    twice = [t for t in spec.events if t in owners]
    problems += [f"{spec.slug}: event {t!r} is declared by {owners[t]} too" for t in twice]
    return problems


MODULES = registry(
    ModuleSpec(
        "catalog", scopes=("catalog:read", "catalog:write"),
        events=_events("catalog:read", "product.created", "product.updated", "product.archived",
                       "variant.created", "variant.updated", "category.created"),
    ),
    ModuleSpec(
        "pricing", requires=("catalog",), scopes=("pricing:read", "pricing:write"),
        events=_events("pricing:read", "price.updated", "price_list.created", "price_list.updated",
                       "price_list.deleted"),
    ),
    ModuleSpec(
        "inventory", requires=("catalog",), scopes=("inventory:read", "inventory:write"),
        events=_events("inventory:read", "inventory.adjusted", "inventory.reserved",
                       "inventory.released", "location.created", "location.updated"),
    ),
    ModuleSpec(
        "customers", scopes=("customers:read", "customers:write"),
        events=_events("customers:read", "customer.created", "customer.updated"),
    ),
    ModuleSpec(
        "orders", requires=("catalog", "customers", "inventory"), scopes=("orders:read", "orders:write"),
        events=_events("orders:read", "order.created", "order.status_changed"),
    ),
    ModuleSpec(
        "payments", requires=("orders",), scopes=("payments:read", "payments:write"),
        events=_events("payments:read", "payment.authorized", "payment.captured", "payment.refunded"),
    ),
    ModuleSpec(
        "metrics", requires=("orders",), scopes=("metrics:read", "metrics:write"),
        events=_events("metrics:read", "metrics.updated"),
    ),
    ModuleSpec(
        "shipping", requires=("orders",), scopes=("shipping:read", "shipping:write"),
        events=_events("shipping:read", "shipment.created", "shipment.status_changed"),
    ),
)
