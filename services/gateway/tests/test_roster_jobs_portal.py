"""Validation and upload as jobs with progress (issue 14) through the gateway: the portal's
progress page (`<list>/taken/<job_id>`) and the JSON job resource, against the real roster
and accounts services over the real broker, the roster on PostgreSQL.

PostgreSQL lets a test hold the school's row lock (what storing an upload takes first) from
outside the service, so a 50,000-row upload is seen running, read and checked but not yet
stored, deterministically; then the lock is let go and the page followed to the result.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
import pytest
from ck_accounts.passwords import hash_password
from ck_accounts.tables import users
from ck_contracts.messaging import utcnow
from ck_contracts.roles import Actor, Role
from ck_contracts.roster import Ops
from ck_roster import store
from ck_roster.app import build as build_roster
from ck_roster.app import get_settings as roster_settings
from ck_runtime.db import Database
from ck_runtime.service import ServiceRuntime
from ck_testkit.broker import can_make_vhosts, virtual_host
from ck_testkit.jobs import follow_job, running
from ck_testkit.rosters import student_rows, student_xlsx
from sqlalchemy import insert

Stack = Any  # the `stack` fixture of conftest.py

DOCENT_EMAIL = "docent-plus@jobs.example"
DOCENT_PASSWORD = "een lang docentwachtwoord"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FINISHED = ("done", "failed")


@pytest.fixture(scope="module")
def amqp_url(amqp_url: str) -> Iterator[str]:
    """A virtual host of this module's own: its roster service must be the only one that
    answers roster operations and hears these schools' events."""
    if not amqp_url.rpartition("/")[2].startswith("ck-test-") or not can_make_vhosts():
        yield amqp_url
        return
    with virtual_host("ck-test-roster-jobs") as url:
        yield url


def _dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


@pytest.fixture(scope="module")
async def roster_database(postgres_admin_url: str) -> AsyncIterator[str]:
    name = f"ck_roster_jobs_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(_dsn(postgres_admin_url))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield postgres_admin_url.rsplit("/", 1)[0] + "/" + name
    finally:
        admin = await asyncpg.connect(_dsn(postgres_admin_url))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


async def _wait_until_roster_knows(stack: Stack, school: Any) -> None:
    actor = Actor(user_id=uuid.uuid4(), role=Role.BUDGET_HOLDER, school_id=school.school_id)
    payload = {"school_id": str(school.school_id), "kind": "students"}
    async with asyncio.timeout(30):
        while True:
            reply = await stack.rpc.call("roster", Ops.LIST.name, payload, actor=actor)
            if reply.ok:
                return
            assert reply.error is not None and reply.error.code == "not_found", reply.error
            await asyncio.sleep(0.2)


@pytest.fixture(scope="module")
async def jstack(stack: Stack, amqp_url: str, roster_database: str) -> AsyncIterator[Stack]:
    runtime = ServiceRuntime(
        build_roster(roster_settings(amqp_url=amqp_url, database_url=roster_database))
    )
    await runtime.start()
    try:
        for school in stack.schools.values():
            await _wait_until_roster_knows(stack, school)
        async with stack.runtime.db.transaction() as session:
            await session.execute(
                insert(users).values(
                    id=uuid.uuid4(),
                    email=DOCENT_EMAIL,
                    name="Dirk Docent",
                    role=Role.DOCENT_PLUS,
                    school_id=stack.schools["a"].school_id,
                    password_hash=await hash_password(DOCENT_PASSWORD),
                    active=True,
                    created_at=utcnow(),
                )
            )
        stack.roster_database = roster_database
        yield stack
    finally:
        await runtime.stop()


# --- helpers ----------------------------------------------------------------------------------
@asynccontextmanager
async def logged_in(stack: Stack, email: str, password: str) -> AsyncIterator[httpx.AsyncClient]:
    async with stack.client() as client:
        response = await stack.page_login(client, email, password)
        assert response.status_code == 303, response.text
        yield client


def budget_holder(stack: Stack, key: str = "a") -> Any:
    school = stack.schools[key]
    return logged_in(stack, school.email, school.password)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@asynccontextmanager
async def school_lock_held(stack: Stack, school_id: uuid.UUID) -> AsyncIterator[None]:
    """The school's row lock in the roster's database, from outside the service: an upload
    reads and checks its file but waits with storing until the block ends."""
    database = Database(stack.roster_database)
    try:
        async with database.transaction() as session:
            await store.lock_school(session, school_id)
            yield
    finally:
        await database.dispose()


def count_of(html: str, element_id: str) -> int:
    match = re.search(rf'id="{element_id}">(\d+)', html)
    assert match, f"no #{element_id} on the page"
    return int(match.group(1))


