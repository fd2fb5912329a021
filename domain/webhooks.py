"""Inbound webhooks: endpoints, signature verification, and delivery statuses."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import enum
import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from domain.errors import Unauthenticated

TOLERANCE_SECONDS = 300
FLOWS = ("purchase-flow", "inventory-flow", "sales-flow")
SECRET_PREFIX = "whsec_"
_SECONDS = re.compile(r"[0-9]{1,12}")


class InvalidSignature(Unauthenticated):
    """The delivery is not signed by a current secret of its endpoint."""


class DeliveryStatus(enum.Enum):
    QUEUED = "queued"
    PROCESSED = "processed"
    FAILED = "failed"
    DEAD = "dead"


@dataclasses.dataclass(frozen=True)
class Endpoint:
    id: UUID
    tenant_id: UUID
    flow: str
    secrets: tuple[str, ...]
    verify_token: str | None
    enabled: bool
    tenant_slug: str = ""


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def secret_key(secret: str) -> bytes:
    """Standard Webhooks keys are the base64 after `whsec_`; other secrets are used as text."""
    if secret.startswith(SECRET_PREFIX):
        return base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    return secret.encode()


@dataclasses.dataclass(frozen=True)
class Signed:
    """A delivery whose signature checks out, and what identifies it in the inbox."""

    delivery_id: str
    by_body: bool
    """Only the body is signed (X-Hub-Signature-256): any id the sender supplies is unsigned, so
    the id is the body's hash and names the delivery within the replay window (see README)."""


def verify(
    headers: Mapping[str, str], body: bytes, secrets_: Sequence[str], *, now: float
) -> Signed:
    """Check a delivery's signature against each active secret.

    Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature) is preferred; else
    X-Hub-Signature-256 (HMAC-SHA256 of the raw body, hex). Any failure is InvalidSignature."""
    if "webhook-signature" in headers:
        return _verify_standard(headers, body, secrets_, now)
    if "x-hub-signature-256" in headers:
        return _verify_hub(body, headers["x-hub-signature-256"], secrets_)
    raise InvalidSignature("missing signature: send webhook-signature or X-Hub-Signature-256")


def _verify_standard(
    headers: Mapping[str, str], body: bytes, secrets_: Sequence[str], now: float
) -> Signed:
    delivery_id = headers.get("webhook-id", "")
    timestamp = headers.get("webhook-timestamp", "")
    # str.isdigit() admits digits int() refuses ("²") and int() refuses over 4300 digits.
    if not _usable_id(delivery_id) or not _SECONDS.fullmatch(timestamp):
        raise InvalidSignature("webhook-id and a numeric webhook-timestamp are required")
    if abs(now - int(timestamp)) > TOLERANCE_SECONDS:
        raise InvalidSignature("webhook-timestamp is outside the 5 minute tolerance")
    signed = f"{delivery_id}.{timestamp}.".encode() + body
    offered = _offered_signatures(headers["webhook-signature"])
    for secret in secrets_:
        expected = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
        if any(hmac.compare_digest(expected, candidate) for candidate in offered):
            return Signed(delivery_id, by_body=False)
    raise InvalidSignature("no webhook-signature matches a current secret")


def _offered_signatures(header: str) -> list[bytes]:
    offered = []
    for part in header.split():
        version, _, value = part.partition(",")
        if version != "v1":
            continue
        try:
            offered.append(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError):
            continue
    if not offered:
        raise InvalidSignature("webhook-signature has no valid v1 signature")
    return offered


def _verify_hub(body: bytes, header: str, secrets_: Sequence[str]) -> Signed:
    scheme, _, digest = header.partition("=")
    try:
        offered = bytes.fromhex(digest)
    except ValueError:
        raise InvalidSignature("X-Hub-Signature-256 must be sha256=<hex>") from None
    if scheme != "sha256" or len(offered) != hashlib.sha256().digest_size:
        raise InvalidSignature("X-Hub-Signature-256 must be sha256=<hex>")
    for secret in secrets_:
        expected = hmac.new(secret_key(secret), body, hashlib.sha256).digest()
        if hmac.compare_digest(expected, offered):
            return Signed(body_id(body), by_body=True)
    raise InvalidSignature("X-Hub-Signature-256 matches no current secret")


def body_id(body: bytes) -> str:
    """The delivery id of a body-signed delivery: X-GitHub-Delivery / X-Delivery-ID are not
    signed, so a captured body could be replayed under any id; its hash cannot change."""
    return "sha256:" + hashlib.sha256(body).hexdigest()


def _usable_id(delivery_id: str) -> bool:
    """1-128 printable characters: what the inbox can store (PostgreSQL text holds no NUL)."""
    return 0 < len(delivery_id) <= 128 and delivery_id.isprintable()


@dataclasses.dataclass(frozen=True)
class Receipt:
    """The inbox's answer to a verified delivery: its row, and whether this request stored it."""

    id: UUID
    status: DeliveryStatus
    created: bool


@dataclasses.dataclass(frozen=True)
class Delivery:
    id: UUID
    tenant_id: UUID
    flow: str
    delivery_id: str
    payload: dict[str, Any]
    status: DeliveryStatus
    attempts: int
    last_error: str | None
    correlation_id: str
    received_at: datetime
    processed_at: datetime | None
