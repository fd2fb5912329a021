"""Reading settings from environment variables: each reader names the variable in the
ConfigError it raises for a value it cannot use."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeVar
from urllib.parse import urlsplit

T = TypeVar("T")


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


def url(environ: Mapping[str, str], name: str, schemes: tuple[str, ...]) -> str | None:
    value = environ.get(name) or None
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in schemes or not (parts.hostname or parts.path or parts.query):
        # Never echo the value: it may carry a password.
        shown = f"{parts.scheme}://..." if parts.scheme else "a value without a scheme"
        raise ConfigError(f"{name}: expected a {'/'.join(schemes)}:// URL, got {shown}")
    return value


def address(value: str) -> tuple[str, int]:
    """host:port ([::1]:port for IPv6)."""
    host, _, port = value.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(value)
    return host, int(port)


def choice(environ: Mapping[str, str], name: str, allowed: tuple[str, ...], default: str) -> str:
    value = environ.get(name, default)
    if value not in allowed:
        raise ConfigError(f"{name}: expected one of {', '.join(allowed)}, got {value!r}")
    return value


def boolean(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(value)


def parse(
    environ: Mapping[str, str],
    name: str,
    reader: Callable[[str], T],
    default: T,
    minimum: float | None = None,
    maximum: float | None = None,
) -> T:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = reader(raw)
    except ValueError:
        raise ConfigError(f"{name}: cannot read {raw!r} as {reader.__name__}") from None
    if minimum is not None and isinstance(value, int | float) and value < minimum:
        raise ConfigError(f"{name}: must be at least {minimum}, got {value}")
    if maximum is not None and isinstance(value, int | float) and value > maximum:
        raise ConfigError(f"{name}: must be at most {maximum}, got {value}")
    return value
