"""Issue 13, the weborder lifecycle (SQLite and PostgreSQL): a refusal for lack of balance is
stored as a reason code with params and can be approved again ("opnieuw goedkeuren") exactly
once; a refusal for the end of the programme period stays final; refusals sent or stored as
Dutch text before keep working; the school marks participants from its roster and a provider
names them by CJP card number (a keyed hash, never the number), and they reach the dossier."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime
from typing import Any

from alembic import command
from ck_contracts.audit import AuditAction, AuditRole
from ck_contracts.budget import BudgetDebitRefused
from ck_contracts.membership import MembershipActivated
from ck_contracts.roster import RosterKind
from ck_contracts.weborders import Ops
from ck_runtime.db import Database
from ck_runtime.migrations import alembic_config, upgrade_async
from ck_runtime.outbox import OUTBOX
from ck_testkit.audit import entries
from sqlalchemy import select, text

World = Any
AT = datetime(2024, 1, 1, tzinfo=UTC)
BALANCE = {"balance_cents": 1_000, "amount_cents": 31_250, "shortfall_cents": 30_250}


async def _outbox(world: World, routing_key: str) -> list[dict[str, Any]]:
    async with world.db.read() as session:
        rows = await session.execute(
            select(OUTBOX.c.body).where(OUTBOX.c.routing_key == routing_key).order_by(OUTBOX.c.seq)
        )
        return [dict(r.body) for r in rows]


async def _refuse(world: World, weborder_id: str, code: str, params: dict[str, Any]) -> None:
    await world.feed(
        BudgetDebitRefused(
            school_id=world.school,
            reference_id=uuid.UUID(weborder_id),
            kind="weborder",
            code=code,
            params=params,
        )
    )


async def _refused_weborder(world: World) -> str:
    made = await world.create()
    await world.approve(made["weborder_id"])
    await _refuse(
        world, made["weborder_id"], "insufficient_balance", {**BALANCE, "kind": "weborder"}
    )
    return str(made["weborder_id"])


def _reapprove(world: World, weborder_id: str, school: uuid.UUID | None = None) -> dict[str, Any]:
    school = school or world.school
    return {"school_id": school, "weborder_id": weborder_id}


async def _get(world: World, weborder_id: str) -> dict[str, Any]:
    return dict(
        await world.ok(
            Ops.WEBORDER_GET_OWN, {"api_key": world.keys["A"], "weborder_id": weborder_id}
        )
    )


async def test_a_refusal_is_stored_as_a_code_with_params(world: World) -> None:
    weborder_id = await _refused_weborder(world)
    got = await _get(world, weborder_id)
    assert got["status"] == "geweigerd" and got["reason"] == ""
    assert got["refusal_code"] == "insufficient_balance"
    assert got["refusal_params"] == {**BALANCE, "kind": "weborder"}
    assert got["reapprovable"] is True and got["attempt"] == 1
    ref = {"school_id": world.school, "weborder_id": weborder_id}
    assert await world.ok(Ops.WEBORDER_GET, ref, world.docent()) == got
    other = {"school_id": world.other_school, "weborder_id": weborder_id}
    missing = await world.error(Ops.WEBORDER_GET, other, world.holder(world.other_school))
    assert missing["code"] == "not_found"


async def test_a_weborder_refused_for_balance_is_approved_again_once(world: World) -> None:
    weborder_id = await _refused_weborder(world)
    holder = world.holder()
    again = await world.ok(Ops.WEBORDER_REAPPROVE, _reapprove(world, weborder_id), holder)
    assert again["status"] == "in_behandeling" and again["attempt"] == 2
    assert again["refusal_code"] == "" and again["reapprovable"] is False
    approvals = await _outbox(world, "weborders.weborder.approved")
    assert [a["weborder_id"] for a in approvals] == [weborder_id, weborder_id]
    assert len({a["id"] for a in approvals}) == 2  # a new event: the budget decides afresh
    (told,) = await _outbox(world, "weborders.weborder.reapproved")
    assert told["weborder_id"] == weborder_id and told["attempt"] == 2
    assert told["provider_id"] == str(world.providers["A"]) and told["amount_cents"] == 31_250
    # A second click: the weborder is no longer refused.
    error = await world.error(Ops.WEBORDER_REAPPROVE, _reapprove(world, weborder_id), holder)
    assert error["code"] == "conflict" and error["reason"] == "weborder_not_refused"
    assert error["params"] == {"status": "in_behandeling"}
    # The budget debits it: approved, and the settlement names the provider and the attempt.
    await world.debited(weborder_id, amount=31_250)
    assert (await _get(world, weborder_id))["status"] == "goedgekeurd"
    (settled,) = await _outbox(world, "weborders.weborder.settled")
    assert settled["attempt"] == 2 and settled["provider_id"] == str(world.providers["A"])
    assert len(await _outbox(world, "weborders.weborder.approved")) == 2
    # The provider heard of the refusal (code + params, no Dutch), then of the approval.
    mails = await _outbox(world, "notifier.email.requested")
    assert [m["template"] for m in mails] == ["weborder_refused", "weborder_approved"]
    assert mails[0]["context"]["refusal_code"] == "insufficient_balance"
    assert mails[0]["context"]["reason"] == ""
    # The audit trail (issue 13): the re-approval is an approval by the budget holder who
    # clicked, with the attempt; the first approval's entry stays.
    approved = [e for e in await entries(world.db) if e.subject_id == weborder_id]
    assert [e.action for e in approved] == [AuditAction.WEBORDER_APPROVED] * 2
    assert (approved[1].actor_id, approved[1].actor_role) == (
        holder.user_id,
        AuditRole.BUDGET_HOLDER,
    )
    assert approved[1].details == {"amount_cents": 31_250, "attempt": 2}
    assert approved[1].school_id == world.school
    assert approved[1].provider_id == world.providers["A"]


async def test_simultaneous_reapprovals_start_one_debit(world: World) -> None:
    weborder_id = await _refused_weborder(world)
    replies = await asyncio.gather(
        *(
            world.call(Ops.WEBORDER_REAPPROVE, _reapprove(world, weborder_id), world.holder())
            for _ in range(5)
        )
    )
    assert sum(r["ok"] for r in replies) == 1, replies
    assert {r["error"]["reason"] for r in replies if not r["ok"]} == {"weborder_not_refused"}
    assert len(await _outbox(world, "weborders.weborder.approved")) == 2
    assert len(await _outbox(world, "weborders.weborder.reapproved")) == 1


async def test_a_refusal_for_the_end_of_the_period_is_final(world: World) -> None:
    made = await world.create()
    await world.approve(made["weborder_id"])
    await _refuse(world, made["weborder_id"], "period_over", {"ends_on": "2027-07-31"})
    got = await _get(world, made["weborder_id"])
    assert got["refusal_code"] == "period_over" and got["reapprovable"] is False
    error = await world.error(
        Ops.WEBORDER_REAPPROVE, _reapprove(world, made["weborder_id"]), world.holder()
    )
    assert error["code"] == "conflict" and error["reason"] == "weborder_refusal_final"
    assert error["params"] == {"code": "period_over"}
    assert len(await _outbox(world, "weborders.weborder.approved")) == 1


async def test_reapproval_is_for_the_budget_holder_of_the_school_and_a_refused_weborder(
    world: World,
) -> None:
    weborder_id = await _refused_weborder(world)
    other = world.holder(world.other_school)
    mine_as_theirs = _reapprove(world, weborder_id, world.other_school)
    assert (await world.error(Ops.WEBORDER_REAPPROVE, mine_as_theirs, other))["code"] == (
        "not_found"
    )
    forbidden = await world.error(
        Ops.WEBORDER_REAPPROVE, _reapprove(world, weborder_id), world.docent()
    )
    assert forbidden["code"] == "forbidden"
    cross = await world.error(Ops.WEBORDER_REAPPROVE, _reapprove(world, weborder_id), other)
    assert cross["code"] == "forbidden"
    fresh = await world.create()
    error = await world.error(
        Ops.WEBORDER_REAPPROVE, _reapprove(world, fresh["weborder_id"]), world.holder()
    )
    assert error["reason"] == "weborder_not_refused" and error["params"] == {"status": "ingediend"}


async def test_a_refusal_in_dutch_from_an_older_budget_service_still_works(world: World) -> None:
    made = await world.create()
    await world.approve(made["weborder_id"])
    await world.refused(made["weborder_id"])  # reason="Het saldo is te laag: ...", no code
    got = await _get(world, made["weborder_id"])
    assert got["reason"].startswith("Het saldo is te laag") and got["refusal_params"] == {}
    assert got["refusal_code"] == "insufficient_balance" and got["reapprovable"] is True
    again = await world.ok(
        Ops.WEBORDER_REAPPROVE, _reapprove(world, made["weborder_id"]), world.holder()
    )
    assert again["status"] == "in_behandeling" and again["reason"] == ""


async def test_the_migration_recognises_refusals_stored_as_dutch(database_url: str) -> None:
    config = alembic_config("weborders", database_url)
    await asyncio.to_thread(command.upgrade, config, "c13a0d1e5e01")  # the revision before
    db = Database(database_url)
    provider = uuid.uuid4()
    texts = {
        "balance": "Onvoldoende saldo: het saldo is € 40,00, de weborder kost € 55,00.",
        "period": "De programmaperiode is voorbij (budget was te besteden tot en met 31-07-2024).",
        "rejected": "Te duur",
    }
    ids = {name: uuid.uuid4() for name in texts}
    async with db.transaction() as session:
        await session.execute(
            text(
                "INSERT INTO providers (id, name, kvk_number, contact_name, contact_email, "
                "created_at) VALUES (:id, 'T', '11112222', 'C', 'c@t.example', :at)"
            ),
            {"id": _uuid(provider, database_url), "at": AT},
        )
        for name, reason in texts.items():
            await session.execute(
                text(
                    "INSERT INTO weborders (id, school_id, provider_id, status, school_number, "
                    "activity, activity_date, participants, amount_cents, provider_reference, "
                    "docent_plus_email, reason, created_at) VALUES (:id, :school, :provider, "
                    ":status, 1, 'A', :day, 1, 100, '', '', :reason, :at)"
                ),
                {
                    "id": _uuid(ids[name], database_url),
                    "school": _uuid(uuid.uuid4(), database_url),
                    "provider": _uuid(provider, database_url),
                    "status": "afgekeurd" if name == "rejected" else "geweigerd",
                    "reason": reason,
                    "day": date(2024, 3, 1),
                    "at": AT,
                },
            )
    await db.dispose()
    await upgrade_async("weborders", database_url)
    from ck_weborders.tables import weborders

    db = Database(database_url)
    async with db.read() as session:
        rows = await session.execute(
            select(
                weborders.c.id, weborders.c.refusal_code, weborders.c.reason, weborders.c.attempt
            )
        )
        found = {r.id: (r.refusal_code, r.reason, r.attempt) for r in rows}
    await db.dispose()
    assert found[ids["balance"]] == ("insufficient_balance", texts["balance"], 1)
    assert found[ids["period"]] == ("period_over", texts["period"], 1)
    assert found[ids["rejected"]] == ("", "Te duur", 1)


def _uuid(value: uuid.UUID, database_url: str) -> Any:
    """SQLAlchemy's Uuid is CHAR(32) hex on SQLite, a native uuid on PostgreSQL."""
    return value if "postgresql" in database_url else value.hex


