"""Secrets among the settings: a string that never shows itself, and the values production
refuses."""

from __future__ import annotations

from domain.env import ConfigError

DEV_JWT_SECRET = "dev-only-jwt-secret-change-me-0123456789"
KNOWN_DEFAULT_SECRETS = frozenset({
    DEV_JWT_SECRET,
    # The value docker-compose.yml shipped as its default before it required one.
    "change-me-to-a-secret-of-at-least-32-characters",
})
"""Secrets published in this repository (.env.example, docker-compose.yml, the code): anyone
can sign tokens with them, so production refuses them whatever their length."""
MIN_SECRET_BYTES = 32
DEV_APP_DATABASE_PASSWORD = "tenantgraph_app"
"""The app role's password for dev and tests (.env.example): published, so refused in production."""


class Secret(str):
    """A string that never shows its value in a repr or a log line."""

    def __repr__(self) -> str:
        return "Secret('**********')"


def check_secret(name: str, value: Secret | None) -> None:
    if not value or value in KNOWN_DEFAULT_SECRETS or len(value.encode()) < MIN_SECRET_BYTES:
        raise ConfigError(f"{name}: set a secret of your own of at least {MIN_SECRET_BYTES} bytes in "
                          "production (e.g. `openssl rand -base64 48`)")
