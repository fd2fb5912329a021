"""The audit trail: who changed what in the administration of a tenant or of the platform.

Records are kept apart from the domain events (which are pruned after EVENT_RETENTION_DAYS),
for AUDIT_RETENTION_DAYS. Each is written in the transaction of the change it records
(tables.audit.record), with the actor and the request it came from passed in explicitly.
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

from domain.errors import Invalid

API_KEY = "api_key"
JWT = "jwt"
CLI = "cli"
SYSTEM = "system"
ACTOR_KINDS = (API_KEY, JWT, CLI, SYSTEM)
SUBJECT_PREFIXES = {API_KEY: "key", JWT: "jwt", CLI: "cli", SYSTEM: "system"}
"""How an actor is written as one string (`key:<prefix>`, as principals and events name it)."""

ACTION = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+")
SECRET_KEYS = frozenset({"secret", "secrets", "secret_hash", "token", "verify_token", "password"})
"""Never stored: a value under one of these keys is dropped from before/after, at any depth."""


@dataclasses.dataclass(frozen=True)
class Actor:
    """Who makes a change (credential kind and id: a key prefix, a token subject, an OS user)
    and the request it came in (id and client address)."""

    kind: str
    id: str
    request_id: str | None = None
    client_address: str | None = None

    @property
    def subject(self) -> str:
        return f"{SUBJECT_PREFIXES[self.kind]}:{self.id}"

    @classmethod
    def operator(cls, user: str) -> Actor:
        """An operator at the CLI: one request id per command."""
        return cls(CLI, user, request_id=f"cli-{uuid.uuid4().hex}")


INTERNAL = Actor(SYSTEM, "internal")
"""Changes the deployment makes itself (demo seeding, tests, benchmarks)."""


def parse_subject(subject: str) -> tuple[str, str]:
    """(kind, id) of `key:<prefix>`, `jwt:<sub>`, `cli:<user>` or `system:<name>`."""
    prefix, _, actor_id = subject.partition(":")
    kinds = {p: kind for kind, p in SUBJECT_PREFIXES.items()}
    if prefix not in kinds or not actor_id:
        raise Invalid(
            "actor must be key:<prefix>, jwt:<subject>, cli:<user> or system:<name>",
            fields={"filter.actor": "invalid"},
        )
    return kinds[prefix], actor_id


@dataclasses.dataclass(frozen=True)
class Entry:
    """One recorded change; `tenant_id` None is the platform's own trail."""

    id: int
    tenant_id: UUID | None
    actor: Actor
    action: str
    target_type: str
    target_id: str
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None
    created_at: datetime


@dataclasses.dataclass(frozen=True)
class Filter:
    action_prefix: str | None = None
    """`api_key` matches `api_key.created` and `api_key.revoked`, not `api_keys_x.y`."""
    action: str | None = None
    actor: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def check_action(action: str) -> str:
    if not ACTION.fullmatch(action):
        raise ValueError(f"audit action {action!r} is not a dotted name like api_key.created")
    return action


def redact(values: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """`values` without anything under a secret's key, at any depth."""
    if values is None:
        return None
    return {k: _redact_value(v) for k, v in values.items() if k.lower() not in SECRET_KEYS}


def _redact_value(value: Any) -> Any:
    if isinstance(value, Mapping):
        return redact(value)
    if isinstance(value, list | tuple):
        return [_redact_value(v) for v in value]
    return value
