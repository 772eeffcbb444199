"""Retention of roster jobs (issue 14, R-AVG-2), on SQLite and PostgreSQL: a finished job (done
or failed) is deleted `job_retention_days` after it finished; an unfinished one never."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from ck_contracts.roster import JobAction, JobStart, JobStatus, RosterKind
from ck_roster import store
from ck_roster.app import build
from ck_roster.retention import retention_rules
from ck_roster.settings import get_settings
from ck_roster.tables import roster_jobs
from ck_runtime.clock import ManualClock
from ck_runtime.db import Database
from ck_runtime.migrations import upgrade_async
from ck_runtime.retention import Retention
from ck_testkit.clocks import MONDAY
from sqlalchemy import select

SCHOOL = uuid.uuid4()


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    await upgrade_async("roster", database_url)
    database = Database(database_url)
    yield database
    await database.dispose()


def start(action: JobAction = JobAction.VALIDATE) -> JobStart:
    return JobStart(
        school_id=SCHOOL,
        kind=RosterKind.STUDENTS,
        filename="leerlingen.xlsx",
        content_b64="",
        action=action,
        confirmed=True,
    )


async def job(db: Database, clock: ManualClock, status: JobStatus | None) -> uuid.UUID:
    """A job recorded now; finished now with `status` (None: it stays queued)."""
    job_id = uuid.uuid4()
    async with db.transaction() as session:
        await store.create_job(session, job_id, start(), clock.now())
        if status is not None:
            assert await store.update_job(
                session, job_id, clock.now(), status=status.value, finished_at=clock.now()
            )
    return job_id


async def job_ids(db: Database) -> set[uuid.UUID]:
    async with db.read() as session:
        return set((await session.execute(select(roster_jobs.c.id))).scalars())


async def test_finished_jobs_go_after_the_period_unfinished_ones_stay(db: Database) -> None:
    clock = ManualClock(MONDAY)
    retention = Retention(db, clock, retention_rules(get_settings(job_retention_days=30)), batch=2)
    done, failed, extra = [
        await job(db, clock, status)
        for status in (
            JobStatus.DONE,
            JobStatus.FAILED,
            JobStatus.DONE,
        )
    ]
    clock.advance(timedelta(days=10))
    later = await job(db, clock, JobStatus.DONE)
    queued = await job(db, clock, None)

    clock.set(MONDAY + timedelta(days=30) - timedelta(seconds=1))
    assert (await retention.run_once())["roster_jobs.finished"] == 0
    assert await job_ids(db) == {done, failed, extra, later, queued}

    clock.set(MONDAY + timedelta(days=30))
    assert (await retention.run_once())["roster_jobs.finished"] == 3  # more than one batch
    assert await job_ids(db) == {later, queued}

    clock.set(MONDAY + timedelta(days=400))
    assert (await retention.run_once())["roster_jobs.finished"] == 1
    assert await job_ids(db) == {queued}  # an unfinished job is never deleted here


def test_the_service_runs_the_rule_and_the_period_is_a_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ROSTER_JOB_RETENTION_DAYS", "7")
    assert get_settings().job_retention_days == 7
    monkeypatch.setenv("ROSTER_JOB_RETENTION_DAYS", "0")
    with pytest.raises(ValueError):
        get_settings()
    monkeypatch.delenv("ROSTER_JOB_RETENTION_DAYS")
    service = build(get_settings())
    assert [rule.name for rule in service.retention] == [
        "roster_jobs.finished",
        "invitation_runs.idle",
    ]
