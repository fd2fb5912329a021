"""Per-tenant schemas: built from a module and extension set, cached by its fingerprint."""

from __future__ import annotations

import copy
import dataclasses
import importlib
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import strawberry
from strawberry.extensions import DisableIntrospection, SchemaExtension
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry.types.base import get_object_definition

from domain import modules as domain_modules
from domain import tenancy
from domain.config import Settings
from resolvers.context import DomainServices
from schema import (
    access,
    audit,
    cost,
    documents,
    inputs,
    limits,
    outbound,
    outbound_delivery,
    outbound_log,
    stream_tokens,
    subscriptions,
    tenants,
    throttling,
    webhooks,
)
from schema.common import SCALARS
from schema.errors import hide_suggestions, translate_result
from schema.modules import Extension, Module
from telemetry import metrics

CORE = Module(
    slug="core",
    query=merge_types("CoreQuery", (tenants.TenantQuery, audit.AuditQuery, webhooks.WebhookQuery,
                                    access.AccessQuery, documents.DocumentQuery,
                                    outbound_log.OutboundLogQuery,
                                    throttling.ThrottlingQuery, outbound.OutboundQuery)),
    mutation=merge_types("CoreMutation", (tenants.TenantMutation, webhooks.WebhookMutation,
                                          access.AccessMutation, documents.DocumentMutation,
                                          outbound_log.OutboundLogMutation,
                                          throttling.ThrottlingMutation,
                                          outbound.OutboundMutation,
                                          stream_tokens.StreamTokenMutation,
                                          outbound_delivery.OutboundDeliveryMutation)),
    subscription=subscriptions.EventSubscription,
)


def _module(slug: str) -> Module:
    """A module's fragments, subscriptions and type overrides: `MODULE` of `schema.<slug>`."""
    found = importlib.import_module(f"schema.{slug}").MODULE
    if not isinstance(found, Module) or found.slug != slug:
        raise TypeError(f"schema.{slug}.MODULE must be the Module of {slug}")
    return found


MODULES: dict[str, Module] = {slug: _module(slug) for slug in domain_modules.MODULES}


def _extension(spec: domain_modules.ExtensionSpec) -> Extension:
    """An installed extension's schema part: `EXTENSION` of `<its package>.schema`."""
    found = importlib.import_module(f"{spec.package}.schema").EXTENSION
    if not isinstance(found, Extension) or found.slug != spec.slug:
        raise TypeError(f"{spec.package}.schema.EXTENSION must be the Extension {spec.slug}")
    return found


EXTENSIONS: dict[str, Extension] = {slug: _extension(spec) for slug, spec in tenancy.EXTENSIONS.items()}


