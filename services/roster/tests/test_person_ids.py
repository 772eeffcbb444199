"""Person ids are time-ordered (ck_roster.domain.ids): an upload's ids start with the moment of
the write by the injected clock, so they sort after every earlier upload's and the index over
all schools' ids (uq_people_id) is appended to; within an upload they ascend in the list's
achternaam order (the rows are stored in id order)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from ck_contracts.roster import PersonFields, RosterKind
from ck_roster import store
from ck_roster.domain.ids import time_ordered_hexes, time_ordered_id
from ck_roster.tables import people
from ck_runtime.db import Database
from ck_runtime.migrations import upgrade_async
from ck_testkit import clocks
from sqlalchemy import select


def test_ids_are_version_7_with_the_moment_in_front() -> None:
    at = clocks.MONDAY
    hexes = time_ordered_hexes(1000, at)
    assert hexes == sorted(hexes) and len(set(hexes)) == 1000
    millis = int(at.timestamp() * 1000)
    for value in map(uuid.UUID, hexes):
        assert value.version == 7 and value.variant == uuid.RFC_4122
        assert value.int >> 80 == millis
    one = time_ordered_id(at)
    assert one.version == 7 and one.int >> 80 == millis
    assert time_ordered_hexes(0, at) == []


def test_a_later_moment_sorts_after_an_earlier_one() -> None:
    earlier = time_ordered_hexes(500, clocks.MONDAY)
    later = time_ordered_hexes(500, clocks.MONDAY + timedelta(milliseconds=1))
    assert max(earlier) < min(later)
    assert time_ordered_id(clocks.MONDAY) < time_ordered_id(clocks.MONDAY + timedelta(seconds=1))


async def test_uploads_store_time_ordered_ids_in_surname_order(database_url: str) -> None:
    await upgrade_async("roster", database_url)
    db = Database(database_url)
    school = uuid.uuid4()
    first, second = clocks.MONDAY, clocks.MONDAY + timedelta(minutes=5)
    names = ["Visser", "de Boer", "Bakker", "Jansen", "Akkerman"]
    try:
        async with db.transaction() as session:
            rows = [PersonFields(voornaam="A", achternaam=n) for n in names]
            ids_first = await store.insert_people(session, school, RosterKind.STUDENTS, rows, first)
            more = [PersonFields(voornaam="B", achternaam=n) for n in names]
            ids_second = await store.insert_people(
                session, school, RosterKind.STUDENTS, more, second
            )
        async with db.read() as session:
            stored = (
                await session.execute(
                    select(people.c.id, people.c.voornaam, people.c.achternaam_lower)
                    .where(people.c.school_id == school)
                    .order_by(people.c.id)
                )
            ).all()
    finally:
        await db.dispose()

    assert len(ids_first) == len(ids_second) == len(names)
    # By id: the first upload's people, then the second's, each in achternaam order.
    expected = sorted(n.lower() for n in names)
    assert [(r.voornaam, r.achternaam_lower) for r in stored] == [
        *(("A", n) for n in expected),
        *(("B", n) for n in expected),
    ]
    for row in stored:
        moment = first if row.voornaam == "A" else second
        assert row.id.version == 7 and row.id.int >> 80 == int(moment.timestamp() * 1000)
