"""The roster upload in one process, without the gateway or the broker: what the upload
operation does with a 50,000-row file (validate, then apply_upload into an empty roster on
SQLite), measured in CPU seconds of this process (threads included) and its peak RSS, next to
a bare python-calamine read of the same file. A quiet figure on a noisy machine, for finding
where the upload's time and memory go; the whole chain is bench_roster_upload.py.

    uv run python bench/profile_roster_upload.py [--profile out.prof] [--database-url URL]

Every phase runs in a fresh child process, so the peak RSS of one is not another's.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from benchkit import metric

ROWS = 50_000


def _hwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def child_calamine(path: str) -> dict[str, float]:
    from python_calamine import CalamineWorkbook

    content = Path(path).read_bytes()
    before = _rss_mb()
    start = time.process_time()
    CalamineWorkbook.from_filelike(io.BytesIO(content)).get_sheet_by_index(0).to_python()
    return {"cpu": time.process_time() - start, "hwm": _hwm_mb(), "rss_before": before}


async def _upload(
    content: bytes, database_url: str, profile: str | None, second: bytes | None = None
) -> dict[str, float]:
    from ck_contracts.roster import RosterKind
    from ck_roster.domain import validation

    try:
        from ck_roster.filework import fix_mmap_threshold

        fix_mmap_threshold()  # as the service's main() does
    except ImportError:  # a tree from before it
        pass
    try:
        from ck_roster.filework import in_file_thread, release_memory
    except ImportError:  # a tree from before the file thread (a baseline)
        in_file_thread = asyncio.to_thread  # type: ignore[assignment]

        async def release_memory() -> None:
            pass

    from ck_roster.tables import known_schools
    from ck_roster.uploads import apply_upload
    from ck_runtime.db import Database
    from ck_runtime.migrations import upgrade_async
    from ck_testkit import clocks

    await upgrade_async("roster", database_url)
    db = Database(database_url)
    school = uuid.uuid4()
    async with db.transaction() as session:
        await session.execute(
            known_schools.insert().values(
                school_id=school, school_number=10289, updated_at=clocks.now()
            )
        )
    before = _rss_mb()
    profiler = cProfile.Profile() if profile else None
    start = time.process_time()
    if profiler:
        profiler.enable()
    result = await in_file_thread(
        validation.validate, RosterKind.STUDENTS, "leerlingen.xlsx", content
    )
    assert result.report.ok, result.report.reason
    await release_memory()
    validated = time.process_time()
    async with db.transaction() as session:
        outcome = await apply_upload(
            session, school, RosterKind.STUDENTS, result.people, clocks.now()
        )
    stored = time.process_time()
    if profiler:
        profiler.disable()
        profiler.dump_stats(profile)  # type: ignore[arg-type]
    assert outcome.added == ROWS, outcome
    del result
    await release_memory()  # as the upload operation does once it is done
    if second is not None:  # as the service does it next: a re-upload with 1 % changed
        again = await in_file_thread(
            validation.validate, RosterKind.STUDENTS, "leerlingen.xlsx", second
        )
        await release_memory()  # as the upload operation does after reading
        async with db.transaction() as session:
            await apply_upload(session, school, RosterKind.STUDENTS, again.people, clocks.now())
    await db.dispose()
    return {
        "validate_cpu": validated - start,
        "store_cpu": stored - validated,
        "cpu": stored - start,
        "hwm": _hwm_mb(),
        "rss_before": before,
    }


def child_upload(path: str, database_url: str, profile: str | None) -> dict[str, float]:
    content = Path(path).read_bytes()
    second = Path(path + ".second")
    return asyncio.run(
        _upload(content, database_url, profile, second.read_bytes() if second.exists() else None)
    )


def spawn(*args: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", *args], check=True, capture_output=True, text=True
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", nargs="+")
    parser.add_argument("--profile")
    parser.add_argument("--database-url")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if args.child:
        what, path, *rest = args.child
        if what == "calamine":
            result: Any = child_calamine(path)
        else:
            result = child_upload(path, rest[0], rest[1] if len(rest) > 1 else None)
        print(json.dumps(result))
        return
    from ck_testkit.rosters import student_rows, student_xlsx

    with tempfile.TemporaryDirectory() as tmp:
        path = f"{tmp}/roster.xlsx"
        rows = student_rows(ROWS + ROWS // 100, seed=7)
        Path(path).write_bytes(student_xlsx(rows[:ROWS]))
        reads, uploads = [], []
        for number in range(args.rounds):
            reads.append(spawn("calamine", path))
            url = args.database_url or f"sqlite+aiosqlite:///{tmp}/roster{number}.db"
            extra = [args.profile] if args.profile and number == 0 else []
            uploads.append(spawn("upload", path, url, *extra))
        read = min(r["cpu"] for r in reads)
        best = min(uploads, key=lambda u: u["cpu"])
        metric("roster_inproc_calamine_read_cpu", read, "cpu-s")
        metric("roster_inproc_validate_cpu", best["validate_cpu"], "cpu-s")
        metric("roster_inproc_store_cpu", best["store_cpu"], "cpu-s")
        metric("roster_inproc_upload_cpu", best["cpu"], "cpu-s")
        metric("roster_inproc_upload_vs_calamine", best["cpu"] / read, "ratio")
        metric("roster_inproc_upload_peak_rss", min(u["hwm"] for u in uploads), "MB")
        metric("roster_inproc_upload_rss_before", min(u["rss_before"] for u in uploads), "MB")
        metric("roster_inproc_calamine_peak_rss", min(r["hwm"] for r in reads), "MB")
        # Then as the benchmark of the whole chain: the same upload and a re-upload with 1 %
        # of the people replaced, in one process; its peak RSS.
        second = rows[: ROWS - ROWS // 100] + rows[ROWS:]
        Path(path + ".second").write_bytes(student_xlsx(second))
        url = args.database_url or f"sqlite+aiosqlite:///{tmp}/roster-two.db"
        both = spawn("upload", path, url)
        metric("roster_inproc_two_uploads_peak_rss", both["hwm"], "MB")


if __name__ == "__main__":
    main()
