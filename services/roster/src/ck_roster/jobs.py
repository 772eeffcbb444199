"""Validation and upload of a roster file as a background job with progress (issue 14).

`roster.job.start` records the job (queued) and answers at once; the work runs in a task of
this process: the file is read and checked in a worker thread (as the synchronous operations
do), then an upload is stored in one transaction (ck_roster.uploads.apply_upload), and the job
is finished *in that same transaction*, so a job that says "done" always has its roster.

Progress is written to the job's row in short transactions of their own: when the file is read
(`rows_read`), when it is checked (`validated`, `total`), and while an upload is stored
(`stored`, after every batch of inserts). On SQLite the storing transaction holds the
database's one write lock, so there the stored count of a running upload is kept in this
process's memory (`LIVE`) and added to the row when the job is read; SQLite means one process.

A job that the service could not finish (it stopped, or died) is failed with the reason
`roster.job.interrupted`, never resumed: the file is not kept. When it is found:
- at a graceful stop, by the task itself (cancelled);
- at start-up, every unfinished job on SQLite (one process), on PostgreSQL those whose
  heartbeat (`updated_at`, every progress write) is older than `job_stale_seconds`;
- when the job is read and its heartbeat is older than that, unless this process runs it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import contextvars
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from ck_contracts.roster import (
    JobAction,
    JobStart,
    JobStatus,
    RosterJob,
    RosterKind,
    UploadResult,
    ValidationReport,
)
from ck_runtime.clock import Clock
from ck_runtime.db import Database
from ck_runtime.logs import get_logger

from ck_roster import store
from ck_roster.domain import validation
from ck_roster.filework import in_file_thread, release_memory
from ck_roster.settings import DEFAULT_JOB_WORKERS
from ck_roster.uploads import apply_upload

log = get_logger(__name__)


class JobGone(Exception):
    """The job was failed (as interrupted) while it ran: its upload is rolled back."""


@dataclass
class Running:
    db: Database
    task: asyncio.Task[None]
    stored: int = 0  # the stored count not yet in the database (SQLite, see the docstring)


RUNNING: dict[uuid.UUID, Running] = {}
_SLOTS: dict[int, asyncio.Semaphore] = {}


def _slots(workers: int) -> asyncio.Semaphore:
    """At most `workers` files are read, checked and stored at a time by this process (each
    holds its file and its rows in memory); the others wait as queued."""
    loop = id(asyncio.get_running_loop())
    if loop not in _SLOTS:
        _SLOTS[loop] = asyncio.Semaphore(workers)
    return _SLOTS[loop]


def decode(content_b64: str) -> bytes | None:
    try:
        return base64.b64decode(content_b64, validate=True)
    except (binascii.Error, ValueError):
        return None


# --- reading a job --------------------------------------------------------------------------------
def job_of(row: Any) -> RosterJob:
    result = json.loads(row.result) if row.result else {}
    running = RUNNING.get(row.id)
    stored = max(row.stored, running.stored if running is not None else 0)
    return RosterJob(
        job_id=row.id,
        kind=RosterKind(row.kind),
        action=JobAction(row.action),
        status=JobStatus(row.status),
        filename=row.filename,
        total=row.total,
        rows_read=row.rows_read,
        validated=row.validated,
        stored=stored,
        reason=row.reason,
        report=ValidationReport.model_validate(result["report"]) if "report" in result else None,
        upload=UploadResult.model_validate(result["upload"]) if "upload" in result else None,
        created_at=row.created_at,
        finished_at=row.finished_at,
    )


async def read_job(
    db: Database, clock: Clock, school_id: uuid.UUID, job_id: uuid.UUID, stale_seconds: float
) -> RosterJob | None:
    """The school's job, None when it has none of that id. An unfinished job whose heartbeat
    stopped (and that this process does not run) is failed first."""
    async with db.read() as session:
        row = await store.get_job(session, school_id, job_id)
    if row is None:
        return None
    unfinished = row.status in store.UNFINISHED
    stale = clock.now() - timedelta(seconds=stale_seconds)
    if unfinished and job_id not in RUNNING and row.updated_at < stale:
        async with db.transaction() as session:
            await store.fail_unfinished_jobs(session, clock.now(), job_ids=[job_id], before=stale)
            row = await store.get_job(session, school_id, job_id)
        log.warning("roster.job_interrupted", job_id=str(job_id), found="on_read")
    return job_of(row)


# --- running a job --------------------------------------------------------------------------------
def start_job(
    db: Database,
    clock: Clock,
    job_id: uuid.UUID,
    start: JobStart,
    content: bytes,
    *,
    max_bytes: int,
    workers: int = DEFAULT_JOB_WORKERS,
) -> None:
    """Run the (recorded) job in a task of this process. The task runs in a context of its own:
    not inside the request's unit of work (ck_runtime.db), whose transaction ends with the
    reply."""
    work = _run(db, clock, job_id, start, content, max_bytes=max_bytes, workers=workers)
    task = asyncio.create_task(work, name=f"roster-job-{job_id}", context=contextvars.Context())
    RUNNING[job_id] = Running(db=db, task=task)
    task.add_done_callback(lambda _: RUNNING.pop(job_id, None))


async def _update(db: Database, clock: Clock, job_id: uuid.UUID, **values: Any) -> None:
    async with db.transaction() as session:
        if not await store.update_job(session, job_id, clock.now(), **values):
            raise JobGone()


async def _run(
    db: Database,
    clock: Clock,
    job_id: uuid.UUID,
    start: JobStart,
    content: bytes,
    *,
    max_bytes: int,
    workers: int,
) -> None:
    try:
        if not await _recorded(db, job_id):
            log.warning("roster.job_not_recorded", job_id=str(job_id))
            return
        async with _slots(workers):
            await _update(db, clock, job_id, status=JobStatus.RUNNING.value)
            try:
                await _work(db, clock, job_id, start, content, max_bytes)
            finally:
                await release_memory()  # the file's rows and people are gone (filework)
    except JobGone:
        log.warning("roster.job_gone", job_id=str(job_id))
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await _fail(db, clock, job_id)
        raise
    except Exception as exc:  # the job says so; the school never sees a stack trace
        log.error("roster.job_failed", job_id=str(job_id), error=type(exc).__name__)
        with contextlib.suppress(Exception):
            await _fail(db, clock, job_id)


async def _recorded(db: Database, job_id: uuid.UUID, tries: int = 1500) -> bool:
    """Whether the job's row is committed. The start operation records it in the request's
    unit of work (exactly once: ck_runtime.commands), which commits with the reply, after the
    task was made; a repeated request's unit rolls back, and its task finds no row."""
    for _ in range(tries):
        async with db.read() as session:
            if await store.job_exists(session, job_id):
                return True
        await asyncio.sleep(0.02)
    return False


