"""The name key of R-ROSTER-4 is not stored: a re-upload makes it from the stored shadows
(store.load_existing). It must be the key name_key gives the person's own fields, for any
text, on SQLite and PostgreSQL, or a re-upload would no longer recognise people by name."""

from __future__ import annotations

import uuid

import pytest
from ck_contracts.roster import PersonFields, RosterKind
from ck_roster import store
from ck_roster.domain.matching import name_key
from ck_roster.tables import known_schools, people
from ck_runtime.db import Database
from ck_runtime.migrations import upgrade_async
from ck_testkit import clocks
from sqlalchemy import select

SCHOOL = uuid.uuid4()
# Upper and lower case beyond ASCII, a lower() that grows (İ), ß, inner spaces, digits.
NAMES = ["ÉMILE", "İlse", "Straße", "van der Berg", "Ærø", "ΣΊΣΥΦΟΣ", "o'Brien", "Jan-Piet 2"]


def students() -> list[PersonFields]:
    return [
        PersonFields(
            voornaam=NAMES[i % len(NAMES)],
            achternaam=NAMES[(i * 3) % len(NAMES)],
            email=f"p{i}@school.nl" if i % 2 else "",
            locatienaam=NAMES[(i * 5) % len(NAMES)],
            studiejaar=1 + i % 4,
            opleiding=NAMES[(i * 7) % len(NAMES)] + " Zorg",
            klas=f"K{i}",
            brin="25LG",
        )
        for i in range(24)
    ]


@pytest.fixture
async def db(database_url: str):  # type: ignore[no-untyped-def]
    await upgrade_async("roster", database_url)
    database = Database(database_url)
    async with database.transaction() as session:
        await session.execute(
            known_schools.insert().values(
                school_id=SCHOOL, school_number=7, updated_at=clocks.now()
            )
        )
    yield database
    await database.dispose()


@pytest.mark.parametrize("kind", [RosterKind.STUDENTS, RosterKind.TEACHERS])
async def test_the_keys_made_from_the_shadows_are_the_fields_own(
    db: Database, kind: RosterKind
) -> None:
    rows = students()
    if kind == RosterKind.TEACHERS:  # no studiejaar, no opleiding
        rows = [r.model_copy(update={"studiejaar": None, "opleiding": ""}) for r in rows]
    async with db.transaction() as session:
        await store.replace_roster(session, SCHOOL, kind, rows, clocks.now())
    async with db.read() as session:
        existing = await store.load_existing(session, SCHOOL, kind, all_keys=True)
        stored = (
            await session.execute(
                select(people.c.id, people.c.voornaam).where(
                    people.c.school_id == SCHOOL, people.c.kind == kind.value
                )
            )
        ).all()
    assert "match_key" not in people.c
    by_id = {store.as_uuid(e.id): e.match_key for e in existing}
    assert len(by_id) == len(rows) == len(stored)
    expected = sorted(name_key(r) for r in rows)
    assert sorted(by_id.values()) == expected
    assert len(set(expected)) > 4  # the names differ: a constant key would not pass


async def test_a_re_upload_recognises_people_by_name_alone(db: Database) -> None:
    rows = [r.model_copy(update={"email": ""}) for r in students()[:8]]
    async with db.transaction() as session:
        await store.replace_roster(session, SCHOOL, RosterKind.STUDENTS, rows, clocks.now())
    again = [r.model_copy(update={"klas": "NEW"}) for r in rows]
    async with db.transaction() as session:
        plan = await store.replace_roster(session, SCHOOL, RosterKind.STUDENTS, again, clocks.now())
    assert (len(plan.added), len(plan.kept), len(plan.removed)) == (0, 8, 0)
    assert len(plan.changed) == 8  # the klas changed: updated in place, same people


async def test_without_all_keys_only_the_people_without_an_address_have_theirs(
    db: Database,
) -> None:
    rows = students()  # every second one has an address
    async with db.transaction() as session:
        await store.replace_roster(session, SCHOOL, RosterKind.STUDENTS, rows, clocks.now())
    async with db.read() as session:
        existing = await store.load_existing(session, SCHOOL, RosterKind.STUDENTS)
    assert sorted(e.match_key for e in existing if not e.email_lower) == sorted(
        name_key(r) for r in rows if not r.email
    )
    assert all(e.match_key is None for e in existing if e.email_lower)


@pytest.mark.parametrize("file_has", ["all_addresses", "few_addresses"])
async def test_the_plan_gets_the_keys_it_asks_for(db: Database, file_has: str) -> None:
    """A re-upload whose addressed people are left out of the file: few, their keys are read
    by id; many, the roster is read again. Either way a person the file names without an
    address (and with a new klas) is found by name, not added."""
    rows = students()
    async with db.transaction() as session:
        await store.replace_roster(session, SCHOOL, RosterKind.STUDENTS, rows, clocks.now())
    addressed = [r for r in rows if r.email]
    again = addressed[:10] if file_has == "all_addresses" else addressed[:1]
    renamed = addressed[-1].model_copy(update={"email": "", "klas": "NEW"})  # by name only
    async with db.transaction() as session:
        plan = await store.plan_roster(session, SCHOOL, RosterKind.STUDENTS, [*again, renamed])
    assert len(plan.added) == 0
    assert len(plan.kept) == len(again) + 1
    assert len(plan.removed) == len(rows) - len(again) - 1
    assert [row.klas for _, row in plan.changed] == ["NEW"]
