"""Which addresses outgoing requests (webhooks out) may connect to: the SSRF rule, pure.

An address is refused when it is not a public unicast one (private, loopback, link-local,
CGNAT, unique local, multicast, unspecified, reserved, documentation, cloud metadata), or
when it is an IPv6 form of a refused IPv4 address (IPv4-mapped, NAT64, 6to4), unless it lies
in a network of the allow-list (OUTBOUND_ALLOW_NETWORKS)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from typing import TypeAlias

from domain.errors import Invalid

Address: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
Network: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network

METADATA = frozenset({ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")})
CGNAT = ipaddress.ip_network("100.64.0.0/10")
NAT64 = ipaddress.ip_network("64:ff9b::/96")
UNIQUE_LOCAL = ipaddress.ip_network("fc00::/7")


class AddressRefused(Invalid):
    """The URL's host is, or resolves to, an address outgoing requests may not reach."""

    code = "ADDRESS_REFUSED"
    http_status = 422


def networks(text: str) -> tuple[Network, ...]:
    """A comma-separated list of CIDRs (`127.0.0.0/8, ::1/128`); empty text, no network."""
    return tuple(ipaddress.ip_network(part.strip()) for part in text.split(",") if part.strip())


def allowed(address: Address, allow: Sequence[Network]) -> bool:
    """Inside a network of the allow-list (an IPv4-mapped address by its IPv4 form too)."""
    forms: list[Address] = [address]
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        forms.append(address.ipv4_mapped)
    return any(form in network for form in forms for network in allow if form.version == network.version)


def refusal(address: Address, allow: Sequence[Network] = ()) -> str | None:
    """Why `address` is refused (a short reason), or None when it may be reached."""
    if allowed(address, allow):
        return None
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            inner = refusal(embedded, allow)
            return None if inner is None else f"IPv6 form of {embedded} ({inner})"
    return _kind(address)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour


def _kind(address: Address) -> str | None:
    checks: Iterable[tuple[bool, str]] = (
        (address in METADATA, "cloud metadata"),
        (address.is_unspecified, "unspecified"),
        (address.is_loopback, "loopback"),
        (address.is_link_local, "link-local"),
        (address.is_multicast, "multicast"),
        (isinstance(address, ipaddress.IPv4Address) and address in CGNAT, "shared address space (CGNAT)"),
        (isinstance(address, ipaddress.IPv6Address) and address in UNIQUE_LOCAL, "unique local"),
        (isinstance(address, ipaddress.IPv6Address) and address.is_site_local, "site-local"),
        (address.is_private, "private"),
        (address.is_reserved, "reserved"),
        (not address.is_global, "not globally routable"),
    )
    return next((reason for refused, reason in checks if refused), None)
