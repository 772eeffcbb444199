"""Roster upload (R-ROSTER-4) of a 50,000-row student file, through the whole chain.

Timed from the HTTP request (POST /api/v1/schools/{id}/roster/students/upload with a bearer
token) until the reply arrived *and* the RosterUploaded event was published to the broker (a
queue of this benchmark is bound to it), for an upload into an empty roster and for a
re-upload with 1 % of the people changed (replaced by others). The baseline is the time
python-calamine needs to read the same file; the target is at most 5 times that. Also the
roster process's peak memory (VmHWM), and, because wall times on a shared machine are noise,
the CPU seconds the roster and gateway processes spent on each upload next to the CPU seconds
of the calamine read (`*_cpu_*` metrics). Processes: accounts, roster, gateway (ck_devstack.Stack),
SQLite, a RabbitMQ vhost of its own.

    uv run python bench/bench_roster_upload.py
"""

from __future__ import annotations

import asyncio
import io
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from benchkit import (
    admin_client,
    cpu_seconds,
    create_admin,
    isolated_vhost,
    median,
    metric,
    peak_rss_mb,
    register_school,
    timed_upload,
    wait_for_school,
)

ROWS = 50_000
CHANGED = ROWS // 100
ADMIN_EMAIL = "bench@cjp.test"
HOLDER_EMAIL = "budget@bench.test"


def calamine_seconds(content: bytes, repeat: int = 3) -> tuple[float, float]:
    """(median wall seconds, least CPU seconds) of a bare python-calamine read."""
    from python_calamine import CalamineWorkbook

    times, cpu = [], []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        CalamineWorkbook.from_filelike(io.BytesIO(content)).get_sheet_by_index(0).to_python()
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return median(times), min(cpu)


def files() -> tuple[bytes, bytes]:
    from ck_testkit.rosters import student_rows, student_xlsx

    rows = student_rows(ROWS + CHANGED, seed=7)
    first = rows[:ROWS]
    second = rows[: ROWS - CHANGED] + rows[ROWS:]
    return student_xlsx(first), student_xlsx(second)


def budget_holder_session(stack: Any) -> tuple[str, str]:
    """Register a school as the CJP admin and log in as its budget holder: (school id, token)."""
    password = create_admin(stack, ADMIN_EMAIL)
    with admin_client(stack, ADMIN_EMAIL, password) as admin:
        school = register_school(stack, admin, "Bench College", HOLDER_EMAIL)
    return school.school_id, school.token


def main() -> None:
    from ck_devstack import Stack

    first, second = files()
    baseline, baseline_cpu = calamine_seconds(first)
    metric("roster_upload_rows", ROWS, "rows")
    metric("roster_upload_calamine_read", baseline * 1000, "ms")
    metric("roster_upload_calamine_read_cpu", baseline_cpu * 1000, "cpu-ms")
    with (
        isolated_vhost() as amqp_url,
        tempfile.TemporaryDirectory() as data,
        Stack(
            data,
            amqp_url,
            database_urls={},
            components=("accounts", "roster", "gateway"),
            env={
                "ACCOUNTS_LOG_LEVEL": "WARNING",
                "ROSTER_LOG_LEVEL": "WARNING",
                "GATEWAY_LOG_LEVEL": "WARNING",
            },
        ) as stack,
    ):
        school_id, token = budget_holder_session(stack)
        asyncio.run(wait_for_school(stack.portal_url, school_id, token))
        pid = stack.processes["roster"].pid
        gateway_pid = stack.processes["gateway"].pid
        assert pid is not None and gateway_pid is not None
        # The roster process at rest, before any file: what the uploads' peak stands on.
        metric("roster_upload_rest_rss", peak_rss_mb(pid, "VmRSS"), "MB")
        for label, content, expect_added in (
            ("empty", first, ROWS),
            ("1pct_changed", second, CHANGED),
        ):
            roster_cpu, gateway_cpu = cpu_seconds(pid), cpu_seconds(gateway_pid)
            done = asyncio.run(timed_upload(amqp_url, stack.portal_url, school_id, token, content))
            seconds, result = done.seconds, done.reply
            assert done.event["total"] == ROWS, done.event
            roster_cpu = cpu_seconds(pid) - roster_cpu
            gateway_cpu = cpu_seconds(gateway_pid) - gateway_cpu
            assert result["added"] == expect_added, result
            metric(f"roster_upload_http_{label}", seconds * 1000, "ms")
            metric(f"roster_upload_http_{label}_vs_calamine", seconds / baseline, "ratio")
            metric(f"roster_upload_cpu_roster_{label}", roster_cpu * 1000, "cpu-ms")
            metric(f"roster_upload_cpu_gateway_{label}", gateway_cpu * 1000, "cpu-ms")
            metric(
                f"roster_upload_cpu_roster_{label}_vs_calamine", roster_cpu / baseline_cpu, "ratio"
            )
        metric("roster_upload_peak_rss", peak_rss_mb(pid), "MB")


if __name__ == "__main__":
    main()