async def _fail(db: Database, clock: Clock, job_id: uuid.UUID) -> None:
    async with db.transaction() as session:
        await store.fail_unfinished_jobs(session, clock.now(), job_ids=[job_id])
    log.warning("roster.job_interrupted", job_id=str(job_id), found="in_task")


async def _work(
    db: Database,
    clock: Clock,
    job_id: uuid.UUID,
    start: JobStart,
    content: bytes,
    max_bytes: int,
) -> None:
    loop = asyncio.get_running_loop()
    read: list[asyncio.Future[None]] = []

    def on_read(rows: int) -> None:  # in the worker thread
        future = asyncio.run_coroutine_threadsafe(_update(db, clock, job_id, rows_read=rows), loop)
        read.append(asyncio.wrap_future(future, loop=loop))

    upload = start.action == JobAction.UPLOAD
    result = await in_file_thread(
        validation.validate,
        start.kind,
        start.filename,
        content,
        max_bytes=max_bytes,
        keep_people=upload,
        on_read=on_read,
    )
    del content
    await release_memory()  # what reading freed, before the store allocates (ops.school)
    for future in read:
        await future  # rows_read is written before validated
    report = result.report
    count = report.count
    checked = {"total": count, "validated": count}
    log.info("roster.job_validated", job_id=str(job_id), ok=report.ok, count=count)
    if not upload or not report.ok:
        status = JobStatus.DONE if not upload else JobStatus.FAILED
        await _update(
            db,
            clock,
            job_id,
            **checked,
            status=status.value,
            reason="" if status == JobStatus.DONE else report.reason,
            result=json.dumps({"report": report.model_dump(mode="json")}),
            finished_at=clock.now(),
        )
        return
    await _update(db, clock, job_id, **checked)
    progress = _progress(db, clock, job_id)
    async with db.transaction() as session:
        outcome = await apply_upload(
            session, start.school_id, start.kind, result.people, clock.now(), progress
        )
        # Finished in the upload's own transaction: "done" and the new roster go together.
        finished = await store.update_job(
            session,
            job_id,
            clock.now(),
            status=JobStatus.DONE.value,
            stored=outcome.total,
            result=json.dumps({"upload": outcome.model_dump(mode="json")}),
            finished_at=clock.now(),
        )
        if not finished:
            raise JobGone()  # failed meanwhile as interrupted: nothing is applied


def _progress(db: Database, clock: Clock, job_id: uuid.UUID) -> Callable[[int], Awaitable[None]]:
    async def stored(count: int) -> None:
        running = RUNNING.get(job_id)
        if running is not None:
            running.stored = max(running.stored, count)
        if not db.sqlite:  # SQLite: the upload's transaction holds the one write lock
            await _update(db, clock, job_id, stored=count)

    return stored


# --- the service's life cycle ---------------------------------------------------------------------
async def fail_abandoned(db: Database, clock: Clock, stale_seconds: float) -> int:
    """At start-up: jobs no process runs any more are failed (see the module's docstring)."""
    before = None if db.sqlite else clock.now() - timedelta(seconds=stale_seconds)
    async with db.transaction() as session:
        failed = await store.fail_unfinished_jobs(session, clock.now(), before=before)
    if failed:
        log.warning("roster.jobs_interrupted", count=failed, found="at_start")
    return failed


async def stop_jobs(db: Database) -> None:
    """At a graceful stop: this process's jobs on `db` are cancelled; each fails itself."""
    tasks = [running.task for running in RUNNING.values() if running.db is db]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
