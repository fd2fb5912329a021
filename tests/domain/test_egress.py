"""The SSRF rule: which addresses outgoing webhooks may not reach, and the allow-list."""

from __future__ import annotations

import ipaddress

import pytest

from domain import egress
from domain.config import ConfigError, Settings


@pytest.mark.parametrize(("address", "reason"), [
    ("127.0.0.1", "loopback"),
    ("127.255.0.9", "loopback"),
    ("10.1.2.3", "private"),
    ("172.16.0.1", "private"),
    ("192.168.1.1", "private"),
    ("100.64.0.1", "shared address space (CGNAT)"),
    ("169.254.169.254", "cloud metadata"),
    ("169.254.1.1", "link-local"),
    ("0.0.0.0", "unspecified"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("240.0.0.1", "private"),
    ("255.255.255.255", "private"),
    ("::1", "loopback"),
    ("::", "unspecified"),
    ("fe80::1", "link-local"),
    ("fc00::1", "unique local"),
    ("fd12:3456::1", "unique local"),
    ("fd00:ec2::254", "cloud metadata"),
    ("ff02::1", "multicast"),
    ("::ffff:127.0.0.1", "IPv6 form of 127.0.0.1 (loopback)"),
    ("::ffff:169.254.169.254", "IPv6 form of 169.254.169.254 (cloud metadata)"),
    ("64:ff9b::a00:1", "IPv6 form of 10.0.0.1 (private)"),
    ("2002:7f00:1::1", "IPv6 form of 127.0.0.1 (loopback)"),
])
def test_non_public_addresses_are_refused_with_a_reason(address: str, reason: str) -> None:
    assert egress.refusal(ipaddress.ip_address(address)) == reason


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111",
                                     "::ffff:8.8.8.8"])
def test_public_addresses_are_not_refused(address: str) -> None:
    assert egress.refusal(ipaddress.ip_address(address)) is None


def test_the_allow_list_admits_its_networks_only() -> None:
    allow = egress.networks("127.0.0.0/8, 10.9.0.0/16")

    assert egress.refusal(ipaddress.ip_address("127.0.0.1"), allow) is None
    assert egress.refusal(ipaddress.ip_address("::ffff:127.0.0.1"), allow) is None
    assert egress.refusal(ipaddress.ip_address("10.9.3.4"), allow) is None
    assert egress.refusal(ipaddress.ip_address("10.8.3.4"), allow) == "private"
    assert egress.refusal(ipaddress.ip_address("::1"), allow) == "loopback"
    assert egress.refusal(ipaddress.ip_address("169.254.169.254"), allow) == "cloud metadata"


def test_outbound_allow_networks_is_read_from_the_environment() -> None:
    assert Settings.from_env({}).outbound_allow_networks == ()
    read = Settings.from_env({"OUTBOUND_ALLOW_NETWORKS": "127.0.0.0/8,::1/128"})
    assert read.outbound_allow_networks == (
        ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))


@pytest.mark.parametrize("value", ["127.0.0.1/33", "localhost", "127.0.0.1/8"])
def test_a_malformed_allow_list_names_the_variable(value: str) -> None:
    with pytest.raises(ConfigError, match="^OUTBOUND_ALLOW_NETWORKS: "):
        Settings.from_env({"OUTBOUND_ALLOW_NETWORKS": value})


@pytest.mark.parametrize(("name", "value"), [
    ("OUTBOUND_SECRET_GRACE_SECONDS", "-1"), ("OUTBOUND_RATE_LIMIT", "0"),
    ("OUTBOUND_MAX_ENDPOINTS", "0"), ("OUTBOUND_RATE_LIMIT", "fast"),
])
def test_outbound_limits_out_of_range_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"^{name}: "):
        Settings.from_env({name: value})
