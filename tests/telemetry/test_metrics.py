"""The metric definitions: bounded labels, the README's list, and what recording costs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from domain.config import ConfigError, Settings
from telemetry import exposition, metrics

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_lists_every_metric_and_no_other() -> None:
    table = README.read_text().split("## Metrics", 1)[1].split("\n## ", 1)[0]
    listed = {line.split("`")[1] for line in table.splitlines() if line.startswith("| `")}
    assert listed == set(metrics.metric_names())


def test_tenant_label_keeps_cap_slugs_then_other() -> None:
    label = metrics.TenantLabel(cap=2)
    assert [label(s) for s in ("a", "b", "c", "a", "d", "b")] == ["a", "b", "other", "a", "other", "b"]


def test_tenant_label_off_names_every_tenant_all() -> None:
    label = metrics.TenantLabel(enabled=False)
    assert {label("a"), label("b")} == {"all"}


def test_operation_names_are_bounded_and_only_clean_ones_are_admitted() -> None:
    names = metrics.Names(size=2)
    assert names(None, "t", admit=True) == names("", "t", admit=True) == "anonymous"
    assert names("Made_Up", "t", admit=False) == "other"  # an operation that failed adds no name
    assert [names(n, "t", admit=True) for n in ("A", "B", "C", "A")] == ["A", "B", "other", "A"]
    assert names("x" * 65, "t", admit=True) == "other"


def test_one_tenant_cannot_use_up_another_tenants_operation_names() -> None:
    names = metrics.Names(size=2)
    assert [names(n, "greedy", admit=True) for n in ("A", "B", "C", "D")] == ["A", "B", "other", "other"]
    assert [names(n, "modest", admit=True) for n in ("Mine", "C", "A")] == ["Mine", "C", "other"]
    assert names("Mine", "greedy", admit=True) == "other"


def test_operation_names_are_bounded_over_all_tenants() -> None:
    names = metrics.Names(size=2, tenants=2)
    for tenant in ("t1", "t2", "t3", "t4"):
        names(f"Op_{tenant}", tenant, admit=True)
        names(f"Op2_{tenant}", tenant, admit=True)
    # t3 and t4 came after the cap of tenants: they share one set of two names.
    assert names("Op_t4", "t4", admit=True) == "other"
    assert sum(len(held) for held in names.held.values()) <= 2 * (2 + 1)


def test_module_set_label_is_sorted_modules_then_extensions() -> None:
    assert metrics.module_set({"orders", "catalog"}, {"banban"}) == "catalog,orders+banban"


@pytest.mark.parametrize("env, message", [
    ({"METRICS_TOKEN": "short"}, "METRICS_TOKEN"),
    ({"METRICS_BIND": "9100"}, "METRICS_BIND"),
    ({"METRICS_BIND": "host:99999"}, "METRICS_BIND"),
    ({"METRICS_TENANT_LABEL": "maybe"}, "METRICS_TENANT_LABEL"),
    ({"METRICS_TENANT_LABEL_CAP": "0"}, "METRICS_TENANT_LABEL_CAP"),
])
def test_metrics_settings_are_validated(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(env)


def test_metrics_settings_are_read() -> None:
    settings = Settings.from_env({
        "METRICS_TOKEN": "t" * 16, "METRICS_BIND": "[::1]:9100", "METRICS_TENANT_LABEL": "off",
        "METRICS_TENANT_LABEL_CAP": "7",
    })
    assert (settings.metrics_bind, settings.metrics_tenant_label, settings.metrics_tenant_label_cap) == (
        ("::1", 9100), False, 7,
    )
    assert "t" * 16 not in repr(settings)


def test_recording_a_request_is_a_few_calls() -> None:
    """What the hot path adds per GraphQL request over HTTP: the request's histogram, the
    operation's counter and histogram, with children looked up from the cache. Counted in
    Python and C calls, not timed: 34 once the children are cached; the first request of a
    tenant, which makes them, takes about 390."""

    def record() -> None:
        metrics.observe_request("POST", "/graphql", 200, "calls-tenant", 0.004)
        metrics.observe_operation("query", "Calls", "calls-tenant", True, 0.003, admit=True)

    record()
    calls = 0

    def count(_frame: object, event: str, _arg: object) -> None:
        nonlocal calls
        calls += event in ("call", "c_call")

    sys.setprofile(count)
    try:
        record()
    finally:
        sys.setprofile(None)

    assert calls <= 50, calls


def test_a_dead_api_process_live_gauges_are_dropped_and_its_counters_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    files = [f"gauge_livesum_{gone.pid}.db", f"counter_{gone.pid}.db", f"gauge_livesum_{os.getpid()}.db"]
    for name in files:
        (tmp_path / name).write_bytes(b"")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))

    exposition.forget_dead_processes()

    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(files[1:])


def test_a_fresh_multiprocess_dir_keeps_the_files_of_running_processes(tmp_path: Path) -> None:
    """Another `serve` may share an operator-given dir: only dead processes' files go."""
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    dead = [f"counter_{gone.pid}.db", f"histogram_{gone.pid}.db", f"gauge_livesum_{gone.pid}.db"]
    live = [f"counter_{os.getpid()}.db", f"histogram_{os.getpid()}.db", "notes.txt"]
    for name in dead + live:
        (tmp_path / name).write_bytes(b"")

    exposition.fresh_multiprocess_dir(str(tmp_path))

    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(live)


def test_resync_required_sent_is_counted_with_the_errors_by_code() -> None:
    before = (metrics.RESYNC_REQUIRED._value.get(), metrics._errors("RESYNC_REQUIRED")._value.get())

    metrics.count_errors([{"message": "behind", "extensions": {"code": "RESYNC_REQUIRED", "cursor": "9"}}])

    after = (metrics.RESYNC_REQUIRED._value.get(), metrics._errors("RESYNC_REQUIRED")._value.get())
    assert (after[0] - before[0], after[1] - before[1]) == (1, 1)
