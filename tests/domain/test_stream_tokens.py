"""Stream tokens: signed and verified with the deployment's secret, expiring, never forged; the
secret required in production and, unset elsewhere, the same in every process of a deployment."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from domain import stream_tokens
from domain.config import ConfigError, Settings
from domain.errors import Invalid
from domain.stream_tokens import Grant, StreamTokenExpired, StreamTokenInvalid
from tests.domain.test_config import PRODUCTION

KEY = b"k" * 32
NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
GRANT = Grant(tenant_id=uuid.uuid4(), subject="key:0123456789ab", kind="api_key",
              scopes=frozenset({"orders:read", "catalog:read"}), expires_at=NOW + timedelta(minutes=5))


def test_a_signed_token_gives_back_its_grant() -> None:
    token = stream_tokens.sign(GRANT, KEY)

    assert token.startswith("tgs_")
    assert stream_tokens.verify(token, KEY) == GRANT
    stream_tokens.check_unexpired(GRANT, NOW)


def test_an_expired_token_is_refused_with_its_own_code() -> None:
    grant = stream_tokens.verify(stream_tokens.sign(GRANT, KEY), KEY)

    with pytest.raises(StreamTokenExpired) as raised:
        stream_tokens.check_unexpired(grant, GRANT.expires_at)
    assert raised.value.code == "STREAM_TOKEN_EXPIRED" and raised.value.http_status == 401


def test_a_token_signed_with_another_secret_is_refused() -> None:
    with pytest.raises(StreamTokenInvalid):
        stream_tokens.verify(stream_tokens.sign(GRANT, b"x" * 32), KEY)


def test_changed_claims_break_the_signature() -> None:
    payload, signature = stream_tokens.sign(GRANT, KEY).removeprefix("tgs_").split(".")
    wider = stream_tokens.sign(dataclasses.replace(GRANT, scopes=frozenset({"admin"})), KEY)
    forged = f"tgs_{wider.removeprefix('tgs_').split('.')[0]}.{signature}"

    with pytest.raises(StreamTokenInvalid) as raised:
        stream_tokens.verify(forged, KEY)
    assert raised.value.code == "STREAM_TOKEN_INVALID"
    assert payload != wider.removeprefix("tgs_").split(".")[0]


@pytest.mark.parametrize("token", ["", "tgs_", "tgs_abc", "tgs_abc.def", "tgs_.", "tg_abc.def",
                                   "tgs_!!!.***", "tgs_" + "A" * 5000 + "." + "B" * 43])
def test_malformed_tokens_are_invalid_never_a_crash(token: str) -> None:
    with pytest.raises(StreamTokenInvalid):
        stream_tokens.verify(token, KEY)


def test_lifetime_defaults_to_five_minutes_within_the_maximum() -> None:
    assert stream_tokens.lifetime(None, 3600) == timedelta(minutes=5)
    assert stream_tokens.lifetime(None, 60) == timedelta(seconds=60)
    assert stream_tokens.lifetime(3600, 3600) == timedelta(hours=1)


@pytest.mark.parametrize("seconds", [0, -5, 3601])
def test_lifetime_out_of_range_is_invalid_naming_the_setting(seconds: int) -> None:
    with pytest.raises(Invalid, match="STREAM_TOKEN_MAX_TTL_SECONDS") as raised:
        stream_tokens.lifetime(seconds, 3600)
    assert raised.value.fields == {
        "ttlSeconds": "must be between 1 and 3600 (STREAM_TOKEN_MAX_TTL_SECONDS)"}


def test_without_a_secret_every_process_derives_the_same_one_from_jwt_secret() -> None:
    one, other = Settings.from_env({}), Settings.from_env({})

    assert stream_tokens.secret(one) == stream_tokens.secret(other)
    assert stream_tokens.secret(one) != str(one.jwt_secret).encode()
    assert stream_tokens.secret(Settings.from_env({"JWT_SECRET": "another-jwt-secret-0123456789abcdef"})) \
        != stream_tokens.secret(one)


def test_a_set_secret_is_used_and_never_shown() -> None:
    settings = Settings.from_env({"STREAM_TOKEN_SECRET": "s" * 40})

    assert stream_tokens.secret(settings) == b"s" * 40
    assert "s" * 40 not in repr(settings)


@pytest.mark.parametrize("value", [None, "short", "dev-only-jwt-secret-change-me-0123456789"],
                         ids=["missing", "short", "published"])
def test_production_requires_a_stream_token_secret_of_its_own(value: str | None) -> None:
    env = {k: v for k, v in PRODUCTION.items() if k != "STREAM_TOKEN_SECRET"}
    with pytest.raises(ConfigError, match="^STREAM_TOKEN_SECRET: "):
        Settings.from_env({**env, **({"STREAM_TOKEN_SECRET": value} if value else {})})


def test_max_ttl_is_read_and_bounded() -> None:
    assert Settings.from_env({"STREAM_TOKEN_MAX_TTL_SECONDS": "600"}).stream_token_max_ttl_seconds == 600
    with pytest.raises(ConfigError, match="^STREAM_TOKEN_MAX_TTL_SECONDS: "):
        Settings.from_env({"STREAM_TOKEN_MAX_TTL_SECONDS": "0"})
