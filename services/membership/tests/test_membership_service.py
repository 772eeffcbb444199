"""The membership service's event handlers and operations on SQLite and PostgreSQL.

Invitation chunks (R-MEMBER-2/3), removals (R-ROSTER-7, R-AVG-2), activation (R-MEMBER-4),
ending a membership. Real databases, the real router and consumer; no broker (see
test_membership_broker.py for that)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from ck_contracts.membership import InvitationsRequested, Invitee, Ops
from ck_contracts.operations import Operation, operations_of
from ck_contracts.roles import CROSS_TENANT_ROLES, ROLE_PERMISSIONS, Actor, Permission, Role
from ck_contracts.roster import PersonRemoved, RosterKind
from ck_contracts.rpc import RpcRequest
from ck_membership import domain
from ck_membership.consumers import roster_consumer
from ck_membership.ops import router
from ck_membership.settings import get_settings
from ck_membership.tables import activation_failures, invitations, memberships, outbox
from ck_runtime.clock import Clock, current_clock
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
    return roster_consumer(PORTAL, current_clock())


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


def field_reasons(reply: dict[str, Any]) -> dict[str, str]:
    """The reply's per-field reasons."""
    return {path: error["reason"] for path, error in reply["error"]["field_errors"].items()}


async def call(
    db: Database,
    op: Operation[Any, Any],
    payload: dict[str, Any],
    actor: Any = None,
    clock: Clock | None = None,
    **settings: Any,
) -> dict[str, Any]:
    request = RpcRequest(op=op.name, actor=actor, payload=payload)
    return await router.dispatch(request, db, get_settings(portal_url=PORTAL, **settings), clock)


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
    (invitation_id,) = [r.id for r in stored.values() if r.person_id == invitees[0].person_id]
    key = domain.link_key(invitation_id)
    assert first["to"] == "leerling0@example.nl"
    assert first["context"] == {
        "voornaam": "Leerling 0",
        "school_name": SCHOOL_NAME,
        "link": f"{PORTAL}/activeren?code={code}&sleutel={key}",
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
    # Everyone active: no mail; only an empty InvitationsSent with the click's request_id,
    # so the roster's invitation run knows the chunk was handled (issue 14).
    before = len(await outbox_bodies(db))
    assert await invite(db, [a]) == {}
    after = await outbox_bodies(db)
    assert len(after) == before + 1
    assert after[-1]["invitations"] == [] and after[-1]["request_id"]
    assert len(await outbox_bodies(db, "notifier.emails.requested")) == 2


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
    assert field_reasons(reply) == {"code": "activation_code_revoked"}


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
    assert again["error"]["reason"] == "activation_code_used"
    assert field_reasons(again) == {"code": "activation_code_used"}


async def test_unknown_and_malformed_codes_and_wrong_details(db: Database) -> None:
    (person,) = people(1)
    code = (await invite(db, [person]))[str(person.person_id)]
    unknown = await activate(db, domain.display_code(domain.new_code()))
    assert field_reasons(unknown) == {"code": "activation_code_unknown"}
    malformed = await activate(db, "ABC")
    assert field_reasons(malformed) == {"code": "activation_code_malformed"}
    assert malformed["error"]["reason"] == "activation_code_malformed"
    details = await activate(db, code, email="geen adres", geboortedatum="2099-01-01")
    assert field_reasons(details) == {
        "email": "member.email_invalid",
        "geboortedatum": "member.birth_date_future",
    }
    assert details["error"]["reason"] == "invalid"
    missing = await call(db, Ops.ACTIVATE, {"code": code, "client": "x"})
    assert {"voornaam", "achternaam", "email", "geboortedatum"} <= set(field_reasons(missing))
    # Wrong details never used the code up.
    assert (await activate(db, code))["ok"]


# --- throttling: per address, per code prefix, for everyone; the personal link -----------------
LIMITS = domain.DEFAULT_LIMITS


def guess(prefix: str | None = None) -> str:
    """A random code that no invitation has (60 random bits), with this prefix when given."""
    code = domain.new_code()
    return code if prefix is None else prefix + code[len(prefix) :]


def other_prefix(*codes: str) -> str:
    """A prefix none of these codes has."""
    taken = {domain.normalise_code(c)[: domain.PREFIX_LENGTH] for c in codes}  # type: ignore[index]
    while (prefix := domain.new_code()[: domain.PREFIX_LENGTH]) in taken:
        pass
    return prefix


async def bucket_counts(db: Database) -> dict[str, int]:
    async with db.read() as session:
        rows = (await session.execute(select(activation_failures))).all()
    return {r.bucket: r.failures for r in rows}


async def personal_link(db: Database, person: Invitee) -> tuple[str, str]:
    """(code, sleutel) from the person's newest invitation mail, as the student clicks it."""
    links = [
        m["context"]["link"]
        for batch in await outbox_bodies(db, "notifier.emails.requested")
        for m in batch["mails"]
        if m["to"] == person.email.lower()
    ]
    query = parse_qs(urlsplit(links[-1]).query)
    return query["code"][0], query["sleutel"][0]


async def test_brute_force_from_one_address_is_throttled(db: Database) -> None:
    """Guesses spread over many prefixes: the address's generous limit stops them."""
    (person,) = people(1)
    code = (await invite(db, [person]))[str(person.person_id)]
    replies = [await activate(db, guess(), client="guesser") for _ in range(LIMITS.address)]
    assert {r["error"]["code"] for r in replies} == {"invalid"}
    # The next attempt of the guesser is refused before the code is even looked at, the
    # right code too.
    throttled = await activate(db, code, client="guesser")
    assert throttled["error"]["code"] == "throttled"
    assert throttled["error"]["reason"] == "activation_throttled"
    assert 1 <= throttled["error"]["params"]["minutes"] <= 15
    assert 0 < throttled["error"]["retry_after_seconds"] <= 15 * 60
    counts = await bucket_counts(db)
    assert counts["address:guesser"] == LIMITS.address
    assert counts["global"] == LIMITS.address
    assert max(v for k, v in counts.items() if k.startswith("prefix:")) < LIMITS.prefix
    # Malformed codes and wrong details are no guesses: not counted, and no row for them.
    await activate(db, "ABC", client="typist")
    await activate(db, guess(), client="typist", email="geen adres")
    assert "address:typist" not in await bucket_counts(db)
    # Another address is not affected.
    assert (await activate(db, code, client="someone-else"))["ok"]


async def test_one_typing_student_holds_up_only_their_own_prefix(db: Database) -> None:
    """A school behind one NAT address: one student types their code wrong again and again;
    that code's prefix is held up (from any address), classmates behind the same address and
    the student's other attempts are not."""
    typist, *classmates = people(6)
    codes = await invite(db, [typist, *classmates])
    own = domain.normalise_code(codes[str(typist.person_id)])
    assert own is not None
    prefix = own[: domain.PREFIX_LENGTH]
    for i in range(LIMITS.prefix):
        wrong = await activate(db, guess(prefix), client="school-nat", email=f"t{i}@example.nl")
        assert wrong["error"]["code"] == "invalid", wrong
    held = await activate(db, own, client="school-nat")
    assert held["error"]["code"] == "throttled"
    assert (await activate(db, own, client="home"))["error"]["code"] == "throttled"
    for i, classmate in enumerate(classmates):
        theirs = codes[str(classmate.person_id)]
        if domain.normalise_code(theirs)[: domain.PREFIX_LENGTH] == prefix:  # type: ignore[index]
            continue  # 1 in 2**20: shares the held-up prefix
        reply = await activate(db, theirs, client="school-nat", email=f"c{i}@example.nl")
        assert reply["ok"], reply
    assert (await bucket_counts(db))["address:school-nat"] == LIMITS.prefix


async def test_200_students_behind_one_address_with_typos_all_activate(db: Database) -> None:
    """A whole year group activates at once from the school's one address; one in ten types a
    code wrong first (a changed character), two type theirs wrong three times. Everyone ends
    up with a card."""
    students = people(200)
    codes = await invite(db, students)
    typo = {"0": "1", "1": "2"}

    def mistyped(code: str, n: int) -> str:
        plain = domain.normalise_code(code)
        assert plain is not None
        i = 4 + n % 8  # not in the prefix: the typist's own prefix counts
        wrong = plain[:i] + typo.get(plain[i], "0") + plain[i + 1 :]
        return domain.display_code(wrong)

    async def student(n: int, person: Invitee) -> dict[str, Any]:
        code = codes[str(person.person_id)]
        tries = 3 if n < 2 else 1 if n % 10 == 0 else 0
        for t in range(tries):
            wrong = await activate(db, mistyped(code, n + t), client="school-nat")
            assert wrong["error"]["code"] == "invalid", wrong
        return await activate(db, code, client="school-nat", email=f"s{n}@example.nl")

    replies = await asyncio.gather(*(student(n, p) for n, p in enumerate(students)))
    refused = [r for r in replies if not r["ok"]]
    assert refused == []
    assert len(await outbox_bodies(db, "membership.membership.activated")) == 200
    failures = 2 * 3 + 19  # students 0 and 1 three times each; 10, 20, ..., 190 once
    assert (await bucket_counts(db))["address:school-nat"] == failures


async def test_concurrent_failures_are_all_counted(db: Database) -> None:
    replies = await asyncio.gather(*(activate(db, guess(), client="many") for _ in range(30)))
    assert {r["error"]["code"] for r in replies} == {"invalid"}
    counts = await bucket_counts(db)
    assert counts["address:many"] == 30 and counts["global"] == 30


async def test_a_valid_personal_link_works_from_a_throttled_address(db: Database) -> None:
    """The pair of code and sleutel from the invitation mail skips every bucket; a wrong pair
    is an ordinary attempt: throttled on a full bucket, and counted when the code fails."""
    member, other = people(2)
    codes = await invite(db, [member, other])
    for _ in range(LIMITS.address):
        await activate(db, guess(), client="school-nat")
    code, key = await personal_link(db, member)
    other_code, other_key = await personal_link(db, other)
    assert (await activate(db, code, client="school-nat"))["error"]["code"] == "throttled"
    # A wrong pair: another invitation's key, a made-up key, a guessed code with a real key.
    for wrong_code, wrong_key in (
        (code, other_key),
        (code, domain.link_key(uuid.uuid4())),
        (guess(), key),
        (code, "not a key"),
    ):
        reply = await activate(db, wrong_code, client="school-nat", link_key=wrong_key)
        assert reply["error"]["code"] == "throttled", (wrong_code, wrong_key)
    # The right pair: activated, with the lowered case and spaces a member may paste.
    done = await activate(db, code.lower().replace("-", " "), client="school-nat", link_key=key)
    assert done["ok"], done
    assert codes[str(member.person_id)] == code
    # The same link again: the code's own message, not the throttle's, and nothing counted.
    before = await bucket_counts(db)
    again = await activate(db, code, client="school-nat", link_key=key)
    assert field_reasons(again) == {"code": "activation_code_used"}
    assert await bucket_counts(db) == before
    # From an address that is not throttled a wrong key with a wrong code counts as a failure
    # (the code's message, as without a key); with the right code a wrong key does no harm.
    wrong = await activate(db, guess(), client="home", link_key=other_key)
    assert field_reasons(wrong) == {"code": "activation_code_unknown"}
    assert (await bucket_counts(db))["address:home"] == 1
    assert (await activate(db, other_code, client="home", link_key=key))["ok"]


async def test_the_global_ceiling_holds_everyone_but_personal_links(db: Database) -> None:
    """Failures from many addresses together reach the ceiling (here set low): then every
    typed code waits, and the personal links still work."""
    member, typed = people(2)
    codes = await invite(db, [member, typed])
    ceiling = {"activation_global_limit": 20}
    for i in range(20):
        reply = await call(db, Ops.ACTIVATE, activation(guess(), f"bot-{i}"), **ceiling)
        assert reply["error"]["code"] == "invalid"
    fresh = await call(
        db, Ops.ACTIVATE, activation(codes[str(typed.person_id)], "a-new-address"), **ceiling
    )
    assert fresh["error"]["code"] == "throttled"
    code, key = await personal_link(db, member)
    linked = await call(
        db, Ops.ACTIVATE, activation(code, "a-new-address", link_key=key), **ceiling
    )
    assert linked["ok"], linked
    # Switched off (0), the ceiling holds no one.
    off = {"activation_global_limit": 0}
    reply = await call(
        db, Ops.ACTIVATE, activation(codes[str(typed.person_id)], "a-new-address"), **off
    )
    assert reply["ok"], reply


async def test_a_full_bucket_opens_when_its_window_ends(db: Database) -> None:
    (person,) = people(1)
    code = (await invite(db, [person]))[str(person.person_id)]
    clock = clocks.manual(clocks.now())
    prefix = other_prefix(code)
    for _ in range(LIMITS.prefix):
        payload = activation(guess(prefix), "guesser")
        assert (await call(db, Ops.ACTIVATE, payload, clock=clock))["error"]["code"] == "invalid"
        clock.advance(timedelta(seconds=30))
    payload = activation(guess(prefix), "elsewhere")
    throttled = await call(db, Ops.ACTIVATE, payload, clock=clock)
    assert throttled["error"]["code"] == "throttled"
    # The prefix's window started at its first failure, 5 minutes ago: 10 minutes to go.
    assert throttled["error"]["retry_after_seconds"] == 10 * 60
    clock.advance(timedelta(minutes=10))
    reopened = await call(db, Ops.ACTIVATE, payload, clock=clock)
    assert reopened["error"]["code"] == "invalid"
    counts = await bucket_counts(db)
    assert counts[f"prefix:{prefix}"] == 1  # a new window
    assert "address:guesser" not in counts  # its window ended with the prefix's: pruned
    assert (await call(db, Ops.ACTIVATE, activation(code, "guesser"), clock=clock))["ok"]


async def test_an_expired_window_starts_again_and_expired_rows_go(db: Database) -> None:
    long_ago = clocks.now() - domain.FAILURE_WINDOW - timedelta(seconds=1)
    async with db.transaction() as session:
        await session.execute(
            insert(activation_failures),
            [
                {"bucket": "address:old", "window_start": long_ago, "failures": 500},
                {"bucket": "address:gone", "window_start": long_ago, "failures": 500},
            ],
        )
    reply = await activate(db, guess(), client="old")
    assert reply["error"]["code"] == "invalid"
    async with db.read() as session:
        rows = {r.bucket: r for r in (await session.execute(select(activation_failures))).all()}
    assert rows["address:old"].failures == 1 and rows["address:old"].window_start > long_ago
    assert "address:gone" not in rows


async def test_two_simultaneous_activations_of_one_code_have_one_winner(db: Database) -> None:
    invitees = people(5)
    codes = await invite(db, invitees)
    for code in codes.values():
        replies = await asyncio.gather(
            *(activate(db, code, client=f"c{i}", email=f"m{i}@example.nl") for i in range(4))
        )
        winners = [r for r in replies if r["ok"]]
        assert len(winners) == 1, replies
        losers = [r["error"]["reason"] for r in replies if not r["ok"]]
        assert losers == ["activation_code_used"] * 3
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
    assert reply["error"]["reason"] == "membership_already_active"
    assert field_reasons(reply) == {"code": "membership_already_active"}
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


# --- the tenant check (R-ROLE-6) ---------------------------------------------------------------
# A minimal valid request of every school-scoped operation, about SCHOOL.
SCOPED_REQUESTS: dict[str, dict[str, Any]] = {
    Ops.END.name: {"school_id": str(SCHOOL), "person_id": str(uuid.uuid4())},
}


def _actor_of(school: uuid.UUID, permission: Permission) -> Actor:
    """Someone of `school` holding the permission there, when a school's role can; else a
    budget holder of that school."""
    role = next(
        (
            r
            for r in Role
            if r not in CROSS_TENANT_ROLES and permission in ROLE_PERMISSIONS.get(r, frozenset())
        ),
        Role.BUDGET_HOLDER,
    )
    return Actor(user_id=uuid.uuid4(), role=role, school_id=school)


async def test_every_school_scoped_operation_refuses_another_schools_actor(db: Database) -> None:
    scoped = [op for op in operations_of(Ops) if op.school_scoped]
    assert {op.name for op in scoped} == set(SCOPED_REQUESTS)
    for op in scoped:
        assert op.permission is not None
        stranger = _actor_of(OTHER_SCHOOL, op.permission)
        reply = await call(db, op, SCOPED_REQUESTS[op.name], stranger)
        assert reply["error"]["code"] == "forbidden", (op.name, reply)


async def test_the_code_check_says_only_whether_it_can_be_a_code(db: Database) -> None:
    """Issue 14: asked by the activation page when it refuses the form for its own reasons."""
    bad = await call(db, Ops.CHECK_ACTIVATION_CODE, {"code": "ABC"})
    assert bad["ok"], bad
    assert bad["result"]["fields"] == {
        "code": {"reason": "activation_code_malformed", "params": {}}
    }
    fine = await call(db, Ops.CHECK_ACTIVATION_CODE, {"code": "abcd-efgh-jkmn"})
    assert fine["result"]["fields"] == {}
    blank = await call(db, Ops.CHECK_ACTIVATION_CODE, {"code": ""})
    assert blank["result"]["fields"] == {}
