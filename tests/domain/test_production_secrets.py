"""Production refuses every JWT secret this repository publishes, and any short one, and the
published app database password.

The published values are read from the files themselves, so a new example value in
.env.example or docker-compose.yml cannot slip past the check."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from domain.config import DEV_APP_DATABASE_PASSWORD, KNOWN_DEFAULT_SECRETS, ConfigError, Settings

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {
    "TG_ENV": "production",
    "DATABASE_URL": "postgresql://owner@db:5432/tenantgraph",
    "REDIS_URL": "redis://cache:6379/0",
    "APP_DATABASE_PASSWORD": "3f9a1c-an-app-password-of-our-own",
    "STREAM_TOKEN_SECRET": "a-stream-token-secret-of-our-own-0123456789",
}
GOOD_SECRET = "k3D9s0f-wqP2-a-production-secret-of-our-own"


def env_example_secrets() -> list[str]:
    text = (ROOT / ".env.example").read_text()
    return re.findall(r"^JWT_SECRET=(.+)$", text, flags=re.MULTILINE)


def compose_secrets() -> list[str]:
    """Every value docker-compose.yml could give JWT_SECRET: a literal or a `${...:-default}`."""
    text = (ROOT / "docker-compose.yml").read_text()
    literal = re.findall(r"^\s*JWT_SECRET:\s*([^$\s][^\n]*)$", text, flags=re.MULTILINE)
    defaulted = re.findall(r"\$\{JWT_SECRET:?-([^}]*)\}", text)
    return [value.strip().strip("'\"") for value in [*literal, *defaulted]]


def test_env_example_has_a_secret_to_refuse() -> None:
    assert env_example_secrets(), ".env.example no longer shows JWT_SECRET: keep the example"


@pytest.mark.parametrize("secret", [*env_example_secrets(), *compose_secrets(), *KNOWN_DEFAULT_SECRETS])
def test_production_refuses_a_published_secret(secret: str) -> None:
    with pytest.raises(ConfigError, match="^JWT_SECRET: this is a published example value"):
        Settings.from_env({**PRODUCTION, "JWT_SECRET": secret})


def env_example_app_passwords() -> list[str]:
    text = (ROOT / ".env.example").read_text()
    return re.findall(r"^APP_DATABASE_PASSWORD=(.+)$", text, flags=re.MULTILINE)


@pytest.mark.parametrize("password", [*env_example_app_passwords(), DEV_APP_DATABASE_PASSWORD])
def test_production_refuses_the_published_app_database_password(password: str) -> None:
    env = {**PRODUCTION, "JWT_SECRET": GOOD_SECRET, "APP_DATABASE_PASSWORD": password}
    with pytest.raises(ConfigError, match="^APP_DATABASE_PASSWORD: this is the published dev value"):
        Settings.from_env(env)


def test_production_refuses_the_default_app_database_password() -> None:
    env = {k: v for k, v in PRODUCTION.items() if k != "APP_DATABASE_PASSWORD"}
    with pytest.raises(ConfigError, match="^APP_DATABASE_PASSWORD: "):
        Settings.from_env({**env, "JWT_SECRET": GOOD_SECRET})


def test_development_keeps_the_published_app_database_password() -> None:
    assert Settings.from_env({}).app_database_password == DEV_APP_DATABASE_PASSWORD


def test_compose_gives_jwt_secret_no_default() -> None:
    assert compose_secrets() == []
    assert "${JWT_SECRET:?" in (ROOT / "docker-compose.yml").read_text()


@pytest.mark.parametrize("secret", ["x" * 31, "é" * 15 + "x"])
def test_production_refuses_a_secret_under_32_bytes(secret: str) -> None:
    with pytest.raises(ConfigError, match="^JWT_SECRET: set a secret of at least 32 bytes"):
        Settings.from_env({**PRODUCTION, "JWT_SECRET": secret})


def test_production_accepts_a_secret_of_its_own() -> None:
    assert Settings.from_env({**PRODUCTION, "JWT_SECRET": GOOD_SECRET}).jwt_secret == GOOD_SECRET
    assert Settings.from_env({**PRODUCTION, "JWT_SECRET": "é" * 16}).env == "production"


def test_development_keeps_its_default_secret() -> None:
    assert Settings.from_env({}).jwt_secret in KNOWN_DEFAULT_SECRETS


def test_the_cli_stops_with_a_configuration_error() -> None:
    env = {**PRODUCTION, "JWT_SECRET": env_example_secrets()[0], "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-m", "server.cli", "serve"], env=env, cwd=ROOT,
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("configuration error: JWT_SECRET: this is a published example")
