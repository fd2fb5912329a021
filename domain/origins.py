"""Browser origins allowed to call the API cross-origin: per tenant, and one global list.

An origin is `scheme://host[:port]` as a browser sends it in `Origin`: http or https, a
lowercase ASCII host, no path, query, fragment or user, and no default port (`:443` on https
and `:80` on http are dropped, as browsers drop them). `*` may stand alone in the global list
(any origin, never with credentials); a tenant's list names its origins.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

from domain.errors import Invalid

ANY = "*"
MAX_PER_TENANT = 50
SETTING = "allowedOrigins"
"""The key of a tenant's settings that holds its list."""
DEFAULT_PORTS = {"http": 80, "https": 443}
HOST = re.compile(r"(\[[0-9a-f:.]+\]|[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*)")


def check(value: str) -> str:
    """The origin in the form browsers send, or Invalid saying what is wrong with it."""
    text = value.strip()
    if text == ANY:
        raise Invalid("'*' cannot be a tenant's origin: list the origins of its frontends")
    if not text.isascii():
        raise Invalid(f"{value!r}: write an internationalised host in its punycode (xn--) form")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise Invalid(f"{value!r}: not an origin (expected scheme://host[:port])") from None
    if parts.scheme.lower() not in DEFAULT_PORTS or not parts.hostname:
        raise Invalid(f"{value!r}: expected http:// or https:// and a host")
    if parts.path not in ("", "/") or parts.query or parts.fragment or "@" in parts.netloc:
        raise Invalid(f"{value!r}: an origin has no path, query, fragment or user, only scheme://host[:port]")
    scheme, host = parts.scheme.lower(), parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    if not HOST.fullmatch(host):
        raise Invalid(f"{value!r}: not a valid host name")
    shown_port = "" if port is None or port == DEFAULT_PORTS[scheme] else f":{port}"
    return f"{scheme}://{host}{shown_port}"


def check_tenant_list(values: Iterable[str]) -> tuple[str, ...]:
    """A tenant's list: each origin checked, duplicates dropped, sorted."""
    checked = sorted({check(value) for value in values})
    if len(checked) > MAX_PER_TENANT:
        raise Invalid(f"at most {MAX_PER_TENANT} origins per tenant, got {len(checked)}")
    return tuple(checked)


def check_global_list(values: Iterable[str]) -> tuple[str, ...]:
    """The global list: origins, or `*` alone."""
    given = [value.strip() for value in values if value.strip()]
    if ANY in given:
        if len(given) > 1:
            raise Invalid("'*' already allows every origin: give it alone")
        return (ANY,)
    return tuple(sorted({check(value) for value in given}))


def of_tenant(settings: Mapping[str, object]) -> frozenset[str]:
    """A tenant's allowed origins, from its settings mapping."""
    listed = settings.get(SETTING)
    if not isinstance(listed, list):
        return frozenset()
    return frozenset(value for value in listed if isinstance(value, str))
