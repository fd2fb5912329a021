"""Tenants, the principals acting for them, their scopes and their module sets."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import re
from collections.abc import Iterable, Mapping
from importlib import metadata
from typing import Any
from uuid import UUID

from domain.errors import Invalid
from domain.modules import MODULES, ExtensionSpec

SLUG = re.compile(r"[a-z][a-z0-9-]{1,39}")
ADMIN = "admin"
PLATFORM = "platform"

EXTENSION_ENTRY_POINTS = "tenantgraph.extensions"


def _installed() -> Mapping[str, ExtensionSpec]:
    """The extensions installed with this deployment: the packages its entry points name, each
    with a domain-level `SPEC`. Core code names no extension."""
    found: dict[str, ExtensionSpec] = {}
    for point in sorted(metadata.entry_points(group=EXTENSION_ENTRY_POINTS), key=lambda p: p.name):
        spec = point.load().SPEC
        if not isinstance(spec, ExtensionSpec) or spec.slug != point.name:
            raise TypeError(f"{point.value}.SPEC must be the ExtensionSpec of {point.name}")
        found[spec.slug] = dataclasses.replace(spec, package=point.value)
    return found


EXTENSIONS: Mapping[str, ExtensionSpec] = _installed()
BASE_SCOPES = (ADMIN,)


@dataclasses.dataclass(frozen=True)
class Tenant:
    id: UUID
    slug: str
    name: str
    modules: frozenset[str]
    extensions: frozenset[str]
    settings: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @functools.cached_property
    def fingerprint(self) -> str:
        """Tenants with the same module and extension set share one schema. Kept on the
        tenant: every request asks for it (its schema, its plans), and a tenant never changes."""
        return schema_fingerprint(self.modules, self.extensions)


@dataclasses.dataclass(frozen=True)
class Principal:
    """Who is calling: an API key or a token subject, with the scopes it carries."""

    subject: str
    scopes: frozenset[str]
    tenant_id: UUID | None
    kind: str = "api_key"

    @property
    def is_platform(self) -> bool:
        return PLATFORM in self.scopes

    def can(self, scope: str) -> bool:
        if self.is_platform or ADMIN in self.scopes or scope in self.scopes:
            return True
        domain, _, action = scope.partition(":")
        return action == "read" and f"{domain}:write" in self.scopes


def schema_fingerprint(modules: Iterable[str], extensions: Iterable[str]) -> str:
    text = ",".join(sorted(modules)) + "|" + ",".join(sorted(extensions))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def check_slug(slug: str) -> str:
    if not SLUG.fullmatch(slug):
        raise Invalid(
            "slug must be 2-40 characters: lowercase letters, digits and '-', starting with a letter",
            fields={"slug": "invalid format"},
        )
    return slug


def check_modules(modules: Iterable[str], extensions: Iterable[str] = ()) -> frozenset[str]:
    """Refuse unknown modules and any module or extension whose requirements are not enabled."""
    enabled = frozenset(modules)
    unknown = sorted(enabled - MODULES.keys())
    if unknown:
        names = ", ".join(unknown)
        raise Invalid(f"unknown modules: {names}", fields={"modules": f"unknown: {names}"})
    wanted: list[tuple[str, tuple[str, ...]]] = [(m, MODULES[m].requires) for m in sorted(enabled)]
    for slug in sorted(extensions):
        if slug not in EXTENSIONS:
            raise Invalid(f"unknown extension: {slug}", fields={"extensions": f"unknown: {slug}"})
        wanted.append((slug, EXTENSIONS[slug].requires))
    for slug, requires in wanted:
        missing = sorted(set(requires) - enabled)
        if missing:
            raise Invalid(
                f"{slug} requires {', '.join(missing)}, which is not enabled",
                fields={"modules": f"missing: {', '.join(missing)}"},
            )
    return enabled


def known_scopes() -> frozenset[str]:
    scopes = {scope for spec in MODULES.values() for scope in spec.scopes}
    return frozenset(scopes | set(BASE_SCOPES))


def check_scopes(
    scopes: Iterable[str], *, platform: bool = False, field: str = "scopes"
) -> frozenset[str]:
    wanted = frozenset(scopes)
    allowed = known_scopes() | ({PLATFORM} if platform else set())
    unknown = sorted(wanted - allowed)
    if unknown:
        names = ", ".join(unknown)
        raise Invalid(f"unknown scopes: {names}", fields={field: f"unknown: {names}"})
    if not wanted:
        raise Invalid("at least one scope is required", fields={field: "empty"})
    return wanted