class _Schema(strawberry.Schema):
    def __init__(self, *args: Any, suggestions: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.suggestions = suggestions

    def process_errors(self, errors: Any, execution_context: Any = None) -> None:
        """translate_result logs what deserves it; expected errors are not server errors. Runs
        before any result leaves, streamed ones too: the place to drop suggestions."""
        if not self.suggestions:
            hide_suggestions(errors)


@dataclasses.dataclass(frozen=True)
class TenantSchema:
    schema: strawberry.Schema
    services: DomainServices
    costs: cost.Costs = dataclasses.field(compare=False)


def build_schema(
    modules: Iterable[str], extensions: Iterable[str], settings: Settings
) -> TenantSchema:
    """A pure function of the set: the same modules and extensions give an equal schema."""
    enabled_slugs = frozenset(modules)
    enabled = [CORE] + [MODULES[slug] for slug in sorted(enabled_slugs)]
    added = [part for slug in sorted(extensions) for part in EXTENSIONS[slug].parts(enabled_slugs)]
    parts: list[Module | Extension] = [*enabled, *added]
    queries = [p.query for p in parts if p.query is not None]
    mutations = [p.mutation for p in parts if p.mutation is not None]
    streams = [m.subscription for m in enabled if m.subscription is not None]
    overrides = _combine([t for part in parts for t in part.type_overrides])
    documents = limits.Documents(limits.Limits.of(settings))
    schema = _Schema(
        query=merge_types("Query", tuple(queries)),
        mutation=merge_types("Mutation", tuple(mutations)) if mutations else None,
        subscription=merge_types("Subscription", tuple(streams)),
        types=[*overrides, *(t for m in enabled for t in m.types)],
        extensions=_extensions(settings, documents),
        suggestions=settings.suggestions,
        # Overrides are converted first (types=...), so later references to the core type of
        # the same name resolve to the override; this switch allows that reuse.
        config=StrawberryConfig(
            scalar_map=SCALARS, _unsafe_disable_same_type_validation=bool(overrides)
        ),
    )
    services = DomainServices()
    for extension in added:
        if extension.services is not None:
            services = extension.services(services)
    return TenantSchema(
        schema=schema, services=services, costs=cost.Costs(documents, settings.max_page_size)
    )


def _combine(overrides: list[type]) -> list[type]:
    """One class per overridden GraphQL type, inheriting every override of it."""
    by_name: dict[str, list[type]] = defaultdict(list)
    for cls in overrides:
        by_name[get_object_definition(cls, strict=True).name].append(cls)
    return [
        classes[0] if len(classes) == 1
        else strawberry.type(type(name, tuple(classes), _own_fields(classes)), name=name)
        for name, classes in by_name.items()
    ]


def _own_fields(classes: list[type]) -> dict[str, Any]:
    """The fields each override defines itself (e.g. a `price` with a resolver), so that none
    is hidden by the plain core field another override inherits."""
    own: dict[str, Any] = {}
    for cls in classes:
        names = set(vars(cls)) | set(vars(cls).get("__annotations__", {}))
        for field in get_object_definition(cls, strict=True).fields:
            if field.python_name in names:
                own.setdefault(field.python_name, copy.copy(field))
    return own


def _extensions(
    settings: Settings, documents: limits.Documents
) -> list[Callable[[], SchemaExtension]]:
    """Factories: a fresh extension per operation, sharing the schema's parsed and validated
    documents and its variables' usages."""
    variables = inputs.VariableUsages()
    extensions: list[Callable[[], SchemaExtension]] = [lambda: _Operation(documents, variables)]
    if not settings.introspection:
        extensions.append(DisableIntrospection)
    return extensions


class _Operation(SchemaExtension):
    """Every step of an operation that is ours, in one extension (Strawberry wraps each hook
    of each extension in a context manager of its own at every operation): the input rules
    set before validation, the limited parse and validation (schema.limits), the variables'
    strings checked before execution, and the errors translated once it has run."""

    def __init__(self, documents: limits.Documents, variables: inputs.VariableUsages) -> None:
        self.documents = documents
        self.variables = variables

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        context.validation_rules = inputs.input_rules(context.validation_rules)
        yield
        translate_result(context)

    def on_parse(self) -> Iterator[None]:
        limits.parse_operation(self.documents, self.execution_context)
        yield

    def on_validate(self) -> Iterator[None]:
        limits.validate_operation(self.documents, self.execution_context)
        yield

    def on_execute(self) -> Iterator[None]:
        inputs.check_variables(self.variables, self.execution_context)
        yield


class SchemaCache:
    """One schema object per distinct module set, shared by every tenant with that set."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._schemas: dict[str, TenantSchema] = {}

    def for_tenant(self, tenant: tenancy.Tenant) -> TenantSchema:
        found = self._schemas.get(tenant.fingerprint)
        if found is None:
            started = time.perf_counter()
            found = build_schema(tenant.modules, tenant.extensions, self._settings)
            metrics.MODULE_LOAD_DURATION.labels(
                metrics.module_set(tenant.modules, tenant.extensions)
            ).observe(time.perf_counter() - started)
            self._schemas[tenant.fingerprint] = found
        return found


__all__ = ["SchemaCache", "TenantSchema", "build_schema"]
