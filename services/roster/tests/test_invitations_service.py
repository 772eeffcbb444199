"""Invitations (R-MEMBER-2), the Excel export (R-MEMBER-3, R-WEB-5's neutralising) and one person,
through the router against real databases (SQLite and PostgreSQL)."""

from __future__ import annotations

import base64
import io
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from ck_contracts.membership import MAX_PEOPLE_PER_EVENT
from ck_contracts.operations import Operation
from ck_contracts.roster import MembershipStatus, Ops, PersonFields, RosterKind
from ck_contracts.rpc import RpcRequest
from ck_roster import store
from ck_roster.app import get_settings
from ck_roster.export import export_filename
from ck_roster.ops import router
from ck_roster.tables import known_schools, outbox, people
from ck_runtime.db import Database
from ck_runtime.migrations import upgrade_async
from ck_runtime.spreadsheets import neutralise
from ck_testkit import clocks
from openpyxl import load_workbook
from sqlalchemy import select, update

SCHOOL_A = uuid.uuid4()
SCHOOL_B = uuid.uuid4()
NUMBERS = {SCHOOL_A: 10289, SCHOOL_B: 10290}
REQUESTED = "roster.invitations.requested"


def actor(school: uuid.UUID = SCHOOL_A, role: str = "budgethouder") -> dict[str, Any]:
    return {"user_id": str(uuid.uuid4()), "role": role, "school_id": str(school)}


@pytest.fixture
async def db(database_url: str):  # type: ignore[no-untyped-def]
    await upgrade_async("roster", database_url)
    database = Database(database_url)
    async with database.transaction() as session:
        for school, number in NUMBERS.items():
            await session.execute(
                known_schools.insert().values(
                    school_id=school, school_number=number, updated_at=clocks.now()
                )
            )
    yield database
    await database.dispose()


def student(i: int, *, email: bool = True, **changes: Any) -> PersonFields:
    values: dict[str, Any] = {
        "voornaam": f"Leerling {i}",
        "achternaam": f"achternaam{i:05d}",
        "email": f"leerling{i}@school.nl" if email else "",
        "mobiel": "+31612345678" if i % 2 else "",
        "locatienaam": "Haarlem",
        "studiejaar": 1 + i % 4,
        "opleiding": "Verzorging" if i % 3 else "ICT",
        "klas": f"{1 + i % 4}a",
        "brin": "25LG",
    }
    values.update(changes)
    return PersonFields(**values)


def teacher(i: int) -> PersonFields:
    return PersonFields(
        voornaam=f"Docent {i}",
        achternaam=f"docent{i}",
        email=f"docent{i}@school.nl",
        locatienaam="Haarlem",
        afdeling="Zorg",
    )


async def fill(
    db: Database,
    rows: list[PersonFields],
    school: uuid.UUID = SCHOOL_A,
    kind: RosterKind = RosterKind.STUDENTS,
) -> dict[str, uuid.UUID]:
    """The roster stored directly; person ids by voornaam."""
    async with db.transaction() as session:
        await store.replace_roster(session, school, kind, rows, clocks.now())
    async with db.read() as session:
        query = select(people.c.voornaam, people.c.id).where(
            people.c.school_id == school, people.c.kind == kind.value
        )
        return {r.voornaam: r.id for r in (await session.execute(query)).all()}


async def set_status(db: Database, ids: list[uuid.UUID], status: MembershipStatus) -> None:
    async with db.transaction() as session:
        await session.execute(
            update(people).where(people.c.id.in_(ids)).values(status=status.value)
        )


async def call(
    db: Database,
    op: Operation[Any, Any],
    payload: dict[str, Any],
    who: dict[str, Any] | None = None,
) -> dict[str, Any]:
    request = RpcRequest(op=op.name, actor=who or actor(), payload=payload)
    return await router.dispatch(request, db, get_settings())


def invite_payload(
    selection: dict[str, Any], school: uuid.UUID = SCHOOL_A, kind: str = "students"
) -> dict[str, Any]:
    return {
        "school_id": str(school),
        "kind": kind,
        "selection": selection,
        "school_name": "Nova College",
    }


