"""The membership service's event handlers and operations on SQLite and PostgreSQL.

Invitation chunks (R-MEMBER-2/3), removals (R-ROSTER-7, R-AVG-2), activation (R-MEMBER-4),
ending a membership. Real databases, the real router and consumer; no broker (see
test_membership_broker.py for that)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, timedelta
from typing import Any

import pytest
from ck_contracts.membership import InvitationsRequested, Invitee, Ops
from ck_contracts.roles import Actor, Role
from ck_contracts.roster import PersonRemoved, RosterKind
from ck_contracts.rpc import RpcRequest
from ck_membership import domain
from ck_membership.handlers import router
from ck_membership.invitations import roster_consumer
from ck_membership.settings import get_settings
from ck_membership.tables import activation_failures, invitations, memberships, outbox
from ck_runtime.consumers import EventConsumer, PoisonMessage
from ck_runtime.db import Database
from ck_runtime.migrations import upgrade_async
from ck_testkit import clocks
from sqlalchemy import insert, select
from structlog.testing import capture_logs

PORTAL = "https://portal.example"
SCHOOL = uuid.UUID("00000000-0000-4000-8000-00000000000a")
OTHER_SCHOOL = uuid.UUID("00000000-0000-4000-8000-00000000000b")
SCHOOL_NAME = "Nova College"


def consumer() -> EventConsumer:
    return roster_consumer(PORTAL)


def people(count: int, with_email: int | None = None) -> list[Invitee]:
    """`count` invitees; the first `with_email` of them (default all) have an address."""
    with_email = count if with_email is None else with_email
    return [
        Invitee(
            person_id=uuid.uuid4(),
            email=f"Leerling{i}@Example.nl" if i < with_email else "",
            voornaam=f"Leerling {i}",
        )
        for i in range(count)
    ]


def invitation_event(
    invitees: list[Invitee],
    request_id: uuid.UUID | None = None,
    school_id: uuid.UUID = SCHOOL,
    kind: RosterKind = RosterKind.STUDENTS,
) -> InvitationsRequested:
    return InvitationsRequested(
        school_id=school_id,
        request_id=request_id or uuid.uuid4(),
        kind=kind,
        school_name=SCHOOL_NAME,
        school_number=10289,
        people=invitees,
    )


async def invite(db: Database, invitees: list[Invitee], **kwargs: Any) -> dict[str, str]:
    """Handles one chunk; returns {person id: display code} from the InvitationsSent it made."""
    event = invitation_event(invitees, **kwargs)
    before = len(await outbox_bodies(db, "membership.invitations.sent"))
    assert await consumer().handle(event.envelope(), db)
    sent = await outbox_bodies(db, "membership.invitations.sent")
    if len(sent) == before:
        return {}
    return {i["person_id"]: i["activation_code"] for i in sent[-1]["invitations"]}


async def outbox_bodies(db: Database, event_type: str | None = None) -> list[dict[str, Any]]:
    async with db.read() as session:
        rows = (await session.execute(select(outbox.c.body).order_by(outbox.c.seq))).all()
    return [r.body for r in rows if event_type is None or r.body["type"] == event_type]


async def call(db: Database, op: str, payload: dict[str, Any], actor: Any = None) -> dict[str, Any]:
    request = RpcRequest(op=op, actor=actor, payload=payload)
    return await router.dispatch(request, db, get_settings(portal_url=PORTAL))


def activation(code: str, client: str = "client-1", **details: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "code": code,
        "voornaam": "Sanne",
        "achternaam": "de Vries",
        "email": "Sanne@Example.nl",
        "geboortedatum": date(2008, 5, 1).isoformat(),
        "client": client,
    }
    payload.update(details)
    return payload


async def activate(
    db: Database, code: str, client: str = "client-1", **details: Any
) -> dict[str, Any]:
    return await call(db, Ops.ACTIVATE, activation(code, client, **details))


@pytest.fixture
async def db(database_url: str):  # type: ignore[no-untyped-def]
    await upgrade_async("membership", database_url)
    database = Database(database_url)
    yield database
    await database.dispose()


ADMIN = Actor(user_id=uuid.uuid4(), role=Role.CJP_ADMIN)
BUDGET_HOLDER = Actor(user_id=uuid.uuid4(), role=Role.BUDGET_HOLDER, school_id=SCHOOL)


async def invitation_rows(db: Database) -> dict[uuid.UUID, Any]:
    async with db.read() as session:
        rows = (await session.execute(select(invitations))).all()
    return {r.id: r for r in rows}


async def membership_of(db: Database, person_id: uuid.UUID | str) -> Any:
    async with db.read() as session:
        return (
            await session.execute(
                select(memberships).where(memberships.c.person_id == uuid.UUID(str(person_id)))
            )
        ).first()


# --- invitation chunks ---------------------------------------------------------------------------
async def test_a_chunk_gets_unique_codes_and_mails_for_those_with_an_email(db: Database) -> None:
    invitees = people(500, with_email=300)
    codes = await invite(db, invitees)
    assert list(codes) == [str(p.person_id) for p in invitees]  # the chunk's order
    assert len(set(codes.values())) == 500
    assert all(domain.normalise_code(c) and len(c) == 14 for c in codes.values())
    stored = await invitation_rows(db)
    assert len(stored) == 500
    assert {r.status for r in stored.values()} == {"open"}
    assert {domain.display_code(r.code) for r in stored.values()} == set(codes.values())

    (sent,) = await outbox_bodies(db, "membership.invitations.sent")
    assert sent["school_id"] == str(SCHOOL) and sent["kind"] == "students"
    assert [i["mailed"] for i in sent["invitations"]] == [True] * 300 + [False] * 200
    assert "Leerling" not in str(sent)  # ids and codes only (R-AVG-2)

    (mails,) = await outbox_bodies(db, "notifier.emails.requested")
    assert mails["template"] == "invitation" and len(mails["mails"]) == 300
    first = mails["mails"][0]
    code = codes[str(invitees[0].person_id)]
    assert first["to"] == "leerling0@example.nl"
    assert first["context"] == {
        "voornaam": "Leerling 0",
        "school_name": SCHOOL_NAME,
        "link": f"{PORTAL}/activeren?code={code}",
        "code": code,
    }
    assert len({m["id"] for m in mails["mails"]}) == 300


async def test_resend_keeps_the_code_and_active_members_are_left_alone(db: Database) -> None:
    a, b = people(2)
    first = await invite(db, [a, b])
    reply = await activate(db, first[str(a.person_id)])
    assert reply["ok"], reply
    c = people(1)[0]
    again = await invite(db, [a, b, c])
    assert list(again) == [str(b.person_id), str(c.person_id)]  # a is active: skipped
    assert again[str(b.person_id)] == first[str(b.person_id)]  # resend: the same code
    rows = {r.person_id: r for r in (await invitation_rows(db)).values()}
    assert rows[b.person_id].send_count == 2 and rows[c.person_id].send_count == 1
    batches = await outbox_bodies(db, "notifier.emails.requested")
    assert len(batches) == 2
    assert [m["to"] for m in batches[1]["mails"]] == [b.email.lower(), c.email.lower()]
    # A new click is a new mail (a new id), even with the same code.
    assert batches[1]["mails"][0]["id"] != batches[0]["mails"][1]["id"]
    # Everyone active: no events at all.
    before = len(await outbox_bodies(db))
    assert await invite(db, [a]) == {}
    assert len(await outbox_bodies(db)) == before


async def test_redelivery_changes_nothing_and_a_republished_chunk_makes_no_new_mail(
    db: Database,
) -> None:
    invitees = people(20, with_email=10)
    event = invitation_event(invitees)
    assert await consumer().handle(event.envelope(), db)
    assert not await consumer().handle(event.envelope(), db)  # inbox: a duplicate
    assert len(await invitation_rows(db)) == 20
    assert len(await outbox_bodies(db, "notifier.emails.requested")) == 1
    # The same chunk of the same click under a new event id (the roster published it twice):
    # the mails carry the same ids, so the notifier sends each once.
    again = event.model_copy(update={"id": uuid.uuid4()})
    assert await consumer().handle(again.envelope(), db)
    first, second = await outbox_bodies(db, "notifier.emails.requested")
    assert [m["id"] for m in first["mails"]] == [m["id"] for m in second["mails"]]
    assert len(await invitation_rows(db)) == 20


async def test_two_clicks_at_once_leave_one_open_invitation_per_person(db: Database) -> None:
    """On PostgreSQL both chunks may insert at once: the partial unique index refuses one, and
    its redelivery (here: handled again) resends the winner's invitation."""
    invitees = people(50)
    events = [invitation_event(invitees).envelope() for _ in range(2)]
    results = await asyncio.gather(
        *(consumer().handle(e, db) for e in events), return_exceptions=True
    )
    for event, result in zip(events, results, strict=True):
        if isinstance(result, BaseException):
            assert await consumer().handle(event, db)
    stored = await invitation_rows(db)
    assert len(stored) == 50 and {r.send_count for r in stored.values()} == {2}
    first, second = await outbox_bodies(db, "membership.invitations.sent")
    assert first["invitations"] == second["invitations"]  # the same codes both times


