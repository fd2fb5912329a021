"""What a domain module and a tenant extension contribute to a tenant's schema."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping


@dataclasses.dataclass(frozen=True)
class Module:
    """A domain: its root fragments and any types reachable only through `types`."""

    slug: str
    query: type | None = None
    mutation: type | None = None
    types: tuple[type, ...] = ()


@dataclasses.dataclass(frozen=True)
class Extension:
    """Written for some tenants: extra root fields, type overrides and service overrides.

    A type override is a subclass of a core type carrying the same GraphQL name; in the schemas
    of this extension's tenants it stands wherever the core type is used.
    """

    slug: str
    query: type | None = None
    mutation: type | None = None
    type_overrides: tuple[type, ...] = ()
    services: Mapping[str, object] = dataclasses.field(default_factory=dict)