# --- participants ---------------------------------------------------------------------------
def _mark(
    world: World, weborder_id: str, add: list[Any], remove: tuple[Any, ...] = ()
) -> dict[str, Any]:
    return {
        "school_id": world.school,
        "weborder_id": weborder_id,
        "add": add,
        "remove": list(remove),
    }


async def _dossier_activities(world: World, person: uuid.UUID) -> list[str]:
    dossier = await world.ok(
        Ops.DOSSIER_GET, {"school_id": world.school, "person_id": person}, world.docent()
    )
    return [e["text"] for e in dossier["entries"] if e["kind"] == "activiteit"]


async def test_the_school_marks_participants_from_its_roster(world: World) -> None:
    made = await world.create()
    weborder_id = made["weborder_id"]
    ann, bob, cas = [await world.student() for _ in range(3)]
    holder = world.holder()
    marked = await world.ok(Ops.PARTICIPANTS_MARK, _mark(world, weborder_id, [ann, bob]), holder)
    assert set(marked["participant_ids"]) == {str(ann), str(bob)}
    # One page's ticks: cas added, bob unticked, ann (not on this page) untouched; a repeat
    # changes nothing.
    for _ in range(2):
        marked = await world.ok(
            Ops.PARTICIPANTS_MARK, _mark(world, weborder_id, [cas], (bob,)), holder
        )
        assert set(marked["participant_ids"]) == {str(ann), str(cas)}
    # Not in the dossier until approved; then in each participant's dossier only.
    assert await _dossier_activities(world, ann) == []
    await world.approve(weborder_id)
    await world.debited(weborder_id, amount=31_250)
    assert await _dossier_activities(world, ann) == ["Voorstelling Hamlet (Theater A)"]
    assert await _dossier_activities(world, cas) == ["Voorstelling Hamlet (Theater A)"]
    assert await _dossier_activities(world, bob) == []
    # Still possible after approval (the activity took place).
    await world.ok(Ops.PARTICIPANTS_MARK, _mark(world, weborder_id, [bob]), holder)
    assert await _dossier_activities(world, bob) == ["Voorstelling Hamlet (Theater A)"]