async def test_a_chunk_without_school_is_poison(db: Database) -> None:
    event = invitation_event(people(1)).model_copy(update={"school_id": None})
    with pytest.raises(PoisonMessage):
        await consumer().handle(event.envelope(), db)
    assert await invitation_rows(db) == {}


# --- removal (R-ROSTER-7) ------------------------------------------------------------------------
async def test_removal_revokes_the_invitation_and_ends_and_erases_the_membership(
    db: Database,
) -> None:
    member, invited = people(2)
    codes = await invite(db, [member, invited])
    assert (await activate(db, codes[str(member.person_id)]))["ok"]
    for person in (member, invited):
        removed = PersonRemoved(school_id=SCHOOL, person_id=person.person_id, kind="students")
        assert await consumer().handle(removed.envelope(), db)

    row = await membership_of(db, member.person_id)
    assert row.status == "ended" and row.end_reason == "removed_from_roster"
    # R-AVG-2: nothing of the person stays, not even the card number: ids, status and times.
    assert (row.voornaam, row.achternaam, row.email, row.geboortedatum) == (None,) * 4
    assert row.card_number is None and row.ended_at is not None
    (ended,) = await outbox_bodies(db, "membership.membership.ended")
    assert ended["person_id"] == str(member.person_id)
    assert ended["reason"] == "removed_from_roster" and ended["school_id"] == str(SCHOOL)

    statuses = {r.person_id: r.status for r in (await invitation_rows(db)).values()}
    assert statuses == {member.person_id: "used", invited.person_id: "revoked"}
    reply = await activate(db, codes[str(invited.person_id)])
    assert reply["error"]["fields"] == {
        "code": "Deze activatiecode is niet meer geldig. Vraag je school om een nieuwe uitnodiging."
    }


