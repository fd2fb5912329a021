"""Origins are checked and written the way browsers send them; `*` only stands alone in the
global list."""

from __future__ import annotations

import pytest

from domain import origins
from domain.config import ConfigError, Settings
from domain.errors import Invalid


@pytest.mark.parametrize(("given", "stored"), [
    ("https://shop.example", "https://shop.example"),
    ("HTTPS://Shop.Example:443", "https://shop.example"),
    ("http://localhost:5173", "http://localhost:5173"),
    ("http://shop.example:80/", "http://shop.example"),
    ("https://shop.example:8443", "https://shop.example:8443"),
    ("http://[::1]:3000", "http://[::1]:3000"),
    ("https://xn--bcher-kva.example", "https://xn--bcher-kva.example"),
])
def test_an_origin_is_stored_as_browsers_send_it(given: str, stored: str) -> None:
    assert origins.check(given) == stored


@pytest.mark.parametrize(("given", "says"), [
    ("*", "'*' cannot be a tenant's origin"),
    ("https://shop.example/app", "no path"),
    ("https://shop.example?x=1", "no path"),
    ("https://user@shop.example", "no path"),
    ("ftp://shop.example", "http:// or https://"),
    ("shop.example", "http:// or https://"),
    ("https://", "http:// or https://"),
    ("https://bücher.example", "punycode"),
    ("https://shop.example:99999", "not an origin"),
    ("https://sh_op.example", "not a valid host"),
])
def test_anything_but_an_origin_is_refused_with_the_reason(given: str, says: str) -> None:
    with pytest.raises(Invalid, match=says):
        origins.check(given)


def test_a_tenant_list_is_deduplicated_sorted_and_bounded() -> None:
    assert origins.check_tenant_list(["https://b.example", "https://A.example", "https://b.example"]) == (
        "https://a.example", "https://b.example",
    )
    too_many = [f"https://s{n}.example" for n in range(origins.MAX_PER_TENANT + 1)]
    with pytest.raises(Invalid, match="at most"):
        origins.check_tenant_list(too_many)


def test_the_global_list_takes_origins_or_a_lone_wildcard() -> None:
    environ = {"CORS_ORIGINS": " https://Admin.example , http://localhost:5173,"}
    assert Settings.from_env(environ).cors_origins == ("http://localhost:5173", "https://admin.example")
    assert Settings.from_env({"CORS_ORIGINS": "*"}).cors_origins == ("*",)
    assert Settings.from_env({}).cors_origins == ()
    with pytest.raises(ConfigError, match="CORS_ORIGINS: '\\*' already allows every origin"):
        Settings.from_env({"CORS_ORIGINS": "*,https://admin.example"})
    with pytest.raises(ConfigError, match="CORS_ORIGINS: .*no path"):
        Settings.from_env({"CORS_ORIGINS": "https://admin.example/"+"app"})


def test_a_tenant_without_a_list_allows_nothing() -> None:
    assert origins.of_tenant({}) == frozenset()
    assert origins.of_tenant({origins.SETTING: "https://a.example"}) == frozenset()
    assert origins.of_tenant({origins.SETTING: ["https://a.example"]}) == {"https://a.example"}