async def test_only_the_school_s_own_students_can_be_marked(world: World) -> None:
    made = await world.create()
    weborder_id = made["weborder_id"]
    mine = await world.student()
    theirs = await world.student(world.other_school)
    teacher = uuid.uuid4()
    await world.enrol(teacher, kind=RosterKind.TEACHERS)
    for stranger in (theirs, teacher, uuid.uuid4()):
        error = await world.error(
            Ops.PARTICIPANTS_MARK, _mark(world, weborder_id, [mine, stranger]), world.holder()
        )
        assert error["code"] == "invalid" and error["reason"] == "participants_not_on_roster"
        assert error["params"]["count"] == 1
    got = await _get(world, weborder_id)
    assert got["participant_ids"] == []  # all or nothing
    # Another school's budget holder cannot reach the weborder; a Docent+ may not mark.
    other = {**_mark(world, weborder_id, [theirs]), "school_id": world.other_school}
    assert (await world.error(Ops.PARTICIPANTS_MARK, other, world.holder(world.other_school)))[
        "code"
    ] == "not_found"
    assert (
        await world.error(Ops.PARTICIPANTS_MARK, _mark(world, weborder_id, [mine]), world.docent())
    )["code"] == "forbidden"


async def test_a_rejected_weborder_takes_no_participants(world: World) -> None:
    made = await world.create()
    await world.ok(
        Ops.WEBORDER_DECIDE,
        {
            "school_id": world.school,
            "weborder_id": made["weborder_id"],
            "approve": False,
            "reason": "Te duur",
        },
        world.holder(),
    )
    student = await world.student()
    error = await world.error(
        Ops.PARTICIPANTS_MARK, _mark(world, made["weborder_id"], [student]), world.holder()
    )
    assert error["code"] == "conflict" and error["reason"] == "participants_not_markable"
    assert error["params"] == {"status": "afgekeurd"}