async def post_upload(client: httpx.AsyncClient, stack: Stack, content: bytes) -> httpx.Response:
    form = await client.get("/beheer-studenten/upload")
    return await client.post(
        "/beheer-studenten/upload",
        data={"csrf_token": stack.csrf_of(form.text), "bevestigd": "ja"},
        files={"bestand": ("leerlingen.xlsx", content, XLSX)},
    )


async def poll(
    client: httpx.AsyncClient, location: str, headers: dict[str, str]
) -> list[dict[str, Any]]:
    """Every state of the job until it is finished (the last)."""
    seen: list[dict[str, Any]] = []
    for _ in range(2400):  # a bound against a job that never ends; no timing is asserted
        reply = await client.get(location, headers=headers)
        assert reply.status_code == 200, reply.text
        seen.append(reply.json())
        if seen[-1]["status"] in FINISHED:
            return seen
        await asyncio.sleep(0.05)
    raise AssertionError(f"the job at {location} did not end")


def assert_monotonic(seen: list[dict[str, Any]]) -> None:
    for key in ("rows_read", "validated", "stored"):
        values = [job[key] for job in seen]
        assert values == sorted(values), (key, values)


# --- the portal's progress page -----------------------------------------------------------------
async def test_a_50000_row_upload_through_the_page_shows_its_progress_then_the_result(
    jstack: Stack,
) -> None:
    school = jstack.schools["a"]
    content = student_xlsx(student_rows(50_000, seed=14))
    async with budget_holder(jstack) as client:
        async with school_lock_held(jstack, school.school_id):
            posted = await post_upload(client, jstack, content)
            assert posted.status_code == 303, posted.text
            location = posted.headers["location"]
            assert re.fullmatch(r"/beheer-studenten/taken/[0-9a-f-]{36}", location)
            first = await client.get(location)
            # Read and checked while the lock is held; storing waits for it.
            page = first
            while not re.search(r'id="gevalideerd">50000 ', page.text):
                assert running(page), page.text[-2000:]
                await asyncio.sleep(0.05)
                page = await client.get(location)
            reloaded = await client.get(location)  # a reload: the same state, from the database
        done = await follow_job(client, posted)
        listing = await client.get("/beheer-studenten")

    assert first.status_code == 200
    assert running(first)
    assert '<meta http-equiv="refresh" content="1">' in first.text
    assert "De upload is afgerond." not in first.text
    for intermediate in (page, reloaded):
        assert running(intermediate)
        assert 'data-status="running"' in intermediate.text
        assert "Het bestand wordt verwerkt." in intermediate.text
        assert count_of(intermediate.text, "gelezen") == 50_000
        assert count_of(intermediate.text, "gevalideerd") == 50_000
        assert count_of(intermediate.text, "opgeslagen") == 0
        assert "van 50000" in intermediate.text
        assert "<progress" in intermediate.text

    assert done.status_code == 200, done.text[-2000:]
    assert not running(done)
    assert "De upload is afgerond." in done.text
    assert re.search(r'id="toegevoegd">50000<', done.text)
    assert re.search(r'id="totaal">50000<', done.text)
    assert "Totaal: <strong>50000 " in listing.text


async def test_a_job_page_is_the_own_schools_and_lists_and_not_for_docent_plus(
    jstack: Stack,
) -> None:
    content = student_xlsx(student_rows(3, seed=1))
    async with budget_holder(jstack, "b") as client:
        tool = await client.get("/beheer-studenten/validatietool")
        posted = await client.post(
            "/beheer-studenten/validatietool",
            data={"csrf_token": jstack.csrf_of(tool.text)},
            files={"bestand": ("drie.xlsx", content, XLSX)},
        )
        location = posted.headers["location"]
        done = await follow_job(client, posted)
        again = await client.get(location)  # a finished job's page can be opened again
        job_id = location.rsplit("/", 1)[1]
        other_list = await client.get(f"/beheer-docenten/taken/{job_id}")
        unknown = await client.get(f"/beheer-studenten/taken/{uuid.uuid4()}")
    async with budget_holder(jstack, "a") as other_school:
        foreign = await other_school.get(location)
    async with logged_in(jstack, DOCENT_EMAIL, DOCENT_PASSWORD) as docent:
        docent_page = await docent.get(location)

    assert posted.status_code == 303
    assert done.status_code == 200 and "3 leerling(en) gevalideerd!" in done.text
    assert "drie.xlsx" in done.text
    assert again.text.count("3 leerling(en) gevalideerd!") == 1
    for response in (other_list, unknown, foreign):
        assert response.status_code == 404, response.text
        assert "drie.xlsx" not in response.text
    assert docent_page.status_code == 403


