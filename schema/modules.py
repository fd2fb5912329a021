"""What a domain module and a tenant extension contribute to a tenant's schema."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping

from resolvers.context import Services


@dataclasses.dataclass(frozen=True)
class Module:
    """A domain: its root fragments, any types reachable only through `types`, and fields it
    adds to other modules' types (`type_overrides`, as for extensions)."""

    slug: str
    query: type | None = None
    mutation: type | None = None
    subscription: type | None = None
    types: tuple[type, ...] = ()
    type_overrides: tuple[type, ...] = ()


@dataclasses.dataclass(frozen=True)
class Extension:
    """Written for some tenants: extra root fields, type overrides and service overrides.

    A type override is a subclass of a core type carrying the same GraphQL name; in the schemas
    of this extension's tenants it stands wherever the core type is used. Several overrides of
    one type (from modules and extensions) are combined into one class.
    """

    slug: str
    query: type | None = None
    mutation: type | None = None
    type_overrides: tuple[type, ...] = ()
    services: Callable[[Services], Services] | None = None
    """Replaces services for its tenants, typically `dataclasses.replace(services, metrics=...)`:
    tried once on the default services when declared, so that naming a service that does not
    exist fails when the extension is imported, not when a tenant's schema is built."""
    when: Mapping[str, Extension] = dataclasses.field(default_factory=dict)
    """Parts that apply only to tenants that also enable the named module."""

    def __post_init__(self) -> None:
        if self.services is not None and not isinstance(self.services(Services()), Services):
            raise TypeError(f"{self.slug}: services must return the Services it replaces some of")

    def parts(self, modules: frozenset[str]) -> list[Extension]:
        return [self, *(part for slug, part in sorted(self.when.items()) if slug in modules)]
