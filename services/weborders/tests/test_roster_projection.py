"""Who is on a school's roster, as the weborders service knows it from the roster's events
(RosterPeopleAdded for an upload's new people, PersonAdded by hand, PersonRemoved), and what it
refuses because of it (issue 10, R-DOSSIER-1, R-ROLE-6): the dossier of a person who is not the
school's student, and weborder participants who are not on the school's roster."""

from __future__ import annotations

import uuid
from typing import Any

from ck_contracts.roster import PersonAdded, PersonRemoved, RosterKind, RosterPeopleAdded
from ck_contracts.weborders import Ops
from ck_weborders.tables import dossier_notes, roster_people, weborder_participants
from sqlalchemy import func, select

World = Any


async def _count(world: World, table: Any, **where: Any) -> int:
    query = select(func.count()).select_from(table)
    for column, value in where.items():
        query = query.where(table.c[column] == value)
    async with world.db.read() as session:
        return int((await session.execute(query)).scalar_one())


def _note(world: World, person: uuid.UUID, school: uuid.UUID | None = None) -> dict[str, Any]:
    return {
        "school_id": school or world.school,
        "person_id": person,
        "text": "Enthousiast",
        "author": "Mw. Jansen",
    }


async def test_uploaded_added_and_removed_people_make_the_projection(world: World) -> None:
    upload = [uuid.uuid4() for _ in range(1000)]  # a full chunk
    event = RosterPeopleAdded(
        school_id=world.school, upload_id=uuid.uuid4(), kind=RosterKind.STUDENTS, person_ids=upload
    )
    assert await world.feed(event)
    assert not await world.feed(event)  # a redelivery: the inbox drops it
    by_hand = uuid.uuid4()
    await world.feed(
        PersonAdded(
            school_id=world.school, person_id=by_hand, kind=RosterKind.TEACHERS, has_email=True
        )
    )
    assert await _count(world, roster_people, school_id=world.school) == 1001
    assert await _count(world, roster_people, kind="teachers") == 1

    # Removed, then (delivered late) the addition again: the tombstone keeps them off.
    gone = upload[0]
    await world.remove(gone)
    await world.enrol(gone)
    assert await _count(world, roster_people, person_id=gone) == 0
    assert await _count(world, roster_people, school_id=world.school) == 1000


async def test_the_dossier_is_only_for_the_schools_own_students(world: World) -> None:
    own = await world.student()
    theirs = await world.student(school=world.other_school)
    teacher = uuid.uuid4()
    await world.enrol(teacher, kind=RosterKind.TEACHERS)
    nobody = uuid.uuid4()
    docent = world.docent()

    assert (await world.ok(Ops.DOSSIER_NOTE, _note(world, own), docent))["kind"] == "notitie"
    entries = (
        await world.ok(Ops.DOSSIER_GET, {"school_id": world.school, "person_id": own}, docent)
    )["entries"]
    assert [e["text"] for e in entries] == ["Enthousiast"]
    for person in (theirs, teacher, nobody):
        ref = {"school_id": world.school, "person_id": person}
        note = await world.error(Ops.DOSSIER_NOTE, _note(world, person), docent)
        shown = await world.error(Ops.DOSSIER_GET, ref, docent)
        assert note["code"] == shown["code"] == "not_found", person
        assert note["reason"] == shown["reason"] == "student_not_on_roster"
    assert await _count(world, dossier_notes) == 1  # only the own student's note is stored
    # The other school's teacher reaches their own student.
    other = world.docent(world.other_school)
    assert await world.ok(Ops.DOSSIER_NOTE, _note(world, theirs, world.other_school), other)


async def test_weborder_participants_must_be_on_the_schools_roster(world: World) -> None:
    own, classmate = await world.student(), await world.student()
    theirs = await world.student(school=world.other_school)
    nobody = uuid.uuid4()
    for strangers in ([theirs], [nobody], [own, nobody, theirs]):
        payload = {
            "api_key": world.keys["A"],
            "weborder": world.weborder(participant_ids=[str(p) for p in strangers]),
        }
        error = await world.error(Ops.WEBORDER_CREATE, payload)
        assert error["code"] == "invalid", strangers
        assert error["reason"] == "participants_not_on_roster"
        problem = error["field_errors"]["participant_ids"]
        assert problem["reason"] == "participants_not_on_roster"
        assert problem["params"]["count"] == len([p for p in strangers if p != own])
        assert str(own) not in str(problem["params"]["shown"])
    assert await _count(world, weborder_participants) == 0
    page = await world.ok(Ops.WEBORDER_LIST, {"school_id": world.school}, world.holder())
    assert page["total"] == 0  # the refused weborders were not stored

    made = await world.create(key="deelnemers-1", participant_ids=[str(own), str(classmate)])
    assert made["participant_ids"] == [str(own), str(classmate)]
    # A replay with its Idempotency-Key answers with the original, even after a participant
    # has left the roster.
    await world.feed(
        PersonRemoved(school_id=world.school, person_id=classmate, kind=RosterKind.STUDENTS)
    )
    again = await world.create(key="deelnemers-1", participant_ids=[str(own), str(classmate)])
    assert again["weborder_id"] == made["weborder_id"]
