"""Issue 13: invited members who have not activated get a reminder after
MEMBERSHIP_INVITATION_REMINDER_DAYS (14), with the same code and personal link (R-MEMBER-2),
at most MEMBERSHIP_INVITATION_REMINDERS (2) times; never after activation or removal; once
each with two replicas running the job at the same moment. A moved ManualClock, no wall clock."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import pytest
from ck_contracts.membership import InvitationsRequested, Invitee, Ops
from ck_contracts.notifier import EmailsRequested, MailTemplate
from ck_contracts.roster import PersonRemoved, RosterKind
from ck_contracts.rpc import RpcRequest
from ck_membership.consumers import remind_invitations, roster_consumer
from ck_membership.ops import router
from ck_membership.settings import MembershipSettings, get_settings
from ck_membership.tables import invitations, outbox
from ck_runtime.clock import ManualClock
from ck_runtime.db import Database
from ck_runtime.migrations import upgrade_async
from ck_testkit import clocks
from sqlalchemy import select

PORTAL = "https://portal.example"
SCHOOL = uuid.UUID("00000000-0000-4000-8000-00000000000a")


@pytest.fixture
async def db(database_url: str):  # type: ignore[no-untyped-def]
    await upgrade_async("membership", database_url)
    database = Database(database_url)
    yield database
    await database.dispose()


def _settings(**changes: Any) -> MembershipSettings:
    return get_settings(portal_url=PORTAL, **changes)


async def _invite(db: Database, clock: ManualClock, invitees: list[Invitee]) -> None:
    event = InvitationsRequested(
        school_id=SCHOOL,
        request_id=uuid.uuid4(),
        kind=RosterKind.STUDENTS,
        school_name="Nova College",
        school_number=10289,
        people=invitees,
    )
    assert await roster_consumer(PORTAL, clock).handle(event.envelope(), db)


async def _batches(db: Database, template: str) -> list[dict[str, Any]]:
    async with db.read() as session:
        rows = (await session.execute(select(outbox.c.body).order_by(outbox.c.seq))).all()
    return [
        r.body
        for r in rows
        if r.body["type"] == EmailsRequested.routing_key and r.body["template"] == template
    ]


async def _reminders(db: Database) -> list[dict[str, Any]]:
    return [m for b in await _batches(db, MailTemplate.INVITATION_REMINDER) for m in b["mails"]]


def _invitees(count: int) -> list[Invitee]:
    return [
        Invitee(person_id=uuid.uuid4(), email=f"leerling{i}@example.nl", voornaam=f"L{i}")
        for i in range(count)
    ]


async def test_a_reminder_after_14_days_with_the_same_code_at_most_twice(db: Database) -> None:
    clock = clocks.manual()
    settings = _settings()
    sanne = Invitee(person_id=uuid.uuid4(), email="Sanne@Example.nl", voornaam="Sanne")
    no_mail = Invitee(person_id=uuid.uuid4(), email="", voornaam="Anoniem")
    await _invite(db, clock, [sanne, no_mail])
    (invitation_mail,) = (await _batches(db, MailTemplate.INVITATION))[0]["mails"]

    clock.advance(timedelta(days=14) - timedelta(seconds=1))
    assert await remind_invitations(db, settings, clock) == 0  # not yet
    clock.advance(timedelta(seconds=1))
    assert await remind_invitations(db, settings, clock) == 1  # Sanne; no address, no mail
    assert await remind_invitations(db, settings, clock) == 0  # once
    (first,) = await _reminders(db)
    assert first["to"] == "sanne@example.nl"
    assert first["context"] == {**invitation_mail["context"]}  # same code, link, name
    assert first["context"]["voornaam"] == "Sanne"
    assert first["context"]["school_name"] == "Nova College"

    clock.advance(timedelta(days=13))
    assert await remind_invitations(db, settings, clock) == 0  # 14 days after the reminder
    clock.advance(timedelta(days=1))
    assert await remind_invitations(db, settings, clock) == 1
    clock.advance(timedelta(days=60))
    assert await remind_invitations(db, settings, clock) == 0  # at most twice in all
    reminders = await _reminders(db)
    assert len(reminders) == 2 and len({m["id"] for m in reminders}) == 2
    assert reminders[1]["context"]["code"] == invitation_mail["context"]["code"]


async def test_no_reminder_after_activation_or_removal_and_the_address_is_gone(
    db: Database,
) -> None:
    clock = clocks.manual()
    active, removed, waiting = _invitees(3)
    await _invite(db, clock, [active, removed, waiting])
    (batch,) = await _batches(db, MailTemplate.INVITATION)
    code = {m["to"]: m["context"]["code"] for m in batch["mails"]}[active.email]
    reply = await router.dispatch(
        RpcRequest(
            op=Ops.ACTIVATE.name,
            actor=None,
            payload={
                "code": code,
                "voornaam": "L0",
                "achternaam": "X",
                "email": "l0@example.nl",
                "geboortedatum": "2008-05-01",
                "client": "c",
            },
        ),
        db,
        _settings(),
        clock,
    )
    assert reply["ok"], reply
    gone = PersonRemoved(school_id=SCHOOL, person_id=removed.person_id, kind=RosterKind.STUDENTS)
    assert await roster_consumer(PORTAL, clock).handle(gone.envelope(), db)
    async with db.read() as session:
        kept = {
            r.person_id: r.email
            for r in (await session.execute(select(invitations.c.person_id, invitations.c.email)))
        }
    assert kept[active.person_id] is None and kept[removed.person_id] is None  # R-AVG-2
    assert kept[waiting.person_id] == "leerling2@example.nl"
    clock.advance(timedelta(days=15))
    assert await remind_invitations(db, _settings(), clock) == 1
    assert [m["to"] for m in await _reminders(db)] == ["leerling2@example.nl"]


async def test_the_reminder_settings(db: Database) -> None:
    clock = clocks.manual()
    await _invite(db, clock, _invitees(1))
    clock.advance(timedelta(days=5))
    assert await remind_invitations(db, _settings(invitation_reminders=0), clock) == 0
    assert await remind_invitations(db, _settings(invitation_reminder_days=6), clock) == 0
    assert await remind_invitations(db, _settings(invitation_reminder_days=5), clock) == 1


async def test_two_replicas_send_each_reminder_once(db: Database) -> None:
    clock = clocks.manual()
    await _invite(db, clock, _invitees(40))
    clock.advance(timedelta(days=14))
    settings = _settings(reminder_batch=3)
    other = Database(db.url)

    async def drain(database: Database) -> int:
        total = 0
        while count := await remind_invitations(database, settings, clock):
            total += count
        return total

    try:
        counts = await asyncio.gather(drain(db), drain(other))
    finally:
        await other.dispose()
    assert sum(counts) == 40, counts
    reminders = await _reminders(db)
    assert len(reminders) == 40 and len({m["to"] for m in reminders}) == 40
