"""Webhooks out: the endpoints a tenant's events are sent to, and the rules for what they hold
(event-type filters, signing secrets, custom headers, URLs)."""

from __future__ import annotations

import base64
import dataclasses
import re
import secrets as random
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

from domain import modules
from domain.errors import Invalid

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
EVERY_TYPE = "*"
OWN_EVENT_TYPES = ("webhook_endpoint.disabled",)
"""Event types webhooks out writes itself (an endpoint disabled after failing too long)."""
EVENT_TYPES = frozenset(
    {t for spec in modules.MODULES.values() for t in spec.events} | set(OWN_EVENT_TYPES)
)
"""Every event type an endpoint may ask for: those the modules declare, and our own."""
MAX_URL_LENGTH = 2_048
MAX_DESCRIPTION_LENGTH = 500
MAX_HEADERS = 20
MAX_HEADER_VALUE_LENGTH = 1_024
MAX_RATE_LIMIT = 10_000
_HEADER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}")
_HEADER_VALUE = re.compile(r"[\x20-\x7e]*")
RESERVED_HEADERS = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection",
    "te", "trailer", "transfer-encoding", "upgrade", "host", "content-length", "content-type",
    "content-encoding", "expect", "user-agent",
})
"""Hop-by-hop headers and those each request sets itself; `webhook-*` are refused too."""


Headers = Mapping[str, str] | Sequence[tuple[str, str]]
"""Custom headers as given: a mapping, or (name, value) pairs in which a name may repeat."""


@dataclasses.dataclass(frozen=True)
class SigningSecret:
    value: str = dataclasses.field(repr=False)
    expires_at: datetime | None = None
    """None for the current secret; a rotated-out one signs until then (the grace period)."""

    def active(self, now: datetime) -> bool:
        return self.expires_at is None or self.expires_at > now


@dataclasses.dataclass(frozen=True)
class Endpoint:
    """An endpoint as stored. Its secrets never show in a repr; the API never returns them,
    except a new one, once, when it is made (create, rotate)."""

    id: UUID
    tenant_id: UUID
    url: str
    description: str
    event_types: tuple[str, ...]
    enabled: bool
    disabled_reason: str | None
    headers: Mapping[str, str]
    rate_limit: int | None
    failing_since: datetime | None
    created_at: datetime
    updated_at: datetime
    secrets: tuple[SigningSecret, ...] = dataclasses.field(repr=False)
    """Newest first."""

    def signing_secrets(self, now: datetime) -> tuple[str, ...]:
        """The secrets a message sent at `now` is signed with (one signature each)."""
        return tuple(s.value for s in self.secrets if s.active(now))

    def wants(self, event_type: str) -> bool:
        return matches(self.event_types, event_type)


@dataclasses.dataclass(frozen=True)
class Draft:
    """A new endpoint as given (see `check_draft`)."""

    url: str
    event_types: tuple[str, ...]
    description: str = ""
    enabled: bool = True
    headers: Headers = ()
    rate_limit: int | None = None


@dataclasses.dataclass(frozen=True)
class Changes:
    """What an update sets; None keeps the value (`clear_rate_limit` sets the default)."""

    url: str | None = None
    description: str | None = None
    event_types: tuple[str, ...] | None = None
    enabled: bool | None = None
    headers: Headers | None = None
    rate_limit: int | None = None
    clear_rate_limit: bool = False


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(random.token_bytes(SECRET_BYTES)).decode()


def rotated(
    current: Sequence[SigningSecret], new: str, *, now: datetime, grace: timedelta
) -> tuple[SigningSecret, ...]:
    """`new` becomes current; the previous current one signs until now + grace; expired go."""
    kept = tuple(
        SigningSecret(s.value, now + grace if s.expires_at is None else s.expires_at)
        for s in current if s.active(now)
    )
    return (SigningSecret(new), *(s for s in kept if s.active(now)))


def matches(filters: Iterable[str], event_type: str) -> bool:
    """An exact type, a prefix (`order.*` for every `order.` type) or `*` (every type)."""
    for wanted in filters:
        if wanted == EVERY_TYPE or wanted == event_type:
            return True
        if wanted.endswith(".*") and event_type.startswith(wanted[:-1]):
            return True
    return False


def check_event_types(values: Sequence[str], field: str) -> tuple[str, ...]:
    """The filters, each naming at least one known event type, duplicates dropped."""
    if not values:
        raise Invalid(f"{field}: name at least one event type, a prefix such as order.* or *",
                      fields={field: "empty"})
    errors = {f"{field}.{i}": f"unknown event type {v!r}" for i, v in enumerate(values)
              if not _known_filter(v)}
    if errors:
        raise Invalid("unknown event types: " + ", ".join(sorted(errors.values())), fields=errors)
    return tuple(dict.fromkeys(values))


def _known_filter(value: str) -> bool:
    if value.endswith(".*"):
        return any(known.startswith(value[:-1]) for known in EVENT_TYPES)
    return value == EVERY_TYPE or value in EVENT_TYPES