# --- the JSON API's job resource ----------------------------------------------------------------
async def test_api_job_answers_202_with_location_and_is_polled_to_the_result(
    jstack: Stack,
) -> None:
    b = jstack.schools["b"]
    token = await jstack.api_token(b.email, b.password)
    base = f"/api/v1/schools/{b.school_id}/roster/students"
    good = student_xlsx(student_rows(40, seed=2))
    bad = student_xlsx([("", *row[1:]) for row in student_rows(2, seed=3)])
    async with jstack.client() as client:
        validate = await client.post(
            f"{base}/jobs",
            headers=bearer(token),
            data={"action": "validate"},
            files={"file": ("goed.xlsx", good, XLSX)},
        )
        unconfirmed = await client.post(
            f"{base}/jobs",
            headers=bearer(token),
            data={"action": "upload"},
            files={"file": ("goed.xlsx", good, XLSX)},
        )
        upload = await client.post(
            f"{base}/jobs",
            headers=bearer(token),
            data={"action": "upload", "confirmed": "true"},
            files={"file": ("goed.xlsx", good, XLSX)},
        )
        assert validate.status_code == 202, validate.text
        assert upload.status_code == 202, upload.text
        validated = await poll(client, validate.headers["location"], bearer(token))
        uploaded = await poll(client, upload.headers["location"], bearer(token))
        refused = await client.post(
            f"{base}/jobs",
            headers=bearer(token),
            data={"action": "upload", "confirmed": "true"},
            files={"file": ("fout.xlsx", bad, XLSX)},
        )
        failed = await poll(client, refused.headers["location"], bearer(token))
        people = await client.get(f"{base}/people", headers=bearer(token))

    for response in (validate, upload):
        job = response.json()
        assert response.headers["location"] == f"{base}/jobs/{job['job_id']}"
        assert job["status"] == "queued"
    assert unconfirmed.status_code == 422
    assert "confirmed" in unconfirmed.json()["error"]["fields"]

    assert_monotonic(validated)
    end = validated[-1]
    assert end["status"] == "done" and end["action"] == "validate"
    assert end["report"]["ok"] and end["report"]["message"] == "40 leerling(en) gevalideerd!"
    assert (end["rows_read"], end["validated"], end["stored"]) == (40, 40, 0)

    assert_monotonic(uploaded)
    end = uploaded[-1]
    assert end["status"] == "done", end
    assert end["upload"]["added"] == 40 and end["stored"] == 40 and end["total"] == 40

    end = failed[-1]
    assert end["status"] == "failed" and end["upload"] is None
    assert not end["report"]["ok"] and end["report"]["errors"]
    assert all(error["message"] for error in end["report"]["errors"])  # Dutch filled in
    assert people.json()["total"] == 40  # the bad file changed nothing


async def test_api_jobs_of_another_school_and_for_docent_plus(jstack: Stack) -> None:
    a, b = jstack.schools["a"], jstack.schools["b"]
    token_a = await jstack.api_token(a.email, a.password)
    token_b = await jstack.api_token(b.email, b.password)
    token_docent = await jstack.api_token(DOCENT_EMAIL, DOCENT_PASSWORD)
    own = f"/api/v1/schools/{a.school_id}/roster/students"
    file = {"file": ("een.xlsx", student_xlsx(student_rows(1, seed=4)), XLSX)}
    async with jstack.client() as client:
        started = await client.post(
            f"{own}/jobs", headers=bearer(token_a), data={"action": "validate"}, files=file
        )
        assert started.status_code == 202, started.text
        location = started.headers["location"]
        job_id = started.json()["job_id"]
        await poll(client, location, bearer(token_a))
        responses = {
            "B reads A's job at A's URL": await client.get(location, headers=bearer(token_b)),
            "B reads A's job at B's URL": await client.get(
                f"/api/v1/schools/{b.school_id}/roster/students/jobs/{job_id}",
                headers=bearer(token_b),
            ),
            "B starts a job for A": await client.post(
                f"{own}/jobs", headers=bearer(token_b), data={"action": "validate"}, files=file
            ),
            "the teachers' URL": await client.get(
                f"/api/v1/schools/{a.school_id}/roster/teachers/jobs/{job_id}",
                headers=bearer(token_a),
            ),
            "Docent+ reads": await client.get(location, headers=bearer(token_docent)),
            "Docent+ starts": await client.post(
                f"{own}/jobs", headers=bearer(token_docent), data={"action": "validate"}, files=file
            ),
            "anonymous": await client.get(location),
        }
    expected = {
        "B reads A's job at A's URL": 403,
        "B reads A's job at B's URL": 404,
        "B starts a job for A": 403,
        "the teachers' URL": 404,
        "Docent+ reads": 403,
        "Docent+ starts": 403,
        "anonymous": 401,
    }
    assert {key: r.status_code for key, r in responses.items()} == expected
    for key, response in responses.items():
        assert "een.xlsx" not in response.text, key
