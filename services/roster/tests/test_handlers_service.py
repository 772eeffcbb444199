"""The roster operations against real databases (SQLite and PostgreSQL), through the router."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import pytest
from ck_contracts.operations import Operation
from ck_contracts.roster import Ops
from ck_contracts.rpc import RpcRequest
from ck_roster.app import get_settings
from ck_roster.ops import router
from ck_roster.tables import known_schools, outbox, people
from ck_runtime.db import Database
from ck_runtime.migrations import upgrade_async
from ck_testkit import clocks
from ck_testkit.rosters import STUDENT_HEADER, student_xlsx, teacher_xlsx
from sqlalchemy import func, select

HEADERS = list(STUDENT_HEADER)
SCHOOL_A = uuid.uuid4()
SCHOOL_B = uuid.uuid4()


def student(i: int, email: bool = True, **other: Any) -> dict[str, Any]:
    row = {
        "voornaam": f"Leerling {i}",
        "achternaam": f"achternaam{i}",
        "email": f"leerling{i}@school.nl" if email else "",
        "mobiel nummer": "",
        "locatienaam": "Haarlem" if i % 2 else "Leiden",
        "studiejaar": 1 + i % 4,
        "opleiding": "Verzorging" if i % 3 else "ICT",
        "klas": f"{1 + i % 4}{'ab'[i % 2]}",
        "BRIN": "25LG",
    }
    row.update(other)
    return row


def xlsx(rows: list[dict[str, Any]]) -> str:
    """The file as a school fills in the downloaded template (hint row kept)."""
    content = student_xlsx([tuple(row[h] for h in HEADERS) for row in rows], hint_row=True)
    return base64.b64encode(content).decode()


def actor(school: uuid.UUID = SCHOOL_A, role: str = "budgethouder") -> dict[str, Any]:
    return {"user_id": str(uuid.uuid4()), "role": role, "school_id": str(school)}


@pytest.fixture
async def db(database_url: str):  # type: ignore[no-untyped-def]
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
    await database.dispose()


async def call(
    db: Database,
    op: Operation[Any, Any],
    payload: dict[str, Any],
    who: dict[str, Any] | None = None,
) -> dict[str, Any]:
    request = RpcRequest(op=op.name, actor=who or actor(), payload=payload)
    return await router.dispatch(request, db, get_settings(max_upload_bytes=1_000_000))


async def upload(
    db: Database, rows: list[dict[str, Any]], school: uuid.UUID = SCHOOL_A, **extra: Any
) -> dict[str, Any]:
    payload = {
        "school_id": str(school),
        "kind": "students",
        "filename": "leerlingen.xlsx",
        "content_b64": xlsx(rows),
        "confirmed": True,
        **extra,
    }
    return await call(db, Ops.UPLOAD, payload, actor(school))


async def listing(db: Database, school: uuid.UUID = SCHOOL_A, **request: Any) -> dict[str, Any]:
    payload = {"school_id": str(school), "kind": "students", **request}
    reply = await call(db, Ops.LIST, payload, actor(school))
    assert reply["ok"], reply
    return reply["result"]


async def events(db: Database, routing_key: str) -> list[dict[str, Any]]:
    async with db.read() as session:
        query = select(outbox.c.body).where(outbox.c.routing_key == routing_key)
        return [r.body for r in (await session.execute(query.order_by(outbox.c.seq))).all()]


async def people_count(db: Database) -> int:
    async with db.read() as session:
        return int((await session.execute(select(func.count()).select_from(people))).scalar_one())


# --- upload ---------------------------------------------------------------------------------------
async def test_upload_into_empty_roster_then_same_file_keeps_everyone(db: Database) -> None:
    rows = [student(i, email=i % 5 != 0) for i in range(40)]
    first = await upload(db, rows)
    assert first["ok"], first
    assert first["result"] | {"upload_id": None} == {
        "upload_id": None,
        "added": 40,
        "kept": 0,
        "removed": 0,
        "total": 40,
    }
    before = {p["person_id"] for p in (await listing(db, page_size=500))["items"]}
    again = await upload(db, rows)
    assert (again["result"]["added"], again["result"]["kept"], again["result"]["removed"]) == (
        0,
        40,
        0,
    )
    after = {p["person_id"] for p in (await listing(db, page_size=500))["items"]}
    assert before == after
    uploaded = await events(db, "roster.roster.uploaded")
    assert [e["added"] for e in uploaded] == [40, 0]
    assert "Leerling" not in str(uploaded)  # counts only (R-AVG-2)
    assert await events(db, "roster.person.removed") == []
    # The new people's ids (only the first upload had any), for the dossier's checks.
    (added,) = await events(db, "roster.people.added")
    assert set(added["person_ids"]) == before
    assert added["upload_id"] == first["result"]["upload_id"] == uploaded[0]["upload_id"]
    assert added["school_id"] == str(SCHOOL_A) and added["kind"] == "students"
    assert set(added) == {*BASE_EVENT_FIELDS, "upload_id", "kind", "person_ids"}  # ids only


BASE_EVENT_FIELDS = {"id", "occurred_at", "correlation_id", "school_id", "type", "version"}


async def test_an_upload_whose_insert_fails_half_way_stores_nothing_and_can_be_retried(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The upload operation (a command: its own transaction with the exactly-once guard) when
    a row of a later INSERT is refused: an internal error, nothing of it stored or announced,
    no answer recorded, and the same request again succeeds."""
    from ck_roster import store

    other = await upload(db, [student(i) for i in range(3)], school=SCHOOL_B)
    assert other["ok"], other
    async with db.read() as session:
        taken = (await session.execute(select(people.c.id))).scalars().first()
    monkeypatch.setattr(store, "INSERT_BATCH", 4)
    monkeypatch.setattr(store, "SQLITE_ROWS_PER_INSERT", 2)
    new_ids = store._new_ids

    def colliding(count: int, now: Any, processor: Any) -> list[Any]:
        ids = new_ids(count, now, processor)
        return [*ids[:5], processor(taken) if processor else taken, *ids[6:]]

    monkeypatch.setattr(store, "_new_ids", colliding)
    payload = {
        "school_id": str(SCHOOL_A),
        "kind": "students",
        "filename": "leerlingen.xlsx",
        "content_b64": xlsx([student(i) for i in range(10, 19)]),
        "confirmed": True,
    }
    request = RpcRequest(op=Ops.UPLOAD.name, actor=actor(SCHOOL_A), payload=payload)
    settings = get_settings(max_upload_bytes=1_000_000)
    failed = await router.dispatch(request, db, settings)
    assert not failed["ok"] and failed["error"]["code"] == "internal", failed
    assert await people_count(db) == 3
    assert [e["added"] for e in await events(db, "roster.roster.uploaded")] == [3]
    monkeypatch.setattr(store, "_new_ids", new_ids)
    again = await router.dispatch(request, db, settings)
    assert again["ok"] and again["result"]["added"] == 9, again
    assert await people_count(db) == 12


