"""The offer and its requests (R-WEB-3), the spending export (R-WEB-5) and the
Cultuurkaart-dossier with its deletion (R-DOSSIER-1, R-AVG-2)."""

from __future__ import annotations

import base64
import io
import uuid
from datetime import date
from typing import Any

from ck_contracts.roster import TeacherRemoved
from ck_contracts.weborders import Ops
from ck_weborders.consumers import roster_consumer
from ck_weborders.tables import dossier_notes, weborder_participants
from openpyxl import load_workbook
from sqlalchemy import select

World = Any


async def _publish(world: World, provider: str = "A", **changes: Any) -> dict[str, Any]:
    offering = {
        "title": "Hamlet",
        "description": "",
        "discipline": "Theater",
        "city": "Utrecht",
        "price_cents": 1250,
    }
    offering.update(changes)
    return dict(
        await world.ok(
            Ops.OFFERING_PUBLISH, {"api_key": world.keys[provider], "offering": offering}
        )
    )


async def test_offer_search_filters_and_pages(world: World) -> None:
    await _publish(world, title="Hamlet", description="Shakespeare voor het mbo")
    await _publish(
        world,
        title="Rembrandt",
        discipline="Museum",
        city="Amsterdam",
        description="Schilderkunst 100% echt",
    )
    await _publish(world, "B", title="Jazz", discipline="Muziek", city="utrecht")
    await _publish(world, "B", title="Macbeth")
    await _publish(world, "B", title="Othello")
    docent = world.docent()

    async def titles(**query: Any) -> list[str]:
        found = await world.ok(Ops.OFFER_SEARCH, query, docent)
        return [o["title"] for o in found]

    assert await titles(text="theater b") == ["Jazz", "Macbeth", "Othello"]  # provider name
    assert await titles(text="SHAKESPEARE") == ["Hamlet"]
    assert await titles(text="100%") == ["Rembrandt"]  # wildcards are text
    assert await titles(text="%") == ["Rembrandt"]
    assert await titles(city="Utrecht") == ["Hamlet", "Jazz", "Macbeth"]
    assert await titles(city="Utrecht", page=2) == ["Othello"]
    assert await titles(discipline="museum") == ["Rembrandt"]
    assert await titles() == ["Hamlet", "Jazz", "Macbeth"]  # page size 3 in these tests
    assert await titles(page=2) == ["Othello", "Rembrandt"]
    error = await world.error(Ops.OFFER_SEARCH, {}, None)
    assert error["code"] == "unauthenticated"


async def test_a_provider_changes_only_its_own_offering(world: World) -> None:
    made = await _publish(world)
    changed = await world.ok(
        Ops.OFFERING_PUBLISH,
        {
            "api_key": world.keys["A"],
            "offering_id": made["offering_id"],
            "offering": {"title": "Hamlet (nieuw)", "price_cents": 1500},
        },
    )
    assert changed["offering_id"] == made["offering_id"] and changed["price_cents"] == 1500
    error = await world.error(
        Ops.OFFERING_PUBLISH,
        {
            "api_key": world.keys["B"],
            "offering_id": made["offering_id"],
            "offering": {"title": "Gekaapt", "price_cents": 1},
        },
    )
    assert error["code"] == "not_found"


async def test_an_offer_request_reaches_only_its_provider_who_answers_with_a_weborder(
    world: World,
) -> None:
    offering = await _publish(world)
    request = await world.ok(
        Ops.OFFER_REQUEST,
        {
            "school_id": world.school,
            "offering_id": offering["offering_id"],
            "message": "Kan dit in maart voor 2 klassen?",
            "requested_by": "J. Docent",
        },
        world.docent(),
    )
    assert request["school_number"] == world.number and request["offering_title"] == "Hamlet"
    error = await world.error(
        Ops.OFFER_REQUEST,
        {
            "school_id": world.other_school,
            "offering_id": offering["offering_id"],
            "message": "x",
            "requested_by": "y",
        },
        world.docent(),
    )
    assert error["code"] == "forbidden"
    mine = await world.ok(Ops.REQUESTS_OWN, {"api_key": world.keys["A"]})
    assert [r["request_id"] for r in mine] == [request["request_id"]]
    assert await world.ok(Ops.REQUESTS_OWN, {"api_key": world.keys["B"]}) == []
    made = await world.create(request_id=request["request_id"], offering_id=offering["offering_id"])
    assert made["request_id"] == request["request_id"]
    # B cannot answer A's request, nor name A's offering; nor for another school.
    for provider, changes in (
        ("B", {"request_id": request["request_id"]}),
        ("B", {"offering_id": offering["offering_id"]}),
        ("A", {"request_id": request["request_id"], "school_number": world.other_number}),
    ):
        payload = {"api_key": world.keys[provider], "weborder": world.weborder(**changes)}
        error = await world.error(Ops.WEBORDER_CREATE, payload)
        assert error["code"] == "invalid", (provider, changes)


