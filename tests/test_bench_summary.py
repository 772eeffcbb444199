"""bench/summary.py (issue 15, capability 5): the metric lines of the benches' output, the
targets table and the JSON that `make bench` keeps in bench/results/latest.json."""

from __future__ import annotations

import importlib.util
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.fixture(scope="module")
def summary() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_summary", BENCH / "summary.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


OUTPUT = """== bench/bench_roster_validation.py
metric roster_calamine_read_50k 0.4123 s
metric roster_validate_vs_calamine_read 1.05 ratio
  load   12.0 s  roster: 10 schools
Traceback (most recent call last): metric lines only count at the start
metric broken_value abc ms
metric weborders_cpu_gateway_per_1000 1.988 cpu-s
metric weborders_create_vs_bare_fastapi 0.1 ratio
metric notifier_sqlite_cpu_per_mail 250 us
metric notifier_postgresql_cpu_per_mail 310.5 us
metric scale_people_page_ratio 1.4 ratio
metric scale_people_page_ratio 1.1 ratio
metric weborders_tracing_traces_exported 12 traces   (a note after the unit)
"""


def test_parse_takes_metric_lines_only(summary: ModuleType) -> None:
    metrics = summary.parse(OUTPUT.splitlines(), "bench_x")
    names = [m.name for m in metrics]
    assert "broken_value" not in names and "roster_calamine_read_50k" in names
    first = metrics[0]
    assert (first.value, first.unit, first.source) == (0.4123, "s", "bench_x")
    noted = [m for m in metrics if m.name == "weborders_tracing_traces_exported"]
    assert noted[0].unit == "traces"


def test_targets_met_missed_wildcards_and_not_run(summary: ModuleType) -> None:
    found = summary.latest(summary.parse(OUTPUT.splitlines()))
    assert found["scale_people_page_ratio"].value == 1.1  # the last print wins
    rows = {row.figure: row for row in summary.evaluate(found)}
    assert rows["roster_validate_vs_calamine_read"].met is True
    assert rows["weborders_cpu_gateway_per_1000"].met is False  # <= 0.6
    assert rows["weborders_create_vs_bare_fastapi"].met is True  # >= 0.08
    assert rows["notifier_sqlite_cpu_per_mail"].met is True
    assert rows["notifier_postgresql_cpu_per_mail"].met is False
    assert rows["scale_people_page_ratio"].met is True
    # A target no bench printed is listed, not dropped.
    assert rows["roster_upload_peak_rss"].met is None
    assert rows["roster_upload_peak_rss"].value is None
    text = summary.table(list(rows.values()))
    assert "not run" in text and "NO" in text and "<= 0.6" in text


def test_json_keeps_every_metric_and_the_targets(summary: ModuleType) -> None:
    found = summary.latest(summary.parse(OUTPUT.splitlines(), "bench_x"))
    rows = summary.evaluate(found)
    when = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
    document = json.loads(summary.to_json(found, rows, when))
    assert document["run_at"] == "2026-12-05T12:00:00+00:00"
    assert document["metrics"]["notifier_sqlite_cpu_per_mail"] == {
        "value": 250.0,
        "unit": "us",
        "bench": "bench_x",
    }
    gateway = [t for t in document["targets"] if t["figure"] == "weborders_cpu_gateway_per_1000"]
    assert gateway == [
        {
            "figure": "weborders_cpu_gateway_per_1000",
            "value": 1.988,
            "target": "<= 0.6",
            "what": "gateway CPU per 1000 weborders (s)",
            "met": False,
        }
    ]


def test_main_reads_logs_and_writes_the_json(
    summary: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "bench_scale.log"
    log.write_text(
        "metric scale_upload_ratio 1.3 ratio\nmetric scale_upload_cpu_all_ratio 1.3 ratio\n"
    )
    out = tmp_path / "results" / "latest.json"
    assert summary.main(["--json", str(out), str(log)]) == 0
    document = json.loads(out.read_text())
    assert document["metrics"]["scale_upload_ratio"]["bench"] == "bench_scale"
    printed = capsys.readouterr().out
    assert "scale_upload_cpu_all_ratio" in printed and "NO" in printed


def test_machine_speed_against_the_quiet_run(summary: ModuleType) -> None:
    found = summary.latest(
        summary.parse(
            [
                "metric http_bare_fastapi_rps 5175 req/s",
                "metric roster_calamine_read_50k_cpu 0.5584 cpu-s",
            ]
        )
    )
    text = summary.machine(found)
    assert "http_bare_fastapi_rps 5175 req/s" in text and "0.50x" in text
    assert "roster_calamine_read_50k_cpu 0.5584 cpu-s" in text
    assert text.count("0.50x") == 2  # fewer requests per second, more CPU seconds: both slower
    assert summary.machine(summary.latest([])) == ""
    rows = summary.evaluate(found)
    document = json.loads(summary.to_json(found, rows, datetime(2026, 1, 1, tzinfo=UTC)))
    assert document["machine_speed"] == {
        "http_bare_fastapi_rps": 0.5,
        "roster_calamine_read_50k_cpu": 0.5,
    }
