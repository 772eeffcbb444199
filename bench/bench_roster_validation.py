"""Roster validation speed (R-ROSTER-3, R-ROSTER-6): a 50,000-row student file.

Compares validate() with python-calamine merely reading the same file into Python rows (target:
at most 2x), and records openpyxl's read-only reader for reference. Best of 5 wall-clock runs;
the `*_cpu` metrics are the same runs in CPU seconds of this process (threads included), which a
neighbour's load on a shared machine barely moves.

    uv run python bench/bench_roster_validation.py
"""

from __future__ import annotations

import io
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import openpyxl
import python_calamine
from benchkit import metric
from ck_contracts.roster import RosterKind
from ck_roster.domain.validation import validate
from ck_testkit.rosters import student_rows, student_xlsx

ROWS = 50_000
RUNS = 5


CPU: dict[str, list[float]] = {}


def best_of(runs: int, work: Callable[[], object], name: str = "") -> float:
    times = []
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        work()
        times.append(time.perf_counter() - start)
        CPU.setdefault(name, []).append(time.process_time() - start_cpu)
    return min(times)


def calamine_read(content: bytes) -> list[list[object]]:
    workbook = python_calamine.load_workbook(io.BytesIO(content))
    return workbook.get_sheet_by_index(0).to_python(skip_empty_area=False)


def openpyxl_read(content: bytes) -> list[tuple[object, ...]]:
    workbook = openpyxl.load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    try:
        return list(workbook.active.iter_rows(values_only=True))
    finally:
        workbook.close()


def main() -> None:
    content = student_xlsx(student_rows(ROWS, seed=2026))
    print(f"# {ROWS} rows, {len(content) / 1e6:.1f} MB xlsx with shared strings", flush=True)
    assert len(calamine_read(content)) == ROWS + 2
    result = validate(RosterKind.STUDENTS, "leerlingen.xlsx", content)
    assert result.report.ok and result.report.count == ROWS, result.report.message
    # Interleaved, so both see the same machine (a neighbour's load comes and goes).
    reads, checks, builds = [], [], []
    for _ in range(RUNS):
        reads.append(best_of(1, lambda: calamine_read(content), "read"))
        # What the validatietool does: the report only.
        checks.append(
            best_of(
                1,
                lambda: validate(
                    RosterKind.STUDENTS, "leerlingen.xlsx", content, keep_people=False
                ),
                "check",
            )
        )
        # What an upload does before it stores: the report and the people.
        builds.append(
            best_of(1, lambda: validate(RosterKind.STUDENTS, "leerlingen.xlsx", content), "build")
        )
    read, checked, built = min(reads), min(checks), min(builds)
    metric("roster_calamine_read_50k", read, "s")
    metric("roster_validate_50k", checked, "s")
    metric("roster_validate_vs_calamine_read", checked / read, "ratio")
    metric("roster_validate_and_build_people_50k", built, "s")
    metric("roster_validate_and_build_people_vs_calamine_read", built / read, "ratio")
    read_cpu, check_cpu, build_cpu = (min(CPU[name]) for name in ("read", "check", "build"))
    metric("roster_calamine_read_50k_cpu", read_cpu, "cpu-s")
    metric("roster_validate_50k_cpu", check_cpu, "cpu-s")
    metric("roster_validate_vs_calamine_read_cpu", check_cpu / read_cpu, "ratio")
    metric("roster_validate_and_build_people_vs_calamine_read_cpu", build_cpu / read_cpu, "ratio")
    metric("roster_openpyxl_readonly_read_50k", best_of(1, lambda: openpyxl_read(content)), "s")


if __name__ == "__main__":
    main()