def check_url(url: str, field: str) -> str:
    """An absolute http(s) URL with a host and no credentials. Plain http is further limited
    to allowed networks where the host is resolved (services.egress)."""
    problem = _url_problem(url)
    if problem:
        raise Invalid(f"{field}: {problem}", fields={field: problem})
    return url


def _url_problem(url: str) -> str | None:
    if len(url) > MAX_URL_LENGTH:
        return f"longer than {MAX_URL_LENGTH} characters"
    if any(c.isspace() or ord(c) < 0x20 for c in url):
        return "contains whitespace or control characters"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises for a port out of range)
    except ValueError:
        return "not a valid URL"
    if parts.scheme not in ("https", "http"):
        return "use an https:// URL"
    if not parts.hostname:
        return "the URL has no host"
    if parts.username is not None or parts.password is not None:
        return "credentials in the URL are not allowed; use a custom header"
    if parts.fragment:
        return "a URL fragment is not sent; remove it"
    return None


def check_headers(headers: Headers, field: str) -> dict[str, str]:
    """Custom headers: token names, no hop-by-hop or `webhook-*` ones, printable values."""
    pairs = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
    if len(pairs) > MAX_HEADERS:
        raise Invalid(f"{field}: at most {MAX_HEADERS} headers", fields={field: "too many"})
    errors: dict[str, str] = {}
    seen: set[str] = set()
    for name, value in pairs:
        problem = _header_problem(name, value, seen)
        if problem:
            errors[f"{field}.{name}"] = problem
        seen.add(name.lower())
    if errors:
        raise Invalid("headers are invalid: " + "; ".join(f"{k}: {v}" for k, v in errors.items()),
                      fields=errors)
    return dict(pairs)


def _header_problem(name: str, value: str, seen: set[str]) -> str | None:
    lowered = name.lower()
    if not _HEADER_NAME.fullmatch(name):
        return "a header name is letters, digits and '-' (at most 64)"
    if lowered in RESERVED_HEADERS or lowered.startswith("webhook-"):
        return "this header is set by each request and cannot be replaced"
    if lowered in seen:
        return "named twice (header names ignore case)"
    if len(value) > MAX_HEADER_VALUE_LENGTH or not _HEADER_VALUE.fullmatch(value):
        return f"a value is printable ASCII, at most {MAX_HEADER_VALUE_LENGTH} characters"
    return None


def check_description(description: str, field: str) -> str:
    if len(description) > MAX_DESCRIPTION_LENGTH:
        raise Invalid(f"{field}: at most {MAX_DESCRIPTION_LENGTH} characters",
                      fields={field: "too long"})
    return description


def check_rate_limit(rate_limit: int | None, field: str) -> int | None:
    if rate_limit is not None and not 1 <= rate_limit <= MAX_RATE_LIMIT:
        raise Invalid(f"{field}: between 1 and {MAX_RATE_LIMIT} requests per second",
                      fields={field: "out of range"})
    return rate_limit


def check_draft(draft: Draft) -> Draft:
    """The new endpoint, every field checked (input paths `input.<field>`), headers a dict."""
    return Draft(
        url=check_url(draft.url, "input.url"),
        description=check_description(draft.description, "input.description"),
        event_types=check_event_types(draft.event_types, "input.eventTypes"),
        enabled=draft.enabled,
        headers=check_headers(draft.headers, "input.headers"),
        rate_limit=check_rate_limit(draft.rate_limit, "input.rateLimit"),
    )


def checked(changes: Changes) -> Changes:
    """The changes, every given field checked as in `check_draft`."""
    return dataclasses.replace(
        changes,
        url=None if changes.url is None else check_url(changes.url, "input.url"),
        description=None if changes.description is None
        else check_description(changes.description, "input.description"),
        event_types=None if changes.event_types is None
        else check_event_types(changes.event_types, "input.eventTypes"),
        headers=None if changes.headers is None else check_headers(changes.headers, "input.headers"),
        rate_limit=check_rate_limit(changes.rate_limit, "input.rateLimit"),
    )


def audited(endpoint: Endpoint) -> dict[str, Any]:
    """What the audit trail keeps of an endpoint: never a secret nor a header's value (they
    may carry credentials), only how many secrets and which header names."""
    return {
        "id": str(endpoint.id), "url": _without_query(endpoint.url), "description": endpoint.description,
        "event_types": list(endpoint.event_types), "enabled": endpoint.enabled,
        "disabled_reason": endpoint.disabled_reason, "header_names": sorted(endpoint.headers),
        "rate_limit": endpoint.rate_limit, "secret_count": len(endpoint.secrets),
    }


def _without_query(url: str) -> str:
    """A URL's query may hold a token (hooks of no-code tools do): the trail keeps the rest."""
    parts = urlsplit(url)
    return parts._replace(query="").geturl() + ("?..." if parts.query else "")
