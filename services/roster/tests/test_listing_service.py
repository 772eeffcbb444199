"""The roster list (R-ROSTER-6): filters, sorts, paging, on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

import pytest
from ck_contracts.roster import ListFilter, ListRequest, PersonFields, RosterKind
from ck_roster import store
from ck_roster.store import like_pattern, list_people
from ck_roster.tables import known_schools, people
from ck_runtime.db import Database
from ck_runtime.migrations import upgrade_async
from ck_testkit import clocks
from sqlalchemy import update

SCHOOL = uuid.uuid4()
OTHER = uuid.uuid4()
NAMES = ["de Vries", "Bakker", "van Dijk", "bakker", "Jansen", "Visser", "Smit", "Meijer"]


def fields(i: int) -> PersonFields:
    return PersonFields(
        voornaam=f"Naam{i:02d}",
        achternaam=NAMES[i % len(NAMES)],
        email=f"p{i}@School.nl" if i % 4 else "",
        mobiel=f"+316{i:08d}" if i % 3 == 0 else "",
        locatienaam="Haarlem" if i % 2 else "Leiden",
        studiejaar=1 + i % 4,
        opleiding="Zorg_en_welzijn" if i % 5 == 0 else "ICT 100%",
        klas=f"K{i % 3}",
        brin="25LG",
    )


@pytest.fixture
async def db(database_url: str):  # type: ignore[no-untyped-def]
    await upgrade_async("roster", database_url)
    database = Database(database_url)
    now = clocks.now()
    async with database.transaction() as session:
        await session.execute(
            known_schools.insert().values(school_id=SCHOOL, school_number=1, updated_at=now)
        )
        await store.replace_roster(
            session, SCHOOL, RosterKind.STUDENTS, [fields(i) for i in range(40)], now
        )
        await store.replace_roster(session, OTHER, RosterKind.STUDENTS, [fields(99)], now)
        await store.replace_roster(
            session,
            SCHOOL,
            RosterKind.TEACHERS,
            [PersonFields(voornaam="T", achternaam="Bakker", locatienaam="L")],
            now,
        )
        ids = [
            pid
            for (pid,) in (
                await session.execute(
                    people.select()
                    .with_only_columns(people.c.id)
                    .where(people.c.school_id == SCHOOL, people.c.kind == "students")
                    .order_by(people.c.voornaam)
                    .limit(6)
                )
            ).all()
        ]
        await session.execute(
            update(people).where(people.c.id.in_(ids[:3])).values(status="actief")
        )
        await session.execute(
            update(people).where(people.c.id.in_(ids[3:])).values(status="inactief")
        )
    yield database
    await database.dispose()


async def page(db: Database, **request: Any) -> Any:
    return await list_people(db, ListRequest(school_id=SCHOOL, kind=RosterKind.STUDENTS, **request))


async def test_all_of_one_roster_of_one_school(db: Database) -> None:
    result = await page(db, page_size=500)
    assert result.total == 40 and len(result.items) == 40
    assert {p.kind for p in result.items} == {RosterKind.STUDENTS}


async def test_text_filters_are_case_insensitive_substrings(db: Database) -> None:
    bakker = await page(db, filter=ListFilter(achternaam="BAK"), page_size=500)
    assert bakker.total == 10 and {p.achternaam for p in bakker.items} == {"Bakker", "bakker"}
    assert (await page(db, filter=ListFilter(email="school.NL"))).total == 30
    assert (await page(db, filter=ListFilter(mobiel="+3160000000"))).total == 4
    assert (await page(db, filter=ListFilter(klas="k1", locatienaam="haar"))).total == 7
    assert (await page(db, filter=ListFilter(brin="25lg"))).total == 40


async def test_like_wildcards_in_a_filter_are_plain_characters(db: Database) -> None:
    assert like_pattern("a_b%") == "%a\\_b\\%%"
    assert (await page(db, filter=ListFilter(opleiding="g_e"))).total == 8
    assert (await page(db, filter=ListFilter(opleiding="100%"))).total == 32
    assert (await page(db, filter=ListFilter(opleiding="%"))).total == 32


async def test_studiejaar_exact_and_statuses_any_of(db: Database) -> None:
    assert (await page(db, filter=ListFilter(studiejaar=2))).total == 10
    some = await page(db, filter=ListFilter(statuses=["actief", "inactief"]))
    assert some.total == 6
    assert (await page(db, filter=ListFilter(statuses=["nieuw"]))).total == 34


@pytest.mark.parametrize(
    "sort",
    [
        "achternaam",
        "voornaam",
        "email",
        "mobiel",
        "studiejaar",
        "klas",
        "opleiding",
        "locatienaam",
        "brin",
        "status",
    ],
)
async def test_every_sort_both_ways_pages_stably(db: Database, sort: str) -> None:
    for descending in (False, True):
        pages = [
            await page(db, sort=sort, descending=descending, page=n, page_size=7)
            for n in range(1, 7)
        ]
        items = [p for result in pages for p in result.items]
        assert len(items) == 40 and len({p.person_id for p in items}) == 40
        column = "studiejaar" if sort == "studiejaar" else sort

        def key(p: Any, column: str = column) -> Any:
            value = getattr(p, column)
            return value.lower() if isinstance(value, str) else value

        values = [key(p) for p in items]
        assert values == sorted(values, reverse=descending)
        # the tiebreak: equal values in id order (the same direction)
        for a, b in itertools.pairwise(items):
            if key(a) == key(b):
                assert (str(a.person_id) < str(b.person_id)) is not descending


async def test_paging_reports_total_and_page(db: Database) -> None:
    last = await page(db, page=3, page_size=15)
    assert (last.total, last.page, last.page_size, len(last.items)) == (40, 3, 15, 10)
    beyond = await page(db, page=9, page_size=15)
    assert beyond.total == 40 and beyond.items == []
