"""server.logging: every line carries the request id and tenant, as JSON or as text."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from server import logging as logs

log = logging.getLogger("tenantgraph.test")
CONFIGURED = ("uvicorn", "uvicorn.error", "uvicorn.access", "saq")


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """configure() replaces the root handler (here: one on pytest's captured stderr)."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    named = {n: (logging.getLogger(n).handlers[:], logging.getLogger(n).propagate,
                 logging.getLogger(n).level) for n in CONFIGURED}
    yield
    root.handlers[:], level = saved
    root.setLevel(level)
    for name, (handlers, propagate, named_level) in named.items():
        logger = logging.getLogger(name)
        logger.handlers[:], logger.propagate = handlers, propagate
        logger.setLevel(named_level)


@pytest.fixture
def in_request() -> Iterator[None]:
    request = logs.request_id.set("req-4711")
    tenant = logs.tenant.set("acme")
    yield
    logs.tenant.reset(tenant)
    logs.request_id.reset(request)


def test_json_line_carries_request_id_and_tenant(
    in_request: None, capsys: pytest.CaptureFixture[str]
) -> None:
    logs.configure("json", "INFO")

    log.info("created %s", "thing")

    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert entry["request_id"] == "req-4711"
    assert entry["tenant"] == "acme"
    assert entry["message"] == "created thing"
    assert entry["level"] == "info"
    assert entry["logger"] == "tenantgraph.test"


def test_json_line_keeps_extra_fields(in_request: None, capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure("json", "INFO")

    log.warning("slow query", extra={"duration_ms": 812})

    entry = json.loads(capsys.readouterr().err)
    assert entry["duration_ms"] == 812
    assert entry["level"] == "warning"


def test_text_line_carries_request_id_and_tenant(
    in_request: None, capsys: pytest.CaptureFixture[str]
) -> None:
    logs.configure("text", "INFO")

    log.info("created thing")

    line = capsys.readouterr().err.strip()
    assert "[req-4711 acme] created thing" in line
    assert "INFO" in line
    assert "tenantgraph.test" in line


def test_line_outside_a_request_shows_placeholders(capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure("text", "INFO")

    log.info("starting")

    assert "[- -] starting" in capsys.readouterr().err


def test_lines_below_the_level_are_dropped(in_request: None, capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure("json", "WARNING")

    log.info("hidden")
    log.warning("shown")

    assert [json.loads(line)["message"] for line in capsys.readouterr().err.splitlines()] == ["shown"]