async def test_an_upload_announces_its_new_people_in_chunks_of_1000(db: Database) -> None:
    rows = [student(i, email=False) for i in range(2500)]
    reply = await upload(db, rows)
    assert reply["ok"], reply
    chunks = await events(db, "roster.people.added")
    assert [len(e["person_ids"]) for e in chunks] == [1000, 1000, 500]
    announced = [pid for e in chunks for pid in e["person_ids"]]
    stored = {p["person_id"] for p in (await listing(db, page_size=500))["items"]}
    assert len(set(announced)) == 2500 and stored <= set(announced)
    async with db.read() as session:  # RosterUploaded after its chunks, in one transaction
        keys = (await session.execute(select(outbox.c.routing_key).order_by(outbox.c.seq))).all()
    assert [k for (k,) in keys][-4:] == [*["roster.people.added"] * 3, "roster.roster.uploaded"]


async def test_reupload_with_changes_keeps_matched_and_removes_the_rest(db: Database) -> None:
    rows = [student(i) for i in range(20)]
    assert (await upload(db, rows))["ok"]
    page = await listing(db, page_size=500)
    by_email = {p["email"]: p["person_id"] for p in page["items"]}
    changed = [
        student(0, klas="9z"),  # same e-mail, other klas: kept, updated
        *[student(i) for i in range(1, 18)],  # 18, 19 left out: removed
        student(100),  # new
    ]
    reply = await upload(db, changed)
    assert reply["ok"], reply
    assert (reply["result"]["added"], reply["result"]["kept"], reply["result"]["removed"]) == (
        1,
        18,
        2,
    )
    page = await listing(db, page_size=500)
    now = {p["email"]: p for p in page["items"]}
    assert now["leerling0@school.nl"]["person_id"] == by_email["leerling0@school.nl"]
    assert now["leerling0@school.nl"]["klas"] == "9z"
    assert "leerling19@school.nl" not in now
    removed = await events(db, "roster.person.removed")
    assert {e["person_id"] for e in removed} == {
        by_email["leerling18@school.nl"],
        by_email["leerling19@school.nl"],
    }
    assert all(set(e) >= {"person_id", "kind"} and "email" not in e for e in removed)
    added = await events(db, "roster.people.added")
    assert added[-1]["person_ids"] == [now["leerling100@school.nl"]["person_id"]]
    async with db.read() as session:  # personal data deleted, not hidden (R-AVG-2)
        gone = select(func.count()).where(people.c.email_lower == "leerling19@school.nl")
        assert (await session.execute(gone)).scalar_one() == 0


