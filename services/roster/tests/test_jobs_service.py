"""Validation and upload as jobs (issue 14) against real databases (SQLite and PostgreSQL),
through the router: start, progress, the result, another school's job, a stopped service."""

from __future__ import annotations

import asyncio
import base64
import itertools
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest
from ck_contracts.operations import Operation
from ck_contracts.roster import JobStart, Ops, RosterReason
from ck_contracts.rpc import RpcRequest
from ck_roster import jobs, store
from ck_roster.app import get_settings
from ck_roster.ops import router
from ck_roster.tables import known_schools, outbox, people
from ck_runtime.db import Database
from ck_runtime.migrations import upgrade_async
from ck_testkit import clocks
from ck_testkit.rosters import STUDENT_HEADER, student_rows, student_xlsx
from sqlalchemy import func, select

FINISHED = ("done", "failed")
HEADERS = list(STUDENT_HEADER)
SCHOOL_A = uuid.uuid4()
SCHOOL_B = uuid.uuid4()


def student(i: int, **other: Any) -> dict[str, Any]:
    row = {
        "voornaam": f"Leerling {i}",
        "achternaam": f"achternaam{i}",
        "email": f"leerling{i}@school.nl",
        "mobiel nummer": "",
        "locatienaam": "Haarlem",
        "studiejaar": 1 + i % 4,
        "opleiding": "ICT",
        "klas": "1a",
        "BRIN": "25LG",
    }
    row.update(other)
    return row


def xlsx(rows: list[dict[str, Any]]) -> str:
    content = student_xlsx([tuple(row[h] for h in HEADERS) for row in rows], hint_row=True)
    return base64.b64encode(content).decode()


def actor(school: uuid.UUID = SCHOOL_A, role: str = "budgethouder") -> dict[str, Any]:
    return {"user_id": str(uuid.uuid4()), "role": role, "school_id": str(school)}


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    await upgrade_async("roster", database_url)
    database = Database(database_url)
    async with database.transaction() as session:
        for number, school in ((10289, SCHOOL_A), (10290, SCHOOL_B)):
            await session.execute(
                known_schools.insert().values(
                    school_id=school, school_number=number, updated_at=clocks.now()
                )
            )
    yield database
    # A job that answered "done" may still be closing its transaction: let it end, so that
    # the stop below does not cancel it half-way through (its connection would be left open).
    finishing = [run.task for run in jobs.RUNNING.values() if run.db is database]
    if finishing:
        await asyncio.wait(finishing, timeout=30)
    await jobs.stop_jobs(database)
    await database.dispose()


async def call(
    db: Database,
    op: Operation[Any, Any],
    payload: dict[str, Any],
    who: dict[str, Any] | None = None,
) -> dict[str, Any]:
    request = RpcRequest(op=op.name, actor=who or actor(), payload=payload)
    return await router.dispatch(request, db, get_settings(max_upload_bytes=10_000_000))


async def events(db: Database, routing_key: str) -> list[dict[str, Any]]:
    async with db.read() as session:
        query = select(outbox.c.body).where(outbox.c.routing_key == routing_key)
        return [r.body for r in (await session.execute(query)).all()]


def start_payload(content_b64: str, action: str, school: uuid.UUID = SCHOOL_A) -> dict[str, Any]:
    return {
        "school_id": str(school),
        "kind": "students",
        "filename": "leerlingen.xlsx",
        "content_b64": content_b64,
        "action": action,
        "confirmed": True,
    }


async def start(db: Database, content_b64: str, action: str) -> dict[str, Any]:
    reply = await call(db, Ops.JOB_START, start_payload(content_b64, action))
    assert reply["ok"], reply
    assert reply["result"]["status"] == "queued"
    return dict(reply["result"])


async def get(db: Database, job_id: str, school: uuid.UUID = SCHOOL_A) -> dict[str, Any]:
    return await call(db, Ops.JOB_GET, {"school_id": str(school), "job_id": job_id}, actor(school))


async def poll(db: Database, job_id: str) -> list[dict[str, Any]]:
    """Every answer until the job is finished (no deadline but the test's own timeout)."""
    seen: list[dict[str, Any]] = []
    async with asyncio.timeout(300):
        while True:
            reply = await get(db, job_id)
            assert reply["ok"], reply
            seen.append(reply["result"])
            if reply["result"]["status"] in FINISHED:
                return seen
            await asyncio.sleep(0.02)