async def requested_events(db: Database) -> list[dict[str, Any]]:
    async with db.read() as session:
        query = select(outbox.c.body).where(outbox.c.routing_key == REQUESTED)
        return [r.body for r in (await session.execute(query.order_by(outbox.c.seq))).all()]


def invited_ids(events: list[dict[str, Any]]) -> set[str]:
    return {p["person_id"] for e in events for p in e["people"]}


# --- invite -------------------------------------------------------------------------------------
async def test_invite_all_skips_active_members_and_carries_what_the_mail_needs(
    db: Database,
) -> None:
    ids = await fill(db, [student(i, email=i % 4 != 0) for i in range(12)])
    active = [ids["Leerling 1"], ids["Leerling 2"]]
    await set_status(db, active, MembershipStatus.ACTIVE)
    await set_status(db, [ids["Leerling 3"]], MembershipStatus.INVITED)  # resend allowed

    reply = await call(db, Ops.INVITE, invite_payload({"all": True}))
    assert reply["ok"], reply
    assert reply["result"]["requested"] == 10
    assert reply["result"]["skipped_active"] == 2

    (event,) = await requested_events(db)
    assert event["school_id"] == str(SCHOOL_A)
    assert event["school_number"] == 10289
    assert event["school_name"] == "Nova College"
    assert event["kind"] == "students"
    assert event["request_id"] == reply["result"]["request_id"]
    by_id = {p["person_id"]: p for p in event["people"]}
    assert set(by_id) == {str(v) for k, v in ids.items()} - {str(a) for a in active}
    assert by_id[str(ids["Leerling 5"])] == {
        "person_id": str(ids["Leerling 5"]),
        "email": "leerling5@school.nl",
        "voornaam": "Leerling 5",
    }
    assert by_id[str(ids["Leerling 4"])]["email"] == ""  # no e-mail: a code only (R-MEMBER-3)
    # The status changes when the membership service reports InvitationsSent, not before.
    async with db.read() as session:
        statuses = set((await session.execute(select(people.c.status))).scalars())
    assert statuses == {"nieuw", "actief", "uitnodiging_verzonden"}


async def test_invite_ticked_people_and_by_filter(db: Database) -> None:
    ids = await fill(db, [student(i) for i in range(10)])
    ticked = [ids["Leerling 1"], ids["Leerling 7"], uuid.uuid4()]  # an unknown id is ignored
    reply = await call(db, Ops.INVITE, invite_payload({"person_ids": [str(i) for i in ticked]}))
    assert reply["result"]["requested"] == 2
    assert invited_ids(await requested_events(db)) == {
        str(ids["Leerling 1"]),
        str(ids["Leerling 7"]),
    }

    # Everyone matching the filter, however many pages: opleiding ICT is i % 3 == 0.
    filt = {"opleiding": "ict", "statuses": ["nieuw"]}
    reply = await call(db, Ops.INVITE, invite_payload({"filter": filt}))
    assert reply["result"] | {"request_id": None} == {
        "request_id": None,
        "requested": 4,
        "skipped_active": 0,
    }
    events = await requested_events(db)
    assert invited_ids(events[-1:]) == {str(ids[f"Leerling {i}"]) for i in (0, 3, 6, 9)}


async def test_invite_needs_exactly_one_way_of_selecting(db: Database) -> None:
    await fill(db, [student(1)])
    for selection in (
        {},
        {"all": True, "person_ids": [str(uuid.uuid4())]},
        {"all": True, "filter": {}},
    ):
        reply = await call(db, Ops.INVITE, invite_payload(selection))
        assert reply["error"]["code"] == "invalid", selection
        assert "selection" in reply["error"]["field_errors"]
    assert await requested_events(db) == []


async def test_invite_in_chunks_of_at_most_500(db: Database) -> None:
    await fill(db, [student(i) for i in range(1203)])
    reply = await call(db, Ops.INVITE, invite_payload({"all": True}))
    assert reply["result"]["requested"] == 1203
    events = await requested_events(db)
    assert [len(e["people"]) for e in events] == [MAX_PEOPLE_PER_EVENT, MAX_PEOPLE_PER_EVENT, 203]
    assert len(invited_ids(events)) == 1203
    assert len({e["request_id"] for e in events}) == 1