async def test_invalid_file_is_never_applied(db: Database) -> None:
    assert (await upload(db, [student(i) for i in range(5)]))["ok"]
    bad = [student(i) for i in range(5, 10)] + [student(11, studiejaar=9, email="geen-adres")]
    reply = await upload(db, bad)
    assert reply["error"]["code"] == "invalid"
    assert reply["error"]["reason"] == "roster.file.has_errors", reply
    assert any(k.startswith("rij 8") for k in reply["error"]["field_errors"]), reply  # 2 = hints
    emails = {p["email"] for p in (await listing(db))["items"]}
    assert emails == {f"leerling{i}@school.nl" for i in range(5)}
    assert len(await events(db, "roster.roster.uploaded")) == 1


async def test_upload_needs_confirmation_and_a_readable_file(db: Database) -> None:
    reply = await upload(db, [student(1)], confirmed=False)
    assert reply["error"]["code"] == "invalid"
    assert reply["error"]["reason"] == "roster.upload.confirm_students"
    not_b64 = await upload(db, [student(1)], content_b64="***")
    assert not_b64["error"]["code"] == "invalid"
    assert await people_count(db) == 0


async def test_validate_reports_without_storing(db: Database) -> None:
    payload = {
        "school_id": str(SCHOOL_A),
        "kind": "students",
        "filename": "x.xlsx",
        "content_b64": xlsx([student(1), student(2)]),
    }
    reply = await call(db, Ops.VALIDATE, payload)
    assert reply["ok"] and reply["result"]["ok"] and reply["result"]["count"] == 2
    assert await people_count(db) == 0


async def test_template_is_a_spreadsheet(db: Database) -> None:
    reply = await call(db, Ops.TEMPLATE, {"kind": "teachers"}, actor(role="docent_plus"))
    assert reply["result"]["filename"] == "template_docenten.xlsx"
    assert base64.b64decode(reply["result"]["content_b64"])[:2] == b"PK"


