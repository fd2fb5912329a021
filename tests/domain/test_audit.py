"""Audit values: dotted action names, actors written as one string, secrets never kept."""

from __future__ import annotations

import pytest

from domain import audit
from domain.errors import Invalid


@pytest.mark.parametrize("action", ["api_key.created", "tenant.modules_changed", "a.b.c"])
def test_dotted_actions_are_accepted(action: str) -> None:
    assert audit.check_action(action) == action


@pytest.mark.parametrize("action", ["created", "ApiKey.created", "api_key.", ".created", "a b.c"])
def test_anything_else_is_refused(action: str) -> None:
    with pytest.raises(ValueError, match="dotted name"):
        audit.check_action(action)


@pytest.mark.parametrize(
    ("actor", "subject"),
    [
        (audit.Actor(audit.API_KEY, "abc123"), "key:abc123"),
        (audit.Actor(audit.JWT, "auth0|x:y"), "jwt:auth0|x:y"),
        (audit.Actor.operator("ops"), "cli:ops"),
        (audit.INTERNAL, "system:internal"),
    ],
)
def test_an_actor_is_written_and_read_back_as_its_subject(actor: audit.Actor, subject: str) -> None:
    assert actor.subject == subject
    assert audit.parse_subject(subject) == (actor.kind, actor.id)


def test_each_operator_command_gets_a_request_id_of_its_own() -> None:
    first, second = audit.Actor.operator("ops"), audit.Actor.operator("ops")

    assert first.request_id and second.request_id and first.request_id != second.request_id


@pytest.mark.parametrize("subject", ["alice", "user:alice", "key:", ""])
def test_an_unknown_actor_is_bad_input(subject: str) -> None:
    with pytest.raises(Invalid, match="actor must be"):
        audit.parse_subject(subject)


def test_secrets_are_dropped_at_any_depth_and_the_rest_kept() -> None:
    values = {
        "Secret": "s", "name": "n", "nested": {"secret_hash": "h", "n": [1, {"token": "t", "k": 2}]},
        "verify_token": "v", "password": "p", "secrets": ["a"],
    }

    assert audit.redact(values) == {"name": "n", "nested": {"n": [1, {"k": 2}]}}
    assert audit.redact(None) is None