async def test_nothing_to_invite_puts_nothing_in_the_outbox(db: Database) -> None:
    ids = await fill(db, [student(1), student(2)])
    await set_status(db, list(ids.values()), MembershipStatus.ACTIVE)
    reply = await call(db, Ops.INVITE, invite_payload({"all": True}))
    assert (reply["result"]["requested"], reply["result"]["skipped_active"]) == (0, 2)
    assert await requested_events(db) == []


async def test_docent_plus_invites_students_but_not_teachers(db: Database) -> None:
    await fill(db, [student(1)])
    await fill(db, [teacher(1)], kind=RosterKind.TEACHERS)
    docent = actor(role="docent_plus")
    ok = await call(db, Ops.INVITE, invite_payload({"all": True}), docent)
    assert ok["ok"] and ok["result"]["requested"] == 1
    refused = await call(db, Ops.INVITE, invite_payload({"all": True}, kind="teachers"), docent)
    assert refused["error"]["code"] == "forbidden"
    export = {"school_id": str(SCHOOL_A), "kind": "teachers"}
    assert (await call(db, Ops.EXPORT, export, docent))["error"]["code"] == "forbidden"
    # The budget holder invites teachers; a CJP admin may look but not invite.
    holder = await call(db, Ops.INVITE, invite_payload({"all": True}, kind="teachers"))
    assert holder["result"]["requested"] == 1
    admin = {"user_id": str(uuid.uuid4()), "role": "cjp_admin"}
    assert (await call(db, Ops.INVITE, invite_payload({"all": True}), admin))["error"][
        "code"
    ] == "forbidden"


async def test_school_a_cannot_invite_export_or_read_school_b(db: Database) -> None:
    ids_b = await fill(db, [student(i) for i in range(3)], school=SCHOOL_B)
    a = actor(SCHOOL_A)
    for op, payload in (
        (Ops.INVITE, invite_payload({"all": True}, school=SCHOOL_B)),
        (Ops.EXPORT, {"school_id": str(SCHOOL_B), "kind": "students"}),
        (Ops.PERSON_GET, {"school_id": str(SCHOOL_B), "person_id": str(ids_b["Leerling 1"])}),
    ):
        assert (await call(db, op, payload, a))["error"]["code"] == "forbidden", op
    # B's people named in A's request are simply not A's people: nobody is invited.
    own = invite_payload({"person_ids": [str(i) for i in ids_b.values()]})
    assert (await call(db, Ops.INVITE, own, a))["result"]["requested"] == 0
    person = {"school_id": str(SCHOOL_A), "person_id": str(ids_b["Leerling 1"])}
    assert (await call(db, Ops.PERSON_GET, person, a))["error"]["code"] == "not_found"
    assert await requested_events(db) == []


async def test_unknown_school_is_refused(db: Database) -> None:
    other = uuid.uuid4()
    reply = await call(db, Ops.INVITE, invite_payload({"all": True}, school=other), actor(other))
    assert reply["error"]["code"] == "not_found"


# --- one person -----------------------------------------------------------------------------------
async def test_person_get(db: Database) -> None:
    ids = await fill(db, [student(1)])
    payload = {"school_id": str(SCHOOL_A), "person_id": str(ids["Leerling 1"])}
    reply = await call(db, Ops.PERSON_GET, payload, actor(role="docent_plus"))
    assert reply["ok"], reply
    assert reply["result"]["voornaam"] == "Leerling 1"
    assert reply["result"]["status"] == "nieuw"
    missing = {"school_id": str(SCHOOL_A), "person_id": str(uuid.uuid4())}
    assert (await call(db, Ops.PERSON_GET, missing))["error"]["code"] == "not_found"


# --- export excel ---------------------------------------------------------------------------------
def sheet_rows(reply: dict[str, Any]) -> list[tuple[Any, ...]]:
    content = base64.b64decode(reply["result"]["content_b64"])
    book = load_workbook(io.BytesIO(content), read_only=True)
    sheet = book.active
    assert sheet is not None
    return [tuple(row) for row in sheet.iter_rows(values_only=True)]