# --- hand edits -----------------------------------------------------------------------------------
async def test_check_person_reports_every_problem_and_stores_nothing(db: Database) -> None:
    """Issue 14: the add form's text as typed; every rule of ADD_PERSON at once."""
    typed = {
        "voornaam": "Anna",
        "achternaam": "",
        "email": "anna-at-school",
        "mobiel": "0612345678",
        "locatienaam": "Haarlem",
        "studiejaar": "twee",
        "opleiding": "ICT",
    }
    check = {"school_id": str(SCHOOL_A), "kind": "students", "fields": typed}
    reply = await call(db, Ops.CHECK_PERSON, check)
    assert reply["ok"], reply
    found = {path: e["reason"] for path, e in reply["result"]["fields"].items()}
    assert set(found) == {
        "fields.achternaam",
        "fields.email",
        "fields.mobiel",
        "fields.studiejaar",
    }, found
    assert found["fields.mobiel"] == "roster.cell.mobiel_06"
    fine = {**typed, "achternaam": "de Vries", "email": "anna@school.nl", "mobiel": ""}
    ok = await call(db, Ops.CHECK_PERSON, {**check, "fields": {**fine, "studiejaar": "2"}})
    assert ok["result"]["fields"] == {}
    assert await people_count(db) == 0
    other = await call(db, Ops.CHECK_PERSON, {**check, "school_id": str(uuid.uuid4())})
    assert other["error"]["code"] == "forbidden"


async def test_add_and_remove_by_hand(db: Database) -> None:
    fields = {
        "voornaam": " Anna ",
        "achternaam": "de Vries",
        "email": "Anna@School.nl",
        "locatienaam": "Haarlem",
        "studiejaar": 2,
        "opleiding": "ICT",
    }
    add = {"school_id": str(SCHOOL_A), "kind": "students", "fields": fields}
    reply = await call(db, Ops.ADD_PERSON, add)
    assert reply["ok"], reply
    person_id = reply["result"]["person_id"]
    assert reply["result"]["voornaam"] == "Anna" and reply["result"]["status"] == "nieuw"
    again = await call(db, Ops.ADD_PERSON, {**add, "fields": {**fields, "email": "anna@SCHOOL.nl"}})
    assert again["error"]["code"] == "conflict"
    bad = await call(db, Ops.ADD_PERSON, {**add, "fields": {**fields, "studiejaar": 7}})
    assert bad["error"]["code"] == "invalid" and "fields.studiejaar" in bad["error"]["field_errors"]
    added = await events(db, "roster.person.added")
    assert [e["person_id"] for e in added] == [person_id] and added[0]["has_email"] is True
    assert "Anna" not in str(added)

    remove = {"school_id": str(SCHOOL_A), "person_id": person_id}
    # From the teachers' list a student matches nothing, and nothing is removed.
    wrong_list = await call(db, Ops.REMOVE_PERSON, {**remove, "kind": "teachers"})
    assert wrong_list["error"]["code"] == "not_found"
    assert await people_count(db) == 1
    assert (await call(db, Ops.REMOVE_PERSON, {**remove, "kind": "students"}))["ok"]
    assert (await call(db, Ops.REMOVE_PERSON, remove))["error"]["code"] == "not_found"
    assert [e["person_id"] for e in await events(db, "roster.person.removed")] == [person_id]
    assert await people_count(db) == 0
    assert await events(db, "roster.teacher.removed") == []  # a student's name never travels


