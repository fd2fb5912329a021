"""Where an outgoing request may go: a URL's host resolved once, every address checked.

The caller connects to one of the returned addresses, never to the host name again (a second
lookup could answer differently: DNS rebinding), sends the host name in `Host` and for TLS
(SNI, certificate), and does not follow redirects."""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import socket
from collections.abc import Sequence
from urllib.parse import urlsplit

from domain import egress, outbound
from domain.errors import Invalid

PORTS = {"https": 443, "http": 80}


@dataclasses.dataclass(frozen=True)
class Target:
    """A checked destination: connect to `addresses` (in order) on `port`, naming `host`."""

    url: str
    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...]


async def resolve(url: str, *, allow: Sequence[egress.Network], field: str = "input.url") -> Target:
    """Resolve `url`'s host with the event loop's getaddrinfo and check every address.

    Raises AddressRefused (code ADDRESS_REFUSED) when ANY address is refused (domain.egress),
    or when the URL is plain http and not every address is inside `allow`; Invalid when the
    URL is malformed or its host does not resolve. `field` names the input in the errors."""
    outbound.check_url(url, field)
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or PORTS[parts.scheme]
    addresses = await _lookup(host, port, field)
    refused = [(a, r) for a in addresses if (r := egress.refusal(ipaddress.ip_address(a), allow))]
    if refused:
        shown = ", ".join(f"{a} ({reason})" for a, reason in refused)
        raise egress.AddressRefused(
            f"{field}: {host} resolves to a refused address: {shown}",
            fields={field: f"refused address {shown}"},
        )
    if parts.scheme == "http" and not all(egress.allowed(ipaddress.ip_address(a), allow) for a in addresses):
        raise egress.AddressRefused(
            f"{field}: plain http is only allowed to OUTBOUND_ALLOW_NETWORKS; use https",
            fields={field: "use https"},
        )
    return Target(url=url, scheme=parts.scheme, host=host, port=port, addresses=addresses)


async def _lookup(host: str, port: int, field: str) -> tuple[str, ...]:
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise Invalid(f"{field}: {host} does not resolve ({error})",
                      fields={field: f"{host} does not resolve"}) from None
    # A scoped IPv6 address (fe80::1%eth0) keeps its zone; the address is what is checked.
    found = tuple(dict.fromkeys(str(info[4][0]) for info in infos))
    if not found:
        raise Invalid(f"{field}: {host} does not resolve", fields={field: f"{host} does not resolve"})
    return found