async def test_the_export_lists_all_spending_as_numbers_with_neutralised_text(
    world: World,
) -> None:
    evil = await world.create(
        activity='=HYPERLINK("http://x")', provider_reference="@SUM(1)", amount_cents=12345
    )
    plain = await world.create(activity="Museumbezoek", amount_cents=5000)
    pending = await world.create(activity="Nog niet beslist")
    for made in (evil, plain):
        await world.approve(made["weborder_id"])
        await world.debited(made["weborder_id"])
    await world.approve(pending["weborder_id"])  # in behandeling: not spent yet
    await world.ok(
        Ops.WEBORDER_CANCEL_APPROVAL,
        {"school_id": world.school, "weborder_id": plain["weborder_id"], "reason": "Ziek"},
        world.holder(),
    )
    tour = await world.ok(
        Ops.SCHOOLTOER_ORDER,
        {
            "school_id": world.school,
            "travel_date": "2027-02-03",
            "from_place": "+Utrecht",
            "to_place": "Arnhem",
            "travellers": 3,
            "amount_cents": 2700,
        },
        world.holder(),
    )
    await world.debited(tour["order_id"], kind="schooltoer")
    await world.card_payment(uuid.uuid4(), description="\tTab-kaartje", amount_cents=750)
    await world.card_payment(
        uuid.uuid4(), description="Film", amount_cents=1, paid_at="2026-12-02T10:00:00Z"
    )
    # Another school's spending stays out.
    other = await world.create(school_number=world.other_number, activity="Elders")
    await world.approve(other["weborder_id"], world.other_school)

    assert (await world.error(Ops.EXPORT, {"school_id": world.other_school}, world.holder()))[
        "code"
    ] == "forbidden"
    exported = await world.ok(Ops.EXPORT, {"school_id": world.school}, world.docent())
    assert exported["filename"].startswith(f"uitgaven_{world.number}_")
    assert exported["filename"].endswith(".xlsx")
    book = load_workbook(io.BytesIO(base64.b64decode(exported["content_b64"])))
    sheet = book["Uitgaven"]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "Soort" and rows[0][-1] == "Bedrag (EUR)"
    body = rows[1:-1]
    kinds = [r[0] for r in body]
    assert kinds == [
        "Weborder",
        "Weborder",
        "Weborder teruggeboekt",
        "Schooltoer",
        "Kaartbetaling",
        "Kaartbetaling",
    ]
    first = body[0]
    assert first[2] == '\'=HYPERLINK("http://x")' and first[4] == "'@SUM(1)"
    assert first[3] == "Theater A" and first[5] == 25 and first[6] == "Goedgekeurd"
    assert first[7] == 123.45 and isinstance(first[7], float)
    assert first[1].date() == date(2026, 12, 15)
    assert [r[7] for r in body] == [123.45, 50.0, -50.0, 27.0, 7.5, 0.01]
    assert body[3][2] == "'+Utrecht - Arnhem"
    assert body[4][2] == "'\tTab-kaartje"
    assert rows[-1][0] == "Totaal" and rows[-1][7] == 157.96
    cells = next(iter(sheet.iter_rows(min_row=2, max_row=2)))
    assert cells[7].number_format == "#,##0.00" and cells[7].data_type == "n"
    assert not any(
        isinstance(v, str) and v.startswith(("=", "+", "-", "@", "\t")) for r in body for v in r
    )


async def test_the_dossier_shows_activities_card_payments_and_notes(world: World) -> None:
    student, classmate = await world.student(), await world.student()
    went = await world.create(
        participant_ids=[str(student), str(classmate)],
        activity="Hamlet",
        activity_date="2026-12-15",
    )
    rejected = await world.create(participant_ids=[str(student)], activity="Afgewezen")
    await world.approve(went["weborder_id"])
    await world.debited(went["weborder_id"])
    await world.ok(
        Ops.WEBORDER_DECIDE,
        {
            "school_id": world.school,
            "weborder_id": rejected["weborder_id"],
            "approve": False,
            "reason": "Nee",
        },
        world.holder(),
    )
    await world.card_payment(student, description="Filmhuis", paid_at="2026-12-20T10:00:00Z")
    await world.card_payment(classmate, description="Concert")
    note = await world.ok(
        Ops.DOSSIER_NOTE,
        {
            "school_id": world.school,
            "person_id": student,
            "text": "Enthousiast!",
            "author": "Mw. Jansen",
        },
        world.docent(),
    )
    assert note["kind"] == "notitie"
    dossier = await world.ok(
        Ops.DOSSIER_GET, {"school_id": world.school, "person_id": student}, world.docent()
    )
    entries = [(e["kind"], e["text"]) for e in dossier["entries"]]
    assert ("activiteit", "Hamlet (Theater A)") in entries
    assert ("kaartbetaling", "Filmhuis (Theater A)") in entries
    assert ("notitie", "Enthousiast!") in entries
    assert len(entries) == 3
    assert [e["at"] for e in dossier["entries"]] == sorted(e["at"] for e in dossier["entries"])
    # Another school's teacher: forbidden; through their own school id: not their student.
    ref = {"school_id": world.other_school, "person_id": student}
    assert (await world.error(Ops.DOSSIER_GET, ref, world.docent()))["code"] == "forbidden"
    other = await world.error(Ops.DOSSIER_GET, ref, world.docent(world.other_school))
    assert other["code"] == "not_found"
    assert (await world.error(Ops.DOSSIER_GET, ref, world.admin()))["code"] == "forbidden"