async def test_a_removed_teacher_is_announced_with_name_and_address(db: Database) -> None:
    """TeacherRemoved: the weborders service erases the teacher's copies (R-AVG-2)."""
    teachers = [
        ("Dirk", "Docent", "dirk@school.nl", "", "Haarlem", "Media"),
        ("Tineke", "Trouw", "tineke@school.nl", "", "Haarlem", "Zorg"),
    ]
    payload = {
        "school_id": str(SCHOOL_A),
        "kind": "teachers",
        "filename": "docenten.xlsx",
        "content_b64": base64.b64encode(teacher_xlsx(teachers)).decode(),
        "confirmed": True,
    }
    assert (await call(db, Ops.UPLOAD, payload))["ok"]
    again = {**payload, "content_b64": base64.b64encode(teacher_xlsx(teachers[1:])).decode()}
    assert (await call(db, Ops.UPLOAD, again))["ok"]  # Dirk leaves with the upload
    (dirk,) = await events(db, "roster.teacher.removed")
    assert (dirk["voornaam"], dirk["achternaam"], dirk["email"]) == (
        "Dirk",
        "Docent",
        "dirk@school.nl",
    )
    (removed,) = await events(db, "roster.person.removed")
    assert removed["person_id"] == dirk["person_id"] and dirk["school_id"] == str(SCHOOL_A)

    listed = await call(
        db, Ops.LIST, {"school_id": str(SCHOOL_A), "kind": "teachers"}, actor(SCHOOL_A)
    )
    (tineke,) = listed["result"]["items"]
    remove = {"school_id": str(SCHOOL_A), "person_id": tineke["person_id"]}
    assert (await call(db, Ops.REMOVE_PERSON, remove))["ok"]  # Tineke is removed by hand
    by_hand = (await events(db, "roster.teacher.removed"))[-1]
    assert (by_hand["person_id"], by_hand["email"]) == (tineke["person_id"], "tineke@school.nl")


# --- tenant isolation (R-ROLE-6) ------------------------------------------------------------------
async def test_school_a_can_never_read_or_change_school_b(db: Database) -> None:
    assert (await upload(db, [student(1)], school=SCHOOL_B))["ok"]
    b_person = (await listing(db, school=SCHOOL_B))["items"][0]["person_id"]
    a = actor(SCHOOL_A)
    attempts = [
        (Ops.LIST, {"school_id": str(SCHOOL_B), "kind": "students"}),
        (
            Ops.UPLOAD,
            {
                "school_id": str(SCHOOL_B),
                "kind": "students",
                "filename": "x.xlsx",
                "content_b64": xlsx([student(2)]),
                "confirmed": True,
            },
        ),
        (
            Ops.VALIDATE,
            {
                "school_id": str(SCHOOL_B),
                "kind": "students",
                "filename": "x.xlsx",
                "content_b64": xlsx([student(2)]),
            },
        ),
        (
            Ops.ADD_PERSON,
            {
                "school_id": str(SCHOOL_B),
                "kind": "students",
                "fields": {
                    "voornaam": "X",
                    "achternaam": "Y",
                    "locatienaam": "Z",
                    "studiejaar": 1,
                    "opleiding": "O",
                },
            },
        ),
        (Ops.REMOVE_PERSON, {"school_id": str(SCHOOL_B), "person_id": b_person}),
    ]
    for op, payload in attempts:
        assert (await call(db, op, payload, a))["error"]["code"] == "forbidden", op
    # Naming school B's person under school A's id finds nothing either.
    wrong = await call(
        db, Ops.REMOVE_PERSON, {"school_id": str(SCHOOL_A), "person_id": b_person}, a
    )
    assert wrong["error"]["code"] == "not_found"
    assert (await listing(db, school=SCHOOL_B))["total"] == 1


async def test_docent_plus_may_view_but_not_upload_and_unknown_school_is_refused(
    db: Database,
) -> None:
    docent = actor(role="docent_plus")
    view = await call(db, Ops.LIST, {"school_id": str(SCHOOL_A), "kind": "students"}, docent)
    assert view["ok"]
    up = {
        "school_id": str(SCHOOL_A),
        "kind": "students",
        "filename": "x.xlsx",
        "content_b64": xlsx([student(1)]),
        "confirmed": True,
    }
    assert (await call(db, Ops.UPLOAD, up, docent))["error"]["code"] == "forbidden"
    ghost = uuid.uuid4()
    reply = await call(db, Ops.LIST, {"school_id": str(ghost), "kind": "students"}, actor(ghost))
    assert reply["error"]["code"] == "not_found"