def counts(job: dict[str, Any]) -> tuple[int, int, int]:
    return job["rows_read"], job["validated"], job["stored"]


def assert_monotonic(seen: list[dict[str, Any]]) -> None:
    for before, after in itertools.pairwise(seen):
        assert all(a >= b for a, b in zip(counts(after), counts(before), strict=True)), (
            before,
            after,
        )


async def people_count(db: Database) -> int:
    async with db.read() as session:
        return int((await session.execute(select(func.count()).select_from(people))).scalar_one())


@asynccontextmanager
async def started_and_held(db: Database, content_b64: str) -> AsyncIterator[dict[str, Any]]:
    """Start an upload job while what its storing needs first is held: the school's row lock
    (PostgreSQL: taken before the start, which does not need it) or the database's one writer
    (SQLite: taken right after the start answered, before the job's task can write, as this
    process's writers queue on one lock in order; ck_runtime.db)."""

    @asynccontextmanager
    async def held() -> AsyncIterator[None]:
        async with db.transaction() as session:
            await store.lock_school(session, SCHOOL_A)
            yield

    if db.sqlite:
        job = await start(db, content_b64, "upload")
        async with held():
            yield job
    else:
        async with held():
            yield await start(db, content_b64, "upload")


# --- the validatietool as a job -----------------------------------------------------------------
async def test_validation_job_reports_like_the_tool_and_stores_nothing(db: Database) -> None:
    rows = [student(i) for i in range(30)] + [student(30, studiejaar=9)]
    job = await start(db, xlsx(rows), "validate")
    seen = await poll(db, job["job_id"])
    done = seen[-1]
    assert done["status"] == "done"
    assert done["action"] == "validate"
    assert done["report"]["ok"] is False
    assert done["report"]["reason"] == RosterReason.FILE_HAS_ERRORS
    assert [e["column"] for e in done["report"]["errors"]] == ["studiejaar"]
    assert (done["total"], done["validated"], done["rows_read"]) == (31, 31, 31)
    assert done["stored"] == 0 and done["finished_at"]
    assert_monotonic(seen)
    assert await people_count(db) == 0


# --- upload as a job ----------------------------------------------------------------------------
async def test_upload_job_stores_the_roster_and_finishes_with_the_counts(db: Database) -> None:
    rows = [student(i) for i in range(40)]
    job = await start(db, xlsx(rows), "upload")
    seen = await poll(db, job["job_id"])
    done = seen[-1]
    assert done["status"] == "done", done
    assert done["upload"]["added"] == 40 and done["upload"]["total"] == 40
    assert counts(done) == (40, 40, 40) and done["total"] == 40
    assert_monotonic(seen)
    assert await people_count(db) == 40
    assert len(await events(db, "roster.roster.uploaded")) == 1


async def test_upload_job_of_a_bad_file_fails_with_its_report_and_changes_nothing(
    db: Database,
) -> None:
    job = await start(db, xlsx([student(1), student(2, studiejaar=7)]), "upload")
    done = (await poll(db, job["job_id"]))[-1]
    assert done["status"] == "failed"
    assert done["reason"] == RosterReason.FILE_HAS_ERRORS
    assert done["report"]["errors"][0]["row"] == 4  # header, hint row, row 3, row 4
    assert done["upload"] is None and done["stored"] == 0
    assert await people_count(db) == 0


async def test_an_upload_job_needs_the_confirmation_and_a_known_school(db: Database) -> None:
    payload = start_payload(xlsx([student(1)]), "upload") | {"confirmed": False}
    unconfirmed = await call(db, Ops.JOB_START, payload)
    assert not unconfirmed["ok"]
    assert unconfirmed["error"]["reason"] == RosterReason.CONFIRM_STUDENTS
    unknown = uuid.uuid4()
    payload = start_payload(xlsx([student(1)]), "validate", unknown)
    refused = await call(db, Ops.JOB_START, payload, actor(unknown))
    assert not refused["ok"] and refused["error"]["code"] == "not_found"
    not_base64 = await call(db, Ops.JOB_START, start_payload("***", "validate"))
    assert not_base64["error"]["reason"] == RosterReason.FILE_NOT_BASE64


