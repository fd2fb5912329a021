"""Resolve once and check: a URL's host is looked up with the event loop's resolver and refused
when ANY address it gives is refused; numeric tricks resolve to what they mean."""

from __future__ import annotations

import pytest

from domain import egress
from domain.errors import Invalid
from services import egress as egress_services

LOOPBACK = egress.networks("127.0.0.0/8, ::1/128")


@pytest.mark.parametrize(("url", "address"), [
    ("https://127.0.0.1/", "127.0.0.1"),
    ("https://localhost/", "127.0.0.1"),
    ("https://[::1]/", "::1"),
    ("http://2130706433/", "127.0.0.1"),
    ("http://0x7f.1/", "127.0.0.1"),
    ("http://0x7f000001/", "127.0.0.1"),
    ("http://017700000001/", "127.0.0.1"),
    ("https://127.1/", "127.0.0.1"),
    ("https://[::ffff:7f00:1]/", "::ffff:127.0.0.1"),
    ("https://169.254.169.254/latest/meta-data/", "169.254.169.254"),
    ("http://2852039166/", "169.254.169.254"),
    ("https://[fd00:ec2::254]/", "fd00:ec2::254"),
])
async def test_refused_addresses_are_refused_however_written(url: str, address: str) -> None:
    with pytest.raises(egress.AddressRefused) as raised:
        await egress_services.resolve(url, allow=())

    assert raised.value.code == "ADDRESS_REFUSED"
    assert address in raised.value.fields["input.url"]


async def test_a_public_address_resolves_to_itself() -> None:
    target = await egress_services.resolve("https://93.184.215.14/hooks", allow=())

    assert (target.scheme, target.host, target.port, target.addresses) == (
        "https", "93.184.215.14", 443, ("93.184.215.14",))


async def test_the_allow_list_admits_a_loopback_receiver_over_plain_http() -> None:
    target = await egress_services.resolve("http://localhost:8099/in", allow=LOOPBACK)

    assert (target.host, target.port) == ("localhost", 8099)
    assert target.addresses and all(a in ("127.0.0.1", "::1") for a in target.addresses)


async def test_plain_http_outside_the_allow_list_is_refused() -> None:
    with pytest.raises(egress.AddressRefused, match="plain http"):
        await egress_services.resolve("http://93.184.215.14/", allow=LOOPBACK)


async def test_the_metadata_address_stays_refused_beside_an_allow_list() -> None:
    with pytest.raises(egress.AddressRefused, match="cloud metadata"):
        await egress_services.resolve("https://169.254.169.254/", allow=LOOPBACK)


async def test_a_host_that_does_not_resolve_is_invalid_not_refused() -> None:
    with pytest.raises(Invalid) as raised:
        await egress_services.resolve("https://no-such-host.invalid/", allow=(), field="url")

    assert not isinstance(raised.value, egress.AddressRefused)
    assert raised.value.fields == {"url": "no-such-host.invalid does not resolve"}