# --- participants by CJP card number -------------------------------------------------------
async def _activate(
    world: World,
    person: uuid.UUID,
    card: str,
    school: uuid.UUID | None = None,
    kind: RosterKind = RosterKind.STUDENTS,
) -> None:
    await world.feed(
        MembershipActivated(
            school_id=school or world.school, person_id=person, kind=kind, card_number=card
        )
    )


async def test_a_provider_names_participants_by_card_number(world: World) -> None:
    made = await world.create()
    weborder_id = made["weborder_id"]
    ann, bob = await world.student(), await world.student()
    theirs = await world.student(world.other_school)
    teacher = uuid.uuid4()
    await world.enrol(teacher, kind=RosterKind.TEACHERS)
    await _activate(world, ann, "1234567890128")
    await _activate(world, bob, "9876543210982")
    await _activate(world, theirs, "5555555555554", world.other_school)
    await _activate(world, teacher, "4444444444445", kind=RosterKind.TEACHERS)
    cards = ["1234 5678 9012 8", "0000000000000", "5555555555554", "4444444444445", "1234567890128"]
    named = await world.ok(
        Ops.PARTICIPANTS_BY_CARD,
        {"api_key": world.keys["A"], "weborder_id": weborder_id, "card_numbers": cards},
    )
    assert [r["outcome"] for r in named["results"]] == [
        "added",
        "card_unknown",
        "card_unknown",
        "card_unknown",
        "already_named",
    ]
    assert [r["card_number"] for r in named["results"]] == cards
    assert named["results"][1]["reason"] == "card_unknown"
    assert (named["added"], named["already_named"], named["unknown"]) == (1, 1, 3)
    assert (await _get(world, weborder_id))["participant_ids"] == [str(ann)]
    again = await world.ok(
        Ops.PARTICIPANTS_BY_CARD,
        {
            "api_key": world.keys["A"],
            "weborder_id": weborder_id,
            "card_numbers": ["9876543210982", "1234567890128"],
        },
    )
    assert [r["outcome"] for r in again["results"]] == ["added", "already_named"]
    await world.approve(weborder_id)
    await world.debited(weborder_id, amount=31_250)
    assert await _dossier_activities(world, bob) == ["Voorstelling Hamlet (Theater A)"]
    # Another provider cannot reach the weborder.
    error = await world.error(
        Ops.PARTICIPANTS_BY_CARD,
        {"api_key": world.keys["B"], "weborder_id": weborder_id, "card_numbers": ["9876543210982"]},
    )
    assert error["code"] == "not_found"


async def test_card_numbers_are_kept_only_as_keyed_hashes_and_go_with_the_student(
    world: World,
) -> None:
    from ck_weborders.tables import member_cards

    ann = await world.student()
    await _activate(world, ann, "1234567890128")
    async with world.db.read() as session:
        rows = (await session.execute(select(member_cards))).all()
    assert len(rows) == 1 and "1234567890128" not in str(tuple(rows[0]))
    await world.remove(ann)
    async with world.db.read() as session:
        assert (await session.execute(select(member_cards))).all() == []
    # An activation that arrives after the removal brings nothing back.
    await _activate(world, ann, "1234567890128")
    made = await world.create()
    named = await world.ok(
        Ops.PARTICIPANTS_BY_CARD,
        {
            "api_key": world.keys["A"],
            "weborder_id": made["weborder_id"],
            "card_numbers": ["1234567890128"],
        },
    )
    assert named["results"][0]["outcome"] == "card_unknown"
