"""Extensions are packages of their own, found through entry points; core code names none,
and a service override is checked when the extension is declared."""

from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path

import pytest

from domain import catalog, tenancy
from domain.config import Settings
from extensions.banban import fashion
from extensions.banban import schema as banban_schema
from resolvers.context import Services
from schema import build
from schema.modules import Extension

ROOT = Path(__file__).resolve().parents[2]
CORE = ("domain", "tables", "services", "resolvers", "schema", "workers", "server")


def test_an_extension_overriding_a_service_that_does_not_exist_fails_when_declared() -> None:
    def typo(services: Services) -> Services:
        rules = catalog.DefaultCatalogRules()
        return dataclasses.replace(services, catalog_rulez=rules)  # type: ignore[call-arg]

    with pytest.raises(TypeError, match="catalog_rulez"):
        Extension(slug="typo", services=typo)


def test_an_extension_part_overriding_a_missing_service_fails_when_declared() -> None:
    def typo(services: Services) -> Services:
        return dataclasses.replace(services, metric=fashion.FashionMetricsService())  # type: ignore[call-arg]

    with pytest.raises(TypeError, match="metric"):
        Extension(slug="typo", when={"metrics": Extension(slug="typo-metrics", services=typo)})


def test_importing_an_extension_that_overrides_a_missing_service_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "typo_extension"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "schema.py").write_text(
        "import dataclasses\n"
        "from schema.modules import Extension\n"
        "EXTENSION = Extension(slug='typo', services=lambda s: dataclasses.replace(s, pricing=None))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))

    with pytest.raises(TypeError, match="pricing"):
        importlib.import_module("typo_extension.schema")


def test_services_must_return_the_services() -> None:
    with pytest.raises(TypeError, match="must return the Services"):
        Extension(slug="odd", services=lambda services: catalog.DefaultCatalogRules())  # type: ignore[arg-type,return-value]


def test_installed_extensions_come_from_their_entry_points() -> None:
    assert tenancy.EXTENSIONS == {
        "banban": tenancy.ExtensionSpec("banban", requires=("catalog",), package="extensions.banban")
    }
    assert build.EXTENSIONS == {"banban": banban_schema.EXTENSION}


def test_banban_services_replace_the_defaults_it_names() -> None:
    modules = ["catalog", "customers", "inventory", "orders", "metrics"]

    replaced = build.build_schema(modules, ["banban"], Settings())

    assert isinstance(replaced.services.catalog_rules, fashion.FashionCatalogRules)
    assert isinstance(replaced.services.metrics, fashion.FashionMetricsService)


def test_core_packages_name_no_extension() -> None:
    named = [
        str(path.relative_to(ROOT))
        for package in CORE if (ROOT / package).exists()
        for path in (ROOT / package).rglob("*.py")
        if any(word in path.read_text().lower() for word in ("banban", "fashion"))
    ]

    assert named == []
