"""Settings read from the environment, and API key credentials: pure, no services."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from domain import credentials
from domain.config import ConfigError, Secret, Settings

LONG_SECRET = "a-production-secret-that-is-long-enough-0123"
PRODUCTION = {
    "TG_ENV": "production",
    "DATABASE_URL": "postgresql://owner@db:5432/tenantgraph",
    "REDIS_URL": "redis://cache:6379/0",
    "JWT_SECRET": LONG_SECRET,
    "APP_DATABASE_PASSWORD": "an-app-password-of-our-own",
    "STREAM_TOKEN_SECRET": "a-stream-token-secret-of-our-own-0123456789",
}


# --- Settings.from_env ----------------------------------------------------------------------


def test_empty_environment_gives_the_defaults() -> None:
    assert Settings.from_env({}) == Settings()


def test_defaults_are_for_local_development() -> None:
    settings = Settings.from_env({})
    assert (settings.env, settings.port, settings.graphiql, settings.introspection) == (
        "dev", 8000, True, True,
    )
    assert (settings.log_format, settings.database_url, settings.redis_url) == ("text", None, None)


def test_values_are_read_and_typed() -> None:
    settings = Settings.from_env(
        {"PORT": "9000", "GRAPHIQL": "off", "MAX_BODY_BYTES": "2048", "LOG_LEVEL": "DEBUG"}
    )
    assert (settings.port, settings.graphiql, settings.max_body_bytes, settings.log_level) == (
        9000, False, 2048, "DEBUG",
    )


def test_the_webhook_replay_window_is_read_in_hours() -> None:
    assert Settings.from_env({}).webhook_replay_window == timedelta(hours=72)
    assert Settings.from_env({"WEBHOOK_REPLAY_WINDOW_HOURS": "24"}).webhook_replay_window == timedelta(days=1)


def test_deadlines_are_read_in_seconds() -> None:
    settings = Settings.from_env({
        "OPERATION_TIMEOUT": "2.5", "LOOP_BLOCKED_WARN_SECONDS": "0.5",
        "LOOP_BLOCKED_EXIT_SECONDS": "0", "SHUTDOWN_GRACE_SECONDS": "8",
    })
    assert (settings.operation_timeout, settings.loop_blocked_warn_seconds,
            settings.loop_blocked_exit_seconds, settings.shutdown_grace_seconds) == (2.5, 0.5, 0, 8)


def test_empty_numeric_value_means_the_default() -> None:
    assert Settings.from_env({"PORT": ""}).port == 8000


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORT", "abc"),
        ("MAX_BODY_BYTES", "0"),
        ("MAX_QUERY_DEPTH", "-1"),
        ("DB_POOL_MAX", "1"),
        ("GRAPHIQL", "maybe"),
        ("INTROSPECTION", "2"),
        ("TG_ENV", "staging"),
        ("DATABASE_URL", "mysql://x"),
        ("REDIS_URL", "http://cache:6379"),
        ("LOG_FORMAT", "xml"),
        ("LOG_LEVEL", "loud"),
        ("WEBHOOK_REPLAY_WINDOW_HOURS", "0"),
        ("WEBHOOK_REPLAY_WINDOW_HOURS", "1.5"),
        ("OPERATION_TIMEOUT", "-1"),
        ("LOOP_BLOCKED_EXIT_SECONDS", "soon"),
        ("SHUTDOWN_GRACE_SECONDS", "0"),
    ],
)
def test_bad_value_is_a_config_error_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"^{name}: "):
        Settings.from_env({name: value})


def test_production_without_jwt_secret_is_refused() -> None:
    env = {k: v for k, v in PRODUCTION.items() if k != "JWT_SECRET"}
    with pytest.raises(ConfigError, match="^JWT_SECRET: "):
        Settings.from_env(env)


def test_production_with_a_short_jwt_secret_is_refused() -> None:
    with pytest.raises(ConfigError, match="^JWT_SECRET: "):
        Settings.from_env({**PRODUCTION, "JWT_SECRET": "short-secret"})


def test_production_without_database_url_is_refused() -> None:
    env = {k: v for k, v in PRODUCTION.items() if k != "DATABASE_URL"}
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        Settings.from_env(env)


def test_production_turns_graphiql_and_introspection_off_by_default() -> None:
    settings = Settings.from_env(PRODUCTION)
    assert (settings.graphiql, settings.introspection, settings.log_format) == (False, False, "json")


def test_production_may_turn_introspection_back_on() -> None:
    assert Settings.from_env({**PRODUCTION, "INTROSPECTION": "true"}).introspection is True


def test_secret_repr_hides_the_value() -> None:
    assert "hunter2" not in repr(Secret("hunter2"))


def test_settings_repr_hides_its_secrets() -> None:
    settings = Settings.from_env({**PRODUCTION, "APP_DATABASE_PASSWORD": "db-password-42"})
    assert LONG_SECRET not in repr(settings)
    assert "db-password-42" not in repr(settings)


def test_secret_still_compares_as_its_value() -> None:
    assert Settings.from_env({"JWT_SECRET": LONG_SECRET}).jwt_secret == LONG_SECRET


# --- credentials ----------------------------------------------------------------------------


def test_issued_key_round_trips_through_parse_and_matches() -> None:
    issued = credentials.issue()

    parsed = credentials.parse(issued.token)

    assert parsed == (issued.prefix, issued.secret)
    assert credentials.matches(issued.secret, issued.hash)


def test_issued_keys_are_unique() -> None:
    first, second = credentials.issue(), credentials.issue()
    assert (first.prefix, first.secret) != (second.prefix, second.secret)


def test_wrong_secret_does_not_match() -> None:
    issued = credentials.issue()
    assert not credentials.matches(credentials.issue().secret, issued.hash)


def test_only_the_hash_is_derived_from_the_secret() -> None:
    issued = credentials.issue()
    assert issued.secret not in issued.hash
    assert issued.hash == credentials.hash_secret(issued.secret)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "tg_",
        "tg_0123456789ab",
        "tg_short_secret",
        "sk_0123456789ab_secret",
        "TG_0123456789ab_secret",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln",
    ],
)
def test_parse_rejects_foreign_tokens(token: str) -> None:
    assert credentials.parse(token) is None


def key(*, revoked: bool = False, expires_in: timedelta | None = None) -> credentials.ApiKey:
    now = datetime.now(UTC)
    return credentials.ApiKey(
        id=uuid4(), tenant_id=uuid4(), prefix="0123456789ab", name="k",
        scopes=frozenset({"admin"}), created_at=now, last_used_at=None,
        revoked_at=now if revoked else None,
        expires_at=now + expires_in if expires_in is not None else None,
    )


def test_active_key_is_usable() -> None:
    assert key().usable(datetime.now(UTC))


def test_revoked_key_is_not_usable() -> None:
    assert not key(revoked=True).usable(datetime.now(UTC))


def test_expired_key_is_not_usable() -> None:
    assert not key(expires_in=timedelta(seconds=-1)).usable(datetime.now(UTC))


def test_key_expiring_later_is_usable() -> None:
    assert key(expires_in=timedelta(hours=1)).usable(datetime.now(UTC))


def test_the_delivery_batch_size_and_poll_have_defaults_and_bounds() -> None:
    defaults = Settings.from_env({})
    assert (defaults.delivery_batch_size, defaults.delivery_poll_seconds) == (50, 1.0)
    given = Settings.from_env({"DELIVERY_BATCH_SIZE": "200", "DELIVERY_POLL_SECONDS": "0.5"})
    assert (given.delivery_batch_size, given.delivery_poll_seconds) == (200, 0.5)
    for name, value in (("DELIVERY_BATCH_SIZE", "0"), ("DELIVERY_BATCH_SIZE", "501"),
                        ("DELIVERY_POLL_SECONDS", "0")):
        with pytest.raises(ConfigError, match=f"^{name}: "):
            Settings.from_env({name: value})