async def test_removal_from_another_school_touches_nothing(db: Database) -> None:
    (person,) = people(1)
    codes = await invite(db, [person])
    removed = PersonRemoved(school_id=OTHER_SCHOOL, person_id=person.person_id, kind="students")
    assert await consumer().handle(removed.envelope(), db)
    assert {r.status for r in (await invitation_rows(db)).values()} == {"open"}
    assert (await activate(db, codes[str(person.person_id)]))["ok"]


# --- activation (R-MEMBER-4) ---------------------------------------------------------------------
async def test_activation_makes_an_active_membership_with_a_card(db: Database) -> None:
    (person,) = people(1)
    codes = await invite(db, [person])
    typed = codes[str(person.person_id)].lower().replace("-", " ")
    reply = await activate(db, typed)
    assert reply["ok"], reply
    result = reply["result"]
    assert result["school_name"] == SCHOOL_NAME and result["kind"] == "students"
    card = result["card_number"]
    assert len(card) == 13 and domain.luhn_valid(card)

    row = await membership_of(db, person.person_id)
    assert row.status == "active" and row.card_number == card and row.school_id == SCHOOL
    assert (row.voornaam, row.achternaam, row.email) == ("Sanne", "de Vries", "sanne@example.nl")
    assert row.geboortedatum == date(2008, 5, 1)
    (activated,) = await outbox_bodies(db, "membership.membership.activated")
    assert activated["person_id"] == str(person.person_id) and activated["card_number"] == card
    assert "Sanne" not in str(activated) and "example" not in str(activated)
    (mail,) = await outbox_bodies(db, "notifier.email.requested")
    assert mail["template"] == "membership_confirmed" and mail["to"] == "sanne@example.nl"
    assert mail["context"] == {"voornaam": "Sanne", "school_name": SCHOOL_NAME, "card_number": card}

    again = await activate(db, codes[str(person.person_id)], client="client-2")
    assert again["error"]["code"] == "invalid"
    assert again["error"]["message"] == "Deze activatiecode is al gebruikt."
    assert again["error"]["fields"] == {"code": "Deze activatiecode is al gebruikt."}


