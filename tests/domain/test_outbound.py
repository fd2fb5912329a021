"""Webhooks out, the endpoint rules: event-type filters, secrets and their rotation, headers, URLs."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from domain import outbound
from domain.errors import Invalid

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("filters", "event_type", "wanted"), [
    (["order.created"], "order.created", True),
    (["order.created"], "order.status_changed", False),
    (["order.*"], "order.status_changed", True),
    (["order.*"], "orders.created", False),
    (["price.*"], "price_list.created", False),
    (["*"], "shipment.created", True),
    ([], "order.created", False),
])
def test_filters_match_exact_types_prefixes_and_everything(
    filters: list[str], event_type: str, wanted: bool
) -> None:
    assert outbound.matches(filters, event_type) is wanted


def test_filters_name_declared_event_types_and_drop_duplicates() -> None:
    assert outbound.check_event_types(["order.*", "payment.captured", "order.*", "*"], "f") == (
        "order.*", "payment.captured", "*")
    assert outbound.check_event_types(["webhook_endpoint.disabled"], "f") == ("webhook_endpoint.disabled",)


@pytest.mark.parametrize("value", ["order", "order.", "nope.*", "order.created.*", "ORDER.CREATED", ".*"])
def test_unknown_filters_are_refused_by_position(value: str) -> None:
    with pytest.raises(Invalid) as raised:
        outbound.check_event_types(["order.created", value], "input.eventTypes")
    assert list(raised.value.fields) == ["input.eventTypes.1"]


def test_a_secret_is_whsec_and_32_random_bytes() -> None:
    first, second = outbound.new_secret(), outbound.new_secret()

    assert first.startswith("whsec_") and len(base64.b64decode(first[6:])) == 32
    assert first != second


def test_rotation_keeps_the_previous_secret_for_the_grace_and_drops_expired_ones() -> None:
    expired = outbound.SigningSecret("whsec_old", NOW - timedelta(seconds=1))
    current = outbound.SigningSecret("whsec_cur")

    secrets = outbound.rotated([current, expired], "whsec_new", now=NOW, grace=timedelta(hours=24))

    assert secrets == (outbound.SigningSecret("whsec_new"),
                       outbound.SigningSecret("whsec_cur", NOW + timedelta(hours=24)))
    assert outbound.rotated(secrets, "whsec_n2", now=NOW, grace=timedelta(0)) == (
        outbound.SigningSecret("whsec_n2"), outbound.SigningSecret("whsec_cur", NOW + timedelta(hours=24)))


def test_a_secret_never_shows_in_a_repr() -> None:
    assert "whsec_abc" not in repr(outbound.SigningSecret("whsec_abc"))


@pytest.mark.parametrize("url", ["https://example.com/hook?x=1", "http://127.0.0.1:8080/h",
                                 "https://[::1]:9/", "https://example.com"])
def test_absolute_http_urls_with_a_host_are_well_formed(url: str) -> None:
    assert outbound.check_url(url, "u") == url


@pytest.mark.parametrize(("url", "problem"), [
    ("ftp://example.com/", "use an https:// URL"),
    ("example.com/hook", "use an https:// URL"),
    ("https://", "the URL has no host"),
    ("https://u:p@example.com/", "credentials in the URL are not allowed; use a custom header"),
    ("https://u@example.com/", "credentials in the URL are not allowed; use a custom header"),
    ("https://example.com/#x", "a URL fragment is not sent; remove it"),
    ("https://example.com:99999/", "not a valid URL"),
    ("https://exa mple.com/", "contains whitespace or control characters"),
    ("https://example.com/" + "a" * 2048, "longer than 2048 characters"),
])
def test_malformed_urls_say_what_is_wrong(url: str, problem: str) -> None:
    with pytest.raises(Invalid) as raised:
        outbound.check_url(url, "input.url")
    assert raised.value.fields == {"input.url": problem}


def test_headers_refuse_reserved_names_repeats_and_unprintable_values() -> None:
    assert outbound.check_headers([("X-Api-Key", "k"), ("Authorization", "Bearer t")], "h") == {
        "X-Api-Key": "k", "Authorization": "Bearer t"}
    with pytest.raises(Invalid) as raised:
        outbound.check_headers([("Webhook-Signature", "v1,x"), ("Connection", "close"),
                                ("X-A", "1"), ("x-a", "2"), ("X-B", "a\nb"), ("X C", "1")], "h")
    assert set(raised.value.fields) == {"h.Webhook-Signature", "h.Connection", "h.x-a", "h.X-B", "h.X C"}
    with pytest.raises(Invalid, match="at most 20"):
        outbound.check_headers([(f"X-{i}", "v") for i in range(21)], "h")


def test_the_audited_form_holds_no_secret_header_value_or_query() -> None:
    endpoint = outbound.Endpoint(
        id=uuid.uuid4(), tenant_id=uuid.uuid4(),
        url="https://example.com/h?token=q", description="", event_types=("*",), enabled=True,
        disabled_reason=None, headers={"X-Key": "v-secret"}, rate_limit=None, failing_since=None,
        created_at=NOW, updated_at=NOW, secrets=(outbound.SigningSecret("whsec_s"),),
    )

    shown = repr(outbound.audited(endpoint)) + repr(endpoint)

    assert "whsec_s" not in shown and "v-secret" not in repr(outbound.audited(endpoint))
    assert "token=q" not in repr(outbound.audited(endpoint))
    assert outbound.audited(endpoint)["url"] == "https://example.com/h?..."