async def test_another_schools_job_is_not_found_and_not_asked_for(db: Database) -> None:
    job = await start(db, xlsx([student(1)]), "validate")
    await poll(db, job["job_id"])
    own_school = await get(db, job["job_id"], SCHOOL_B)  # B asks for its own school: no job
    assert not own_school["ok"]
    assert own_school["error"]["reason"] == RosterReason.JOB_NOT_FOUND
    crossing = await call(
        db, Ops.JOB_GET, {"school_id": str(SCHOOL_A), "job_id": job["job_id"]}, actor(SCHOOL_B)
    )
    assert not crossing["ok"] and crossing["error"]["code"] == "forbidden"
    teacher = await call(
        db,
        Ops.JOB_GET,
        {"school_id": str(SCHOOL_A), "job_id": job["job_id"]},
        actor(SCHOOL_A, "docent_plus"),
    )
    assert not teacher["ok"] and teacher["error"]["code"] == "forbidden"


# --- 50,000 rows: progress before completion ------------------------------------------------------
async def test_a_50000_row_upload_shows_progress_before_it_is_done(db: Database) -> None:
    content = base64.b64encode(student_xlsx(student_rows(50_000, seed=3))).decode()
    async with started_and_held(db, content) as job:
        first = await get(db, job["job_id"])
        if not db.sqlite:
            # The file is read and checked while the school's lock is held elsewhere; only the
            # storing waits for it.
            while first["result"]["validated"] < 50_000:
                await asyncio.sleep(0.05)
                first = await get(db, job["job_id"])
    assert first["ok"], first
    seen = [first["result"], *await poll(db, job["job_id"])]
    assert seen[0]["status"] in ("queued", "running")
    if not db.sqlite:
        assert seen[0]["total"] == 50_000 and seen[0]["stored"] == 0
    assert any(job["status"] not in FINISHED for job in seen)
    assert_monotonic(seen)
    done = seen[-1]
    assert done["status"] == "done", done
    assert counts(done) == (50_000, 50_000, 50_000)
    assert await people_count(db) == 50_000


# --- a service that stops -------------------------------------------------------------------------
async def test_a_stopped_service_fails_its_running_job_and_applies_nothing(db: Database) -> None:
    rows = [student(i) for i in range(50)]
    async with started_and_held(db, xlsx(rows)) as job:
        stopping = asyncio.create_task(jobs.stop_jobs(db))
        await asyncio.sleep(0)
    await stopping
    reply = await get(db, job["job_id"])
    assert reply["result"]["status"] == "failed", reply
    assert reply["result"]["reason"] == RosterReason.JOB_INTERRUPTED
    assert await people_count(db) == 0


async def test_abandoned_jobs_are_failed_at_start_and_when_read(db: Database) -> None:
    clock = clocks.manual()

    def recorded(name: str) -> JobStart:
        return JobStart.model_validate(
            start_payload(base64.b64encode(b"x").decode(), "validate") | {"filename": name}
        )

    first, second = uuid.uuid4(), uuid.uuid4()
    async with db.transaction() as session:
        await store.create_job(session, first, recorded("een.xlsx"), clock.now())
    clock.advance(timedelta(seconds=400))
    async with db.transaction() as session:
        await store.create_job(session, second, recorded("twee.xlsx"), clock.now())
    failed = await jobs.fail_abandoned(db, clock, stale_seconds=300)
    # SQLite: one process, so every unfinished job was this process's; PostgreSQL: only the
    # one whose heartbeat stopped long enough ago.
    assert failed == (2 if db.sqlite else 1)
    stale = await jobs.read_job(db, clock, SCHOOL_A, first, 300)
    assert stale is not None and stale.status == "failed"
    assert stale.reason == RosterReason.JOB_INTERRUPTED
    clock.advance(timedelta(seconds=400))
    later = await jobs.read_job(db, clock, SCHOOL_A, second, 300)
    assert later is not None and later.status == "failed"
    assert later.reason == RosterReason.JOB_INTERRUPTED
    async with db.read() as session:
        rows = (await session.execute(select(known_schools.c.school_id))).all()
    assert len(rows) == 2  # nothing else was touched