async def test_unknown_and_malformed_codes_and_wrong_details(db: Database) -> None:
    (person,) = people(1)
    code = (await invite(db, [person]))[str(person.person_id)]
    unknown = await activate(db, domain.display_code(domain.new_code()))
    assert unknown["error"]["fields"] == {
        "code": "Deze activatiecode is onbekend. Controleer de code."
    }
    malformed = await activate(db, "ABC")
    assert set(malformed["error"]["fields"]) == {"code"}
    details = await activate(db, code, email="geen adres", geboortedatum="2099-01-01")
    assert set(details["error"]["fields"]) == {"email", "geboortedatum"}
    missing = await call(db, Ops.ACTIVATE, {"code": code, "client": "x"})
    assert {"voornaam", "achternaam", "email", "geboortedatum"} <= set(missing["error"]["fields"])
    # Wrong details never used the code up.
    assert (await activate(db, code))["ok"]


async def test_guessing_is_throttled_per_client(db: Database) -> None:
    (person,) = people(1)
    code = (await invite(db, [person]))[str(person.person_id)]
    for _ in range(domain.MAX_FAILURES):
        reply = await activate(db, domain.new_code(), client="guesser")
        assert reply["error"]["code"] == "invalid"
    # Malformed codes and wrong details do not count, so they do not matter here; the next
    # attempt of the guesser is refused before the code is even looked at, the right one too.
    throttled = await activate(db, code, client="guesser")
    assert throttled["error"]["code"] == "throttled"
    assert throttled["error"]["message"].startswith("Te veel pogingen.")
    assert 0 < throttled["error"]["retry_after_seconds"] <= 15 * 60
    # Another client is not affected.
    assert (await activate(db, code, client="someone-else"))["ok"]
    async with db.read() as session:
        (count,) = (
            await session.execute(
                select(activation_failures.c.failures).where(
                    activation_failures.c.client == "guesser"
                )
            )
        ).one()
    assert count == domain.MAX_FAILURES


async def test_an_expired_window_starts_again(db: Database) -> None:
    long_ago = clocks.now() - domain.FAILURE_WINDOW - timedelta(seconds=1)
    async with db.transaction() as session:
        await session.execute(
            insert(activation_failures).values(client="old", window_start=long_ago, failures=50)
        )
    reply = await activate(db, domain.new_code(), client="old")
    assert reply["error"]["code"] == "invalid"
    async with db.read() as session:
        row = (
            await session.execute(
                select(activation_failures).where(activation_failures.c.client == "old")
            )
        ).one()
    assert row.failures == 1 and row.window_start > long_ago