async def test_export_has_the_list_status_and_code_with_formulas_neutralised(
    db: Database,
) -> None:
    ids = await fill(
        db,
        [
            student(1, voornaam='=HYPERLINK("http://x")', achternaam="aap"),
            student(2, voornaam="Bert", achternaam="+noot", klas="@mies", email=False),
            student(3, voornaam="Cor", achternaam="-wim", opleiding="ICT"),
        ],
    )
    bert = ids["Bert"]
    async with db.transaction() as session:
        await session.execute(
            update(people)
            .where(people.c.id == bert)
            .values(status="uitnodiging_verzonden", activation_code="K7QX-3MPA-9TZD")
        )
    reply = await call(db, Ops.EXPORT, {"school_id": str(SCHOOL_A), "kind": "students"})
    assert reply["ok"], reply
    assert reply["result"]["filename"].startswith("studenten_10289_")
    rows = sheet_rows(reply)
    assert rows[0] == (
        "Voornaam",
        "Achternaam",
        "E-mail",
        "Mobiel",
        "BRIN",
        "Leerjaar",
        "Klas",
        "Opleiding",
        "Locatie",
        "Status",
        "Activatiecode",
    )
    by_first = {r[0]: r for r in rows[1:]}
    assert set(by_first) == {'\'=HYPERLINK("http://x")', "Bert", "Cor"}
    assert by_first["Bert"][1] == "'+noot"
    assert by_first["Bert"][6] == "'@mies"
    assert by_first["Bert"][5] == 3  # a number, not text
    assert by_first["Bert"][9] == "Uitnodiging verzonden"
    assert by_first["Bert"][10] == "K7QX-3MPA-9TZD"
    assert by_first["Cor"][1] == "'-wim"
    assert by_first["Cor"][3] == "+31612345678"  # a phone number stays as it is
    assert by_first["Cor"][9] == "Nieuw"

    filtered = await call(
        db,
        Ops.EXPORT,
        {"school_id": str(SCHOOL_A), "kind": "students", "filter": {"opleiding": "ict"}},
    )
    assert [r[0] for r in sheet_rows(filtered)[1:]] == ["Cor"]


async def test_teacher_export_columns(db: Database) -> None:
    await fill(db, [teacher(1)], kind=RosterKind.TEACHERS)
    reply = await call(db, Ops.EXPORT, {"school_id": str(SCHOOL_A), "kind": "teachers"})
    rows = sheet_rows(reply)
    assert rows[0][4:] == ("Locatie", "Afdeling", "Status", "Activatiecode")
    assert rows[1][:2] == ("Docent 1", "docent1")
    assert reply["result"]["filename"].startswith("docenten_10289_")


def test_neutralise_and_filename() -> None:
    for text in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"):
        assert neutralise(text) == "'" + text
    assert neutralise("Jan") == "Jan"
    assert neutralise("+31612345678") == "+31612345678"
    assert neutralise("+3161234567890123") == "'+3161234567890123"
    late = datetime(2024, 3, 31, 23, 30, tzinfo=UTC)  # 01:30 on 1 April in Amsterdam
    assert export_filename(RosterKind.STUDENTS, 10289, late) == "studenten_10289_2024-04-01.xlsx"


# --- chunks -------------------------------------------------------------------------------------
async def test_a_large_selection_is_split_into_chunks_of_at_most_500(db: Database) -> None:
    """(How long 50,000 take is measured in bench/bench_invitations.py, not here.)"""
    await fill(db, [student(i, email=i % 10 != 0) for i in range(1_001)])
    reply = await call(db, Ops.INVITE, invite_payload({"all": True}))
    assert reply["result"]["requested"] == 1_001
    events = await requested_events(db)
    assert [len(e["people"]) for e in events] == [500, 500, 1]
    invited = [p["person_id"] for e in events for p in e["people"]]
    assert len(set(invited)) == 1_001
    assert len({e["request_id"] for e in events}) == 1
