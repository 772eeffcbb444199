"""Input bounded at the roster service's door and people stored before the rules (issue 10,
capability 7): a person by hand is refused like the gateway refuses it, the export never fails
on a stored row, and the cleaning migration repairs old rows with their shadows and keys.
SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import io
import uuid
from typing import Any

import pytest
from ck_contracts.operations import Operation
from ck_contracts.roster import Ops, PersonFields, RosterKind, RosterReason
from ck_contracts.rpc import RpcRequest
from ck_roster import store
from ck_roster.app import get_settings
from ck_roster.domain import Problem, matching, rules
from ck_roster.domain.validation import validate
from ck_roster.ops import router
from ck_roster.tables import known_schools, people
from ck_runtime.db import Database
from ck_runtime.migrations import upgrade_async
from ck_testkit import clocks, rosters, run_migration
from openpyxl import load_workbook
from sqlalchemy import select, update

SCHOOL = uuid.uuid4()
CLEANING = "37829c0fbc8b"  # migrations/versions/37829c0fbc8b_clean_stored_text_...


@pytest.fixture
async def db(database_url: str):  # type: ignore[no-untyped-def]
    await upgrade_async("roster", database_url)
    database = Database(database_url)
    async with database.transaction() as session:
        await session.execute(
            known_schools.insert().values(
                school_id=SCHOOL, school_number=10289, updated_at=clocks.now()
            )
        )
    yield database
    await database.dispose()


def actor() -> dict[str, Any]:
    return {"user_id": str(uuid.uuid4()), "role": "budgethouder", "school_id": str(SCHOOL)}


async def call(db: Database, op: Operation[Any, Any], payload: dict[str, Any]) -> dict[str, Any]:
    return await router.dispatch(
        RpcRequest(op=op.name, actor=actor(), payload=payload), db, get_settings()
    )


def student(**changes: Any) -> dict[str, Any]:
    return {
        "voornaam": "Sanne",
        "achternaam": "de Boer",
        "locatienaam": "Haarlem",
        "studiejaar": 2,
        "opleiding": "ICT",
        **changes,
    }


async def test_a_person_by_hand_is_held_to_the_contract(db: Database) -> None:
    add = {"school_id": str(SCHOOL), "kind": "students"}
    reply = await call(db, Ops.ADD_PERSON, {**add, "fields": student(voornaam="x" * 300_000)})
    assert reply["error"]["field_errors"] == {
        "fields.voornaam": {"reason": "field.too_long", "params": {"max_length": 200}}
    }
    reply = await call(db, Ops.ADD_PERSON, {**add, "fields": student(klas="2\x0bA")})
    assert reply["error"]["field_errors"]["fields.klas"]["reason"] == "field.control_characters"
    reply = await call(db, Ops.ADD_PERSON, {**add, "fields": student(studiejaar=10**30)})
    assert "fields.studiejaar" in reply["error"]["field_errors"]
    reply = await call(
        db, Ops.LIST, {**add, "page": 27090769733286449102454784, "filter": {"klas": "x" * 101}}
    )
    assert set(reply["error"]["field_errors"]) == {"page", "filter.klas"}
    done = await call(db, Ops.ADD_PERSON, {**add, "fields": student(voornaam=" Sanne\t")})
    assert done["ok"] and done["result"]["voornaam"] == "Sanne"


async def _stored(db: Database, **dirty: Any) -> uuid.UUID:
    """A person stored the normal way, then overwritten past the boundary (as before the
    rules)."""
    async with db.transaction() as session:
        await store.replace_roster(
            session, SCHOOL, RosterKind.STUDENTS, [PersonFields(**student())], clocks.now()
        )
        person_id = (await session.execute(select(people.c.id))).scalar_one()
        await session.execute(update(people).where(people.c.id == person_id).values(**dirty))
    return person_id


async def test_the_export_works_with_a_person_stored_before_the_rules(db: Database) -> None:
    await _stored(db, voornaam="San\x0bne", achternaam="=de\x01Boer", klas="2A\u202e")
    reply = await call(db, Ops.EXPORT, {"school_id": str(SCHOOL), "kind": "students"})
    assert reply["ok"], reply
    book = load_workbook(io.BytesIO(base64.b64decode(reply["result"]["content_b64"])))
    row = [c.value for c in next(book.active.iter_rows(min_row=2))]  # type: ignore[union-attr]
    assert row[:2] == ["Sanne", "'=deBoer"]
    assert "2A" in row


async def test_the_cleaning_migration_repairs_people_and_their_keys(db: Database) -> None:
    person_id = await _stored(
        db,
        voornaam="  San\x0bne\u202e ",
        achternaam="de\tBoer" + "x" * 300_000,
        opleiding="I\x1fCT",
        voornaam_lower="stale",
        match_key="stale",
        digest="stale",
    )
    await run_migration(db.url, "roster", CLEANING)
    async with db.read() as session:
        row = (await session.execute(select(people).where(people.c.id == person_id))).one()
    assert row.voornaam == "Sanne"
    assert row.achternaam == ("de Boer" + "x" * 300_000)[:200]
    assert row.opleiding == "ICT"
    fields = PersonFields.model_validate(
        {name: getattr(row, name) for name in PersonFields.model_fields}
    )
    assert row.voornaam_lower == "sanne"
    assert row.match_key == matching.name_key(fields)
    assert row.digest == matching.digest(fields)
    # The list reads the repaired person as the contract has it.
    listed = await call(db, Ops.LIST, {"school_id": str(SCHOOL), "kind": "students"})
    assert listed["result"]["items"][0]["voornaam"] == "Sanne"


def test_a_roster_file_is_held_to_the_same_bounds_cell_by_cell() -> None:
    good = ("Anna", "de Vries", "", "", "Zwolle", 2, "Zorg", "2A", "25LP")
    rows = [
        good,
        ("x" * 300_000, *good[1:]),
        ("Piet\x0bje", *good[1:]),
        (*good[:7], "2\u202eA", good[8]),
        ("Jan\tPiet", "de\r\nVries", *good[2:]),
    ]
    result = validate(RosterKind.STUDENTS, "leerlingen.xlsx", rosters.student_xlsx(rows))
    found = {
        (e.row, e.column): Problem(RosterReason(e.reason), e.params) for e in result.report.errors
    }
    assert found == {
        (4, "voornaam"): rules.too_long(200, 300_000),
        (5, "voornaam"): rules.control_character(5),
        (6, "klas"): rules.control_character(2),
    }
    # Without the bad rows the file is green, and pasted tabs and line breaks became spaces.
    result = validate(RosterKind.STUDENTS, "x.xlsx", rosters.student_xlsx([rows[0], rows[4]]))
    assert result.report.ok, result.report.errors
    assert (result.people[1].voornaam, result.people[1].achternaam) == ("Jan Piet", "de Vries")
