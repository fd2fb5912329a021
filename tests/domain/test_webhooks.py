"""domain.webhooks.verify: which signed deliveries are genuine, and the delivery id of each."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pytest

from domain import webhooks
from domain.errors import Unauthenticated
from tests import webhooks as hooks

SECRET = webhooks.new_secret()
PREVIOUS = webhooks.new_secret()
BODY = hooks.encode(hooks.stock("adjust", [("S1", "main", 5)]))
NOW = 1_760_000_000


def lower(headers: dict[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


def standard(**changes: str) -> dict[str, str]:
    """Standard Webhooks headers signed with SECRET at NOW, then some replaced."""
    return {**hooks.sign_standard(SECRET, BODY, msg_id="msg_1", timestamp=NOW), **changes}


def verify(headers: dict[str, str], body: bytes = BODY, secrets: tuple[str, ...] = (SECRET,),
           now: float = NOW) -> str:
    """The delivery id of a genuine delivery."""
    return webhooks.verify(lower(headers), body, secrets, now=now).delivery_id


def test_a_standard_signature_verifies_and_names_the_webhook_id() -> None:
    assert verify(standard()) == "msg_1"


def test_a_signature_of_the_reference_library_verifies() -> None:
    headers = hooks.sign_reference(SECRET, BODY, msg_id="msg_ref", timestamp=NOW)

    assert verify(headers) == "msg_ref"


def test_new_secrets_are_whsec_base64_of_24_random_bytes() -> None:
    made = {webhooks.new_secret() for _ in range(20)}

    assert len(made) == 20
    assert all(s.startswith("whsec_") and len(webhooks.secret_key(s)) == 24 for s in made)


@pytest.mark.parametrize("secrets", [(SECRET, PREVIOUS), (PREVIOUS, SECRET)], ids=["current", "previous"])
def test_during_a_rotation_either_active_secret_verifies(secrets: tuple[str, ...]) -> None:
    assert verify(standard(), secrets=secrets) == "msg_1"


def test_any_one_of_several_offered_signatures_may_match() -> None:
    mine = standard()["webhook-signature"]
    theirs = hooks.sign_standard(PREVIOUS, BODY, msg_id="msg_1", timestamp=NOW)["webhook-signature"]

    assert verify(standard(**{"webhook-signature": f"v2,abc {theirs}  {mine}"})) == "msg_1"


@pytest.mark.parametrize("offset", [-300, 300], ids=["300 s old", "300 s ahead"])
def test_a_timestamp_at_the_edge_of_the_tolerance_verifies(offset: int) -> None:
    assert verify(standard(), now=NOW - offset) == "msg_1"


Refusal = Callable[[], str]

REFUSED: dict[str, Refusal] = {
    "wrong secret": lambda: verify(standard(), secrets=(PREVIOUS,)),
    "no secrets at all": lambda: verify(standard(), secrets=()),
    "one byte of the body changed": lambda: verify(standard(), body=BODY.replace(b"5", b"6")),
    "the id changed": lambda: verify(standard(**{"webhook-id": "msg_2"})),
    "the timestamp changed": lambda: verify(standard(**{"webhook-timestamp": str(NOW + 1)})),
    "301 s old": lambda: verify(standard(), now=NOW + 301),
    "301 s ahead": lambda: verify(standard(), now=NOW - 301),
    "missing webhook-id": lambda: verify({k: v for k, v in standard().items() if k != "webhook-id"}),
    "webhook-id over 128 characters": lambda: verify(
        hooks.sign_standard(SECRET, BODY, msg_id="m" * 129, timestamp=NOW)
    ),
    "webhook-id with a NUL": lambda: verify(
        hooks.sign_standard(SECRET, BODY, msg_id="msg\x00", timestamp=NOW)
    ),
    "missing timestamp": lambda: verify(
        {k: v for k, v in standard().items() if k != "webhook-timestamp"}
    ),
    "non-numeric timestamp": lambda: verify(standard(**{"webhook-timestamp": "1760000000.5"})),
    "negative timestamp": lambda: verify(standard(**{"webhook-timestamp": "-1"})),
    "non-ASCII digit timestamp": lambda: verify(standard(**{"webhook-timestamp": "\u00b2"})),
    "5000-digit timestamp": lambda: verify(standard(**{"webhook-timestamp": "9" * 5000})),
    "signature without v1": lambda: verify(standard(**{"webhook-signature": "v1a,abc v2,abc"})),
    "v1 signature not base64": lambda: verify(standard(**{"webhook-signature": "v1,@@@"})),
    "v1 without a comma": lambda: verify(standard(**{"webhook-signature": "v1"})),
    "empty signature": lambda: verify(standard(**{"webhook-signature": ""})),
    "no signature header": lambda: verify({"content-type": "application/json"}),
    "hub: wrong secret": lambda: verify(hooks.sign_hub(PREVIOUS, BODY)),
    "hub: one byte changed": lambda: verify(hooks.sign_hub(SECRET, BODY), body=BODY + b" "),
    "hub: sha1 scheme": lambda: verify({"x-hub-signature-256": "sha1=" + "ab" * 32}),
    "hub: no scheme": lambda: verify({"x-hub-signature-256": "ab" * 32}),
    "hub: not hex": lambda: verify({"x-hub-signature-256": "sha256=" + "zz" * 32}),
    "hub: digest too short": lambda: verify({"x-hub-signature-256": "sha256=abcd"}),
    "hub: empty": lambda: verify({"x-hub-signature-256": ""}),
}


@pytest.mark.parametrize("case", REFUSED, ids=list(REFUSED))
def test_a_delivery_that_is_not_genuine_is_an_invalid_signature(case: str) -> None:
    with pytest.raises(webhooks.InvalidSignature) as refused:
        REFUSED[case]()

    assert isinstance(refused.value, Unauthenticated)
    assert refused.value.http_status == 401
    assert refused.value.message


def test_a_hub_signed_delivery_is_named_by_its_body_whatever_delivery_header_it_carries() -> None:
    """The delivery headers are not signed: a captured body could be replayed under any id."""
    by_body = "sha256:" + hashlib.sha256(BODY).hexdigest()

    named = [verify(hooks.sign_hub(SECRET, BODY, delivery_id=given)) for given in ("gh-1", "gh-2", None)]

    assert named == [by_body] * 3
    assert webhooks.verify(lower(hooks.sign_hub(SECRET, BODY)), BODY, (SECRET,), now=NOW).by_body


def test_a_standard_delivery_is_named_by_its_signed_id_not_by_its_body() -> None:
    assert webhooks.verify(lower(standard()), BODY, (SECRET,), now=NOW) == webhooks.Signed(
        "msg_1", by_body=False
    )


def test_an_uppercase_hex_hub_signature_verifies() -> None:
    headers = hooks.sign_hub(SECRET, BODY)
    headers["x-hub-signature-256"] = "sha256=" + headers["x-hub-signature-256"][7:].upper()

    assert verify(headers) == "sha256:" + hashlib.sha256(BODY).hexdigest()


def test_without_a_delivery_header_a_hub_delivery_is_named_by_its_body() -> None:
    first = verify(hooks.sign_hub(SECRET, BODY))
    other_body = BODY + b" "

    assert first == verify(hooks.sign_hub(SECRET, BODY))
    assert first != verify(hooks.sign_hub(SECRET, other_body), body=other_body)


@pytest.mark.parametrize("delivery_id", ["d" * 129, "d\x00"], ids=["overlong", "with a NUL"])
def test_an_unusable_hub_delivery_header_changes_nothing(delivery_id: str) -> None:
    headers = hooks.sign_hub(SECRET, BODY, delivery_id=delivery_id)

    assert verify(headers) == "sha256:" + hashlib.sha256(BODY).hexdigest()


def test_standard_webhooks_headers_are_preferred_over_a_hub_signature() -> None:
    headers = {**standard(), "x-hub-signature-256": "sha256=" + "00" * 32}

    assert verify(headers) == "msg_1"


def test_a_non_utf8_body_is_verified_as_raw_bytes() -> None:
    body = b'{"x":"\xff"}'

    assert verify(hooks.sign_standard(SECRET, body, msg_id="raw", timestamp=NOW), body=body) == "raw"


def test_a_secret_without_the_whsec_prefix_is_used_as_text() -> None:
    assert webhooks.secret_key("plain-text") == b"plain-text"
