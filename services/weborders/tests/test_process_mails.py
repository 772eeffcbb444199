"""Issue 13: the mails weborders asks for. The provider hears of a teacher's request and of
the school's decision (approved and debited, rejected with the reason, refused by the budget);
the budget holders get one digest a day per school of the weborders awaiting them, with a
reminder of those undecided for WEBORDERS_REMINDER_DAYS; the digest job is once-only with
several replicas."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from ck_contracts.accounts import SchoolRegistered
from ck_contracts.notifier import BudgetHolderMailRequested, EmailRequested, MailTemplate
from ck_contracts.weborders import Ops
from ck_runtime.db import Database
from ck_runtime.known_schools import known_schools_consumer
from ck_runtime.outbox import OUTBOX
from ck_weborders.mails import digest_pass
from ck_weborders.settings import WebordersSettings, get_settings
from sqlalchemy import select

World = Any
MAIL = EmailRequested.routing_key
DIGEST = BudgetHolderMailRequested.routing_key


async def _events(world: World, kind: str) -> list[dict[str, Any]]:
    async with world.db.read() as session:
        rows = await session.execute(select(OUTBOX.c.body).order_by(OUTBOX.c.seq))
        return [dict(r.body) for r in rows if r.body.get("type") == kind]


def _settings(world: World, **changes: Any) -> WebordersSettings:
    base = world.deps.settings.model_dump(exclude={"service_name"})
    base.update(portal_url="https://portaal.example", digest_hour=8, reminder_days=7)
    base.update(changes)
    return get_settings(**base)


async def _publish(world: World, provider: str = "A") -> dict[str, Any]:
    offering = {
        "title": "Workshop toneel",
        "description": "",
        "discipline": "Theater",
        "city": "Utrecht",
        "price_cents": 1250,
    }
    return dict(
        await world.ok(
            Ops.OFFERING_PUBLISH, {"api_key": world.keys[provider], "offering": offering}
        )
    )


async def test_a_teachers_request_mails_the_provider(world: World) -> None:
    offering = await _publish(world, "B")
    await world.ok(
        Ops.OFFER_REQUEST,
        {
            "school_id": world.school,
            "offering_id": offering["offering_id"],
            "message": "Kan dit in maart?",
            "requested_by": "J. Docent",
        },
        world.docent(),
    )
    (mail,) = await _events(world, MAIL)
    assert mail["template"] == MailTemplate.OFFER_REQUESTED
    assert mail["to"] == "info@b.example"  # provider B's contact address
    assert mail["school_id"] == str(world.school)
    context = mail["context"]
    assert context["provider_name"] == "Theater B"
    assert context["school_name"] == f"School {world.number}"
    assert context["school_number"] == str(world.number)
    assert context["offering_title"] == "Workshop toneel"
    assert context["requested_by"] == "J. Docent"
    assert context["message"] == "Kan dit in maart?"
    assert context["link"].endswith("/aanbieder/aanvragen")


async def test_a_rejection_mails_the_provider_with_the_reason(world: World) -> None:
    made = await world.create()
    await world.ok(
        Ops.WEBORDER_DECIDE,
        {
            "school_id": world.school,
            "weborder_id": made["weborder_id"],
            "approve": False,
            "reason": "Datum past niet.",
        },
        world.holder(),
    )
    (mail,) = await _events(world, MAIL)
    assert mail["template"] == MailTemplate.WEBORDER_REJECTED
    assert mail["to"] == "info@a.example"
    context = mail["context"]
    assert context["reason"] == "Datum past niet."
    assert context["provider_name"] == "Theater A"
    assert context["school_name"] == f"School {world.number}"
    assert context["activity"] == "Voorstelling Hamlet"
    assert context["activity_date"] == "2026-12-15"
    assert context["amount_cents"] == str(25 * 1250)
    assert context["provider_reference"] == "HAM-001"


async def test_the_provider_is_mailed_when_the_approval_is_debited_once(world: World) -> None:
    made = await world.create()
    await world.approve(made["weborder_id"])
    assert await _events(world, MAIL) == []  # in_behandeling: nothing decided yet
    event = await world.debited(made["weborder_id"])
    await world.feed(event)  # a redelivery: still one mail
    await world.debited(made["weborder_id"])  # a late duplicate under another id: none
    (mail,) = await _events(world, MAIL)
    assert mail["template"] == MailTemplate.WEBORDER_APPROVED
    assert mail["to"] == "info@a.example"
    assert "reason" not in mail["context"]
    assert mail["context"]["school_name"] == f"School {world.number}"


async def test_a_refusal_by_the_budget_mails_the_provider_with_the_reason(world: World) -> None:
    made = await world.create()
    await world.approve(made["weborder_id"])
    await world.refused(made["weborder_id"])
    (mail,) = await _events(world, MAIL)
    assert mail["template"] == MailTemplate.WEBORDER_REFUSED
    assert mail["context"]["reason"].startswith("Het saldo is te laag")


async def test_one_digest_a_day_per_school_with_reminders(world: World) -> None:
    settings = _settings(world)
    world.clock.set(datetime(2026, 12, 1, 6, 0, tzinfo=UTC))  # 07:00 in Amsterdam
    first = await world.create(activity="Hamlet")
    await world.create(activity="Dansworkshop")
    await world.create(school_number=world.other_number, activity="Museum")
    assert await digest_pass(world.db, settings, world.clock) == 0  # before 08:00
    assert await _events(world, DIGEST) == []

    world.clock.set(datetime(2026, 12, 1, 7, 30, tzinfo=UTC))  # 08:30
    assert await digest_pass(world.db, settings, world.clock) == 2  # one per school
    digests = {d["school_id"]: d for d in await _events(world, DIGEST)}
    ours = digests[str(world.school)]
    assert ours["template"] == MailTemplate.WEBORDERS_AWAITING
    assert "to" not in ours  # no address: accounts knows the budget holders
    assert ours["context"]["new_count"] == "2" and ours["context"]["reminder_count"] == "0"
    assert ours["context"]["school_name"] == f"School {world.number}"
    assert ours["context"]["link"] == "https://portaal.example/bestellingen/weborders"
    assert [i["activity"] for i in ours["items"]] == ["Hamlet", "Dansworkshop"]
    assert {i["kind"] for i in ours["items"]} == {"nieuw"}
    assert ours["items"][0]["submitted_on"] == "2026-12-01"
    assert [i["activity"] for i in digests[str(world.other_school)]["items"]] == ["Museum"]

    # Later that day: a new weborder waits for tomorrow's digest.
    world.clock.set(datetime(2026, 12, 1, 15, 0, tzinfo=UTC))
    await world.create(activity="Concert")
    assert await digest_pass(world.db, settings, world.clock) == 0
    world.clock.set(datetime(2026, 12, 2, 7, 1, tzinfo=UTC))
    assert await digest_pass(world.db, settings, world.clock) == 1
    latest = (await _events(world, DIGEST))[-1]
    assert [i["activity"] for i in latest["items"]] == ["Concert"]

    # The school decides one; a week after they arrived the rest are named once more.
    await world.approve(first["weborder_id"])
    world.clock.set(datetime(2026, 12, 8, 7, 0, tzinfo=UTC))  # 08:00, 7 days after 07:00
    assert await digest_pass(world.db, settings, world.clock) == 2
    by_school = {d["school_id"]: d for d in (await _events(world, DIGEST))[-2:]}
    reminder = by_school[str(world.school)]
    assert reminder["context"]["reminder_count"] == "1"
    assert reminder["context"]["new_count"] == "0"
    assert reminder["context"]["reminder_days"] == "7"
    assert [(i["activity"], i["kind"]) for i in reminder["items"]] == [
        ("Dansworkshop", "herinnering")
    ]
    # Reminded once only: the next days bring nothing (Concert's week is not over yet).
    world.clock.set(datetime(2026, 12, 8, 20, 0, tzinfo=UTC))
    assert await digest_pass(world.db, settings, world.clock) == 0
    world.clock.set(datetime(2026, 12, 9, 7, 30, tzinfo=UTC))
    assert await digest_pass(world.db, settings, world.clock) == 1  # Concert: 7 days
    world.clock.set(datetime(2026, 12, 20, 7, 30, tzinfo=UTC))
    assert await digest_pass(world.db, settings, world.clock) == 0


async def test_the_reminder_age_is_a_setting(world: World) -> None:
    world.clock.set(datetime(2026, 12, 1, 7, 30, tzinfo=UTC))
    await world.create()
    settings = _settings(world, reminder_days=3)
    assert await digest_pass(world.db, settings, world.clock) == 1
    world.clock.advance(timedelta(days=2))
    assert await digest_pass(world.db, settings, world.clock) == 0
    world.clock.advance(timedelta(days=1))
    assert await digest_pass(world.db, settings, world.clock) == 1
    last = (await _events(world, DIGEST))[-1]
    assert last["context"]["reminder_count"] == "1"
    assert last["context"]["reminder_days"] == "3"


async def test_two_replicas_send_each_digest_once(world: World, database_url: str) -> None:
    """Two schedulers (two Database objects: two replicas' connection pools) run the same
    passes at the same moment: every school gets exactly one digest a day."""
    schools = known_schools_consumer("weborders")
    numbers = list(range(20001, 20013))
    for number in numbers:
        event = SchoolRegistered(school_id=uuid.uuid4(), school_number=number, name=f"S{number}")
        await schools.handle(event.envelope(), world.db)
    world.clock.set(datetime(2026, 12, 1, 7, 30, tzinfo=UTC))
    for number in numbers:
        await world.create(school_number=number)
        await world.create(school_number=number, activity="Tweede")
    settings = _settings(world)
    replicas = [Database(database_url), Database(database_url)]
    try:
        for _ in range(3):  # three rounds of both at once, the same day
            sent = await asyncio.gather(
                *(digest_pass(db, settings, world.clock) for db in replicas)
            )
            assert sum(sent) in (0, len(numbers))
        digests = await _events(world, DIGEST)
        assert len(digests) == len(numbers)
        assert len({d["school_id"] for d in digests}) == len(numbers)
        assert all(len(d["items"]) == 2 for d in digests)
        # The next day, both at once again: nothing new, nothing sent.
        world.clock.advance(timedelta(days=1))
        assert await asyncio.gather(
            *(digest_pass(db, settings, world.clock) for db in replicas)
        ) == [0, 0]
    finally:
        for db in replicas:
            await db.dispose()
