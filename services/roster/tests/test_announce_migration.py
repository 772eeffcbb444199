"""The data migration that announces the people already on the rosters (RosterPeopleAdded, ids
only) once, for the weborders service's roster projection (R-DOSSIER-1): a database with people
from before the release gets one event per 1,000 people of a school's roster, in its outbox."""

from __future__ import annotations

import asyncio
import uuid

from alembic import command
from ck_contracts.messaging import decode_event
from ck_contracts.roster import PersonFields, RosterKind, RosterPeopleAdded
from ck_roster import store
from ck_roster.tables import outbox, people
from ck_runtime.db import Database
from ck_runtime.migrations import alembic_config, upgrade_async
from ck_testkit import clocks
from sqlalchemy import select

BEFORE = "25d530a53fa3"  # the roster's head before the announcement


async def test_people_stored_before_the_release_are_announced_once(database_url: str) -> None:
    await asyncio.to_thread(command.upgrade, alembic_config("roster", database_url), BEFORE)
    db = Database(database_url)
    school_a, school_b = uuid.uuid4(), uuid.uuid4()
    try:
        stored: dict[tuple[str, str], set[str]] = {}
        async with db.transaction() as session:
            for school, kind, count in (
                (school_a, RosterKind.STUDENTS, 2300),
                (school_a, RosterKind.TEACHERS, 3),
                (school_b, RosterKind.STUDENTS, 1),
            ):
                rows = [
                    store.new_person_values(
                        school, kind, PersonFields(voornaam=f"P{i}", achternaam="X"), clocks.now()
                    )
                    for i in range(count)
                ]
                await session.execute(people.insert(), rows)
                stored[(str(school), kind.value)] = {str(r["id"]) for r in rows}

        await upgrade_async("roster", database_url)
        await upgrade_async("roster", database_url)  # at head: nothing more
        async with db.read() as session:
            bodies = (await session.execute(select(outbox.c.body).order_by(outbox.c.seq))).scalars()
            events = [decode_event(body) for body in bodies]
    finally:
        await db.dispose()

    assert all(isinstance(e, RosterPeopleAdded) for e in events)
    announced: dict[tuple[str, str], list[str]] = {}
    for event in events:
        assert isinstance(event, RosterPeopleAdded)
        key = (str(event.school_id), event.kind.value)
        announced.setdefault(key, []).extend(str(p) for p in event.person_ids)
    assert {k: set(v) for k, v in announced.items()} == stored
    assert sorted(len(e.person_ids) for e in events) == [1, 3, 300, 1000, 1000]
    assert all(len(v) == len(set(v)) for v in announced.values())  # each id once