async def test_a_removed_student_loses_their_dossier(world: World) -> None:
    student, classmate = await world.student(), await world.student()
    went = await world.create(participant_ids=[str(student), str(classmate)])
    await world.approve(went["weborder_id"])
    await world.debited(went["weborder_id"])
    await world.card_payment(student)
    await world.ok(
        Ops.DOSSIER_NOTE,
        {"school_id": world.school, "person_id": student, "text": "Notitie", "author": "X"},
        world.docent(),
    )
    await world.remove(student)
    await world.card_payment(student, description="Te laat")  # a late payment: no link
    ref = {"school_id": world.school, "person_id": student}
    gone = await world.error(Ops.DOSSIER_GET, ref, world.docent())  # no longer on the roster
    assert gone["code"] == "not_found"
    async with world.db.read() as session:  # and nothing of their dossier is kept
        for table in (dossier_notes, weborder_participants):
            rows = await session.execute(select(table).where(table.c.person_id == student))
            assert rows.first() is None
    error = await world.error(
        Ops.DOSSIER_NOTE, {**ref, "text": "Nog een", "author": "X"}, world.docent()
    )
    assert error["code"] == "not_found"
    classmate_dossier = await world.ok(
        Ops.DOSSIER_GET, {"school_id": world.school, "person_id": classmate}, world.docent()
    )
    assert len(classmate_dossier["entries"]) == 1
    # The payments stay in the school's spending, without the person.
    exported = await world.ok(Ops.EXPORT, {"school_id": world.school}, world.holder())
    book = load_workbook(io.BytesIO(base64.b64decode(exported["content_b64"])))
    kinds = [r[0] for r in book["Uitgaven"].iter_rows(values_only=True)]
    assert kinds.count("Kaartbetaling") == 2
    got = await world.ok(
        Ops.WEBORDER_GET_OWN, {"api_key": world.keys["A"], "weborder_id": went["weborder_id"]}
    )
    assert got["participant_ids"] == [str(classmate)]


async def test_a_removed_teacher_is_erased_where_they_arranged_something(world: World) -> None:
    """TeacherRemoved (R-AVG-2): the Docent+ address of weborders, the requester of offer
    requests and the author of dossier notes go for that teacher, within the school only."""
    offering = await _publish(world)

    async def request(by: str) -> str:
        made = await world.ok(
            Ops.OFFER_REQUEST,
            {
                "school_id": world.school,
                "offering_id": offering["offering_id"],
                "message": "Kan dit in maart?",
                "requested_by": by,
            },
            world.docent(),
        )
        return str(made["request_id"])

    async def note(by: str) -> None:
        await world.ok(
            Ops.DOSSIER_NOTE,
            {"school_id": world.school, "person_id": student, "text": "Goed", "author": by},
            world.docent(),
        )

    student = await world.student()
    dirks, jansens = await request("Dirk Docent"), await request("Mw. Jansen")
    await note("Dirk Docent")
    await note("Mw. Jansen")
    arranged = await world.create(docent_plus_email="dirk.docent@school.nl")
    other = await world.create(docent_plus_email="jansen@school.nl", provider_reference="2")
    elsewhere = await world.create(
        docent_plus_email="dirk.docent@school.nl",
        school_number=world.other_number,
        provider_reference="3",
    )

    left = TeacherRemoved(
        school_id=world.school,
        person_id=uuid.uuid4(),
        voornaam="Dirk",
        achternaam="Docent",
        email="Dirk.Docent@School.nl",
    )
    assert await roster_consumer(world.clock).handle(left.envelope(), world.db)

    async def docent_plus_email(weborder: dict[str, Any]) -> str:
        ref = {"api_key": world.keys["A"], "weborder_id": weborder["weborder_id"]}
        return str((await world.ok(Ops.WEBORDER_GET_OWN, ref))["docent_plus_email"])

    assert await docent_plus_email(arranged) == ""
    assert await docent_plus_email(other) == "jansen@school.nl"
    assert await docent_plus_email(elsewhere) == "dirk.docent@school.nl"  # another school's
    requests = {
        r["request_id"]: r for r in await world.ok(Ops.REQUESTS_OWN, {"api_key": world.keys["A"]})
    }
    assert (requests[dirks]["requested_by"], requests[jansens]["requested_by"]) == (
        "",
        "Mw. Jansen",
    )
    dossier = await world.ok(
        Ops.DOSSIER_GET, {"school_id": world.school, "person_id": student}, world.docent()
    )
    assert sorted(e["author"] for e in dossier["entries"]) == ["", "Mw. Jansen"]