async def test_two_simultaneous_activations_of_one_code_have_one_winner(db: Database) -> None:
    invitees = people(5)
    codes = await invite(db, invitees)
    for code in codes.values():
        replies = await asyncio.gather(
            *(activate(db, code, client=f"c{i}", email=f"m{i}@example.nl") for i in range(4))
        )
        winners = [r for r in replies if r["ok"]]
        assert len(winners) == 1, replies
        losers = [r["error"]["message"] for r in replies if not r["ok"]]
        assert losers == ["Deze activatiecode is al gebruikt."] * 3
    assert len(await outbox_bodies(db, "membership.membership.activated")) == 5
    assert len(await outbox_bodies(db, "notifier.email.requested")) == 5


# --- ending (CJP) --------------------------------------------------------------------------------
async def test_cjp_ends_a_membership_and_the_member_can_come_back(db: Database) -> None:
    (person,) = people(1)
    code = (await invite(db, [person]))[str(person.person_id)]
    first_card = (await activate(db, code))["result"]["card_number"]
    end = {"school_id": str(SCHOOL), "person_id": str(person.person_id)}

    assert (await call(db, Ops.END, end))["error"]["code"] == "unauthenticated"
    assert (await call(db, Ops.END, end, BUDGET_HOLDER))["error"]["code"] == "forbidden"
    wrong_school = {**end, "school_id": str(OTHER_SCHOOL)}
    assert (await call(db, Ops.END, wrong_school, ADMIN))["error"]["code"] == "not_found"
    assert (await call(db, Ops.END, end, ADMIN))["ok"]
    assert (await call(db, Ops.END, end, ADMIN))["error"]["code"] == "not_found"
    row = await membership_of(db, person.person_id)
    assert row.status == "ended" and row.end_reason == "ended_by_cjp"
    assert row.email == "sanne@example.nl"  # still on the roster: details kept
    (ended,) = await outbox_bodies(db, "membership.membership.ended")
    assert ended["reason"] == "ended_by_cjp"

    # Inactive people may be invited again (R-MEMBER-2): a new code, and a new card.
    new_code = (await invite(db, [person]))[str(person.person_id)]
    assert new_code != code
    second = await activate(db, new_code, email="nieuw@example.nl")
    assert second["ok"], second
    assert second["result"]["card_number"] != first_card
    row = await membership_of(db, person.person_id)
    assert row.status == "active" and row.ended_at is None and row.email == "nieuw@example.nl"


async def test_an_active_membership_is_never_overwritten(db: Database) -> None:
    """Defence in depth: an open invitation for someone already active (which the invitation
    handler never makes) does not replace the membership, and the code stays open."""
    (person,) = people(1)
    code = (await invite(db, [person]))[str(person.person_id)]
    assert (await activate(db, code))["ok"]
    now = clocks.now()
    stray = domain.new_code()
    async with db.transaction() as session:
        await session.execute(
            insert(invitations).values(
                id=uuid.uuid4(),
                school_id=SCHOOL,
                person_id=person.person_id,
                kind="students",
                code=stray,
                status="open",
                school_name=SCHOOL_NAME,
                created_at=now,
                last_sent_at=now,
                send_count=1,
            )
        )
    reply = await activate(db, stray)
    assert reply["error"]["code"] == "conflict"
    assert reply["error"]["fields"] == {"code": "Je hebt al een actief CJP-lidmaatschap."}
    statuses = {r.code: r.status for r in (await invitation_rows(db)).values()}
    assert statuses[stray] == "open"


async def test_logs_carry_no_personal_data_codes_or_client_keys(db: Database) -> None:
    (person,) = people(1)
    with capture_logs() as logs:
        code = (await invite(db, [person]))[str(person.person_id)]
        await activate(db, domain.display_code(domain.new_code()), client="secret-client-key")
        assert (await activate(db, code, client="secret-client-key"))["ok"]
        removed = PersonRemoved(school_id=SCHOOL, person_id=person.person_id, kind="students")
        await consumer().handle(removed.envelope(), db)
    text = str(logs).lower()
    assert {"invitations.handled", "membership.activated", "person.removed"} <= {
        entry["event"] for entry in logs
    }
    for secret in ("example.nl", "sanne", "vries", "leerling", "secret-client-key"):
        assert secret not in text
    assert domain.normalise_code(code) not in text.upper() and code not in text.upper()
