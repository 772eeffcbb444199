"""Card payments from students' individual budget, on SQLite and PostgreSQL (R-WEB-6,
R-BUDGET-6/8, R-ROSTER-7): the card number comes from MembershipActivated; a charge is never
more than the student has left, once per provider reference, and never touches the school's
collective balance."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from typing import Any

from ck_budget.consumers import members_consumer
from ck_budget.ops import router
from ck_budget.tables import allocations, card_payments, student_memberships
from ck_contracts.budget import Ops
from ck_contracts.membership import EndReason, MembershipActivated, MembershipEnded
from ck_contracts.operations import Operation
from ck_contracts.roles import Actor, Role
from ck_contracts.roster import PersonRemoved, RosterKind
from ck_contracts.rpc import RpcRequest
from ck_runtime.db import Database
from sqlalchemy import func, select

World = Any  # the `world` fixture of conftest.py

PAID = "budget.card_payment.made"


async def student_with_budget(world: World, cents: int) -> uuid.UUID:
    """An active student of world.school with `cents` individual budget assigned."""
    student = uuid.uuid4()
    await world.activate(student)
    await world.paid(0, cents, number=f"{student.int % 10**8:08d}")
    await world.ok(
        Ops.ALLOCATE,
        {"school_id": world.school, "person_ids": [student], "amount_cents_each": cents},
    )
    return student


def charge(card: str, cents: int, reference: str | None = None, text: str = "") -> dict[str, Any]:
    return {
        "card_number": card,
        "amount_cents": cents,
        "description": text or "Bioscoopkaartje Louis Hartlooper Complex",
        "provider_reference": reference or uuid.uuid4().hex,
    }


async def allocation(world: World, student: uuid.UUID) -> tuple[int, int] | None:
    async with world.db.read() as session:
        row = (
            await session.execute(select(allocations).where(allocations.c.person_id == student))
        ).first()
    return (row.allocated_cents, row.spent_cents) if row else None


async def test_a_card_payment_comes_off_the_students_budget(world: World) -> None:
    student = await student_with_budget(world, 2_000)
    provider = world.provider(uuid.uuid4())
    before = await world.ok(Ops.LEDGER, {"school_id": world.school})
    result = await world.ok(Ops.CARD_CHARGE, charge(world.card(student), 1_250), provider)
    assert result["amount_cents"] == 1_250 and result["remaining_cents"] == 750
    assert await allocation(world, student) == (2_000, 1_250)
    (event,) = await world.published(PAID)
    assert event["school_id"] == str(world.school)
    assert event["payment_id"] == result["payment_id"]
    assert event["person_id"] == str(student)
    assert event["provider_id"] == str(provider.provider_id)
    assert event["amount_cents"] == 1_250
    assert event["description"] == "Bioscoopkaartje Louis Hartlooper Complex"
    assert datetime.fromisoformat(event["paid_at"]) == world.clock.now()
    # The collective balance, its ledger and the assignable pool are not touched.
    assert await world.ok(Ops.LEDGER, {"school_id": world.school}) == before


async def test_a_payment_beyond_the_budget_is_refused(world: World) -> None:
    student = await student_with_budget(world, 2_000)
    provider = world.provider(uuid.uuid4())
    await world.ok(Ops.CARD_CHARGE, charge(world.card(student), 1_250), provider)
    error = await world.error(Ops.CARD_CHARGE, charge(world.card(student), 1_000), provider)
    assert error["code"] == "conflict"
    assert error["reason"] == "insufficient_card_budget"
    assert error["params"] == {"left_cents": 750, "amount_cents": 1_000}
    await world.ok(Ops.CARD_CHARGE, charge(world.card(student), 750), provider)  # all of it
    error = await world.error(Ops.CARD_CHARGE, charge(world.card(student), 1), provider)
    assert error["params"] == {"left_cents": 0, "amount_cents": 1}
    assert await allocation(world, student) == (2_000, 2_000)
    assert len(await world.published(PAID)) == 2


async def test_a_student_without_assigned_budget_cannot_pay(world: World) -> None:
    student = uuid.uuid4()
    await world.activate(student)
    error = await world.error(
        Ops.CARD_CHARGE, charge(world.card(student), 500), world.provider(uuid.uuid4())
    )
    assert error["code"] == "conflict" and error["params"]["left_cents"] == 0
    assert await allocation(world, student) is None


async def test_a_retried_charge_gets_the_same_answer(world: World) -> None:
    student = await student_with_budget(world, 2_000)
    provider = world.provider(uuid.uuid4())
    request = charge(world.card(student), 800, reference="kassa-7/bon-0042")
    first = await world.ok(Ops.CARD_CHARGE, request, provider)
    again = await world.ok(Ops.CARD_CHARGE, request, world.provider(provider.provider_id))
    assert again == first
    assert await allocation(world, student) == (2_000, 800)
    assert len(await world.published(PAID)) == 1
    # The same reference for another amount is a mistake, not a retry.
    error = await world.error(
        Ops.CARD_CHARGE, {**request, "amount_cents": 900}, world.provider(provider.provider_id)
    )
    assert error["code"] == "conflict" and error["reason"] == "payment_reference_reused"
    classmate = await student_with_budget(world, 2_000)
    error = await world.error(
        Ops.CARD_CHARGE,
        {**request, "card_number": world.card(classmate)},
        world.provider(provider.provider_id),
    )
    assert error["code"] == "conflict" and error["reason"] == "payment_reference_reused"
    assert await allocation(world, classmate) == (2_000, 0)
    # Another provider's reference is its own.
    other = await world.ok(Ops.CARD_CHARGE, request, world.provider(uuid.uuid4()))
    assert other["payment_id"] != first["payment_id"] and other["remaining_cents"] == 400
    # A retry after the end of the programme period still gets its answer.
    ends_on = world.settings.spending_ends_on
    world.clock.set(datetime(ends_on.year, 8, 1, 12, 0, tzinfo=world.start.tzinfo))
    assert await world.ok(Ops.CARD_CHARGE, request, provider) == first


async def test_retries_at_the_same_moment_pay_once(world: World) -> None:
    student = await student_with_budget(world, 2_000)
    provider = world.provider(uuid.uuid4())
    request = charge(world.card(student), 300, reference="bon-1")
    other = Database(world.db.url)
    try:
        replies = await asyncio.gather(
            *(
                world.call(Ops.CARD_CHARGE, request, provider)
                if i % 2
                else _call_on(world, other, Ops.CARD_CHARGE, request, provider)
                for i in range(8)
            )
        )
    finally:
        await other.dispose()
    assert all(reply["ok"] for reply in replies), replies
    assert len({reply["result"]["payment_id"] for reply in replies}) == 1
    assert await allocation(world, student) == (2_000, 300)
    assert len(await world.published(PAID)) == 1


async def _call_on(
    world: World, db: Database, op: Operation[Any, Any], payload: Any, actor: Actor
) -> Any:
    """An operation through another engine (another replica of the service)."""
    payload = {k: str(v) if isinstance(v, uuid.UUID) else v for k, v in payload.items()}
    request = RpcRequest(op=op.name, actor=actor, payload=payload)
    return await router.dispatch(request, db, world.settings, world.clock)


async def test_charges_at_the_same_moment_never_overspend(world: World) -> None:
    """Ten charges of EUR 3,00 at once on EUR 10,00 -> exactly three, EUR 1,00 left."""
    student = await student_with_budget(world, 1_000)
    provider = world.provider(uuid.uuid4())
    other = Database(world.db.url)
    try:
        replies = await asyncio.gather(
            *(
                _call_on(
                    world,
                    world.db if i % 2 else other,
                    Ops.CARD_CHARGE,
                    charge(world.card(student), 300),
                    provider,
                )
                for i in range(10)
            )
        )
    finally:
        await other.dispose()
    assert sum(reply["ok"] for reply in replies) == 3, replies
    assert {reply["error"]["code"] for reply in replies if not reply["ok"]} == {"conflict"}
    assert await allocation(world, student) == (1_000, 900)
    assert sorted(r["result"]["remaining_cents"] for r in replies if r["ok"]) == [100, 400, 700]
    assert len(await world.published(PAID)) == 3


async def test_unknown_and_inactive_cards(world: World) -> None:
    provider = world.provider(uuid.uuid4())
    error = await world.error(Ops.CARD_CHARGE, charge("CJP0000000000000", 100), provider)
    assert error == {**error, "code": "not_found", "reason": "unknown_card"}
    student = await student_with_budget(world, 1_000)
    ended = MembershipEnded(
        school_id=world.school,
        person_id=student,
        kind=RosterKind.STUDENTS,
        reason=EndReason.ENDED_BY_CJP,
    )
    world.clock.advance(timedelta(seconds=1))
    await members_consumer(world.clock).handle(ended.envelope(), world.db)
    error = await world.error(Ops.CARD_CHARGE, charge(world.card(student), 100), provider)
    assert error["code"] == "conflict"
    assert error["reason"] == "card_not_active"
    # A removed student's card is unknown.
    removed = PersonRemoved(school_id=world.school, person_id=student, kind=RosterKind.STUDENTS)
    await members_consumer(world.clock).handle(removed.envelope(), world.db)
    error = await world.error(Ops.CARD_CHARGE, charge(world.card(student), 100), provider)
    assert error["code"] == "not_found"


async def test_activating_again_brings_a_new_card_number(world: World) -> None:
    student = await student_with_budget(world, 1_000)
    provider = world.provider(uuid.uuid4())
    old = world.card(student)
    await world.ok(Ops.CARD_CHARGE, charge(old, 100), provider)
    members = members_consumer(world.clock)
    new = MembershipActivated(
        school_id=world.school,
        person_id=student,
        kind=RosterKind.STUDENTS,
        card_number="CJP9999999999999",
        occurred_at=world.clock.now() + timedelta(days=1),
    )
    await members.handle(new.envelope(), world.db)
    error = await world.error(Ops.CARD_CHARGE, charge(old, 100), provider)
    assert error["code"] == "not_found"
    result = await world.ok(Ops.CARD_CHARGE, charge("CJP9999999999999", 100), provider)
    assert result["remaining_cents"] == 800  # the same budget, another card
    # An older activation arriving late does not bring the old card back.
    late = MembershipActivated(
        school_id=world.school,
        person_id=student,
        kind=RosterKind.STUDENTS,
        card_number=old,
        occurred_at=world.clock.now() - timedelta(days=1),
    )
    await members.handle(late.envelope(), world.db)
    async with world.db.read() as session:
        card = (
            await session.execute(
                select(student_memberships.c.card_number).where(
                    student_memberships.c.person_id == student
                )
            )
        ).scalar_one()
    assert card == "CJP9999999999999"


async def test_a_removed_students_tombstone_keeps_no_card_number(world: World) -> None:
    """R-AVG-2: the projection forgets the card with the person; a late activation event (sent
    before the removal) does not bring it back."""
    student = await student_with_budget(world, 1_000)
    members = members_consumer(world.clock)
    removed = PersonRemoved(school_id=world.school, person_id=student, kind=RosterKind.STUDENTS)
    await members.handle(removed.envelope(), world.db)
    late = MembershipActivated(
        school_id=world.school,
        person_id=student,
        kind=RosterKind.STUDENTS,
        card_number=world.card(student),
        occurred_at=world.clock.now() + timedelta(seconds=1),
    )
    await members.handle(late.envelope(), world.db)
    async with world.db.read() as session:
        row = (
            await session.execute(
                select(student_memberships).where(student_memberships.c.person_id == student)
            )
        ).one()
    assert (row.removed, row.active, row.card_number) == (True, False, None)


async def test_removal_returns_only_what_was_not_paid_with_the_card(world: World) -> None:
    student = await student_with_budget(world, 2_000)
    await world.ok(
        Ops.CARD_CHARGE, charge(world.card(student), 1_250), world.provider(uuid.uuid4())
    )
    pool = (await world.ok(Ops.LEDGER, {"school_id": world.school}))["assignable_individual_cents"]
    removed = PersonRemoved(school_id=world.school, person_id=student, kind=RosterKind.STUDENTS)
    await members_consumer(world.clock).handle(removed.envelope(), world.db)
    after = await world.ok(Ops.LEDGER, {"school_id": world.school})
    assert after["assignable_individual_cents"] == pool + 750
    # The payment itself stays on record (the export and the dossier have their event).
    async with world.db.read() as session:
        count = (
            await session.execute(select(func.count()).select_from(card_payments))
        ).scalar_one()
    assert count == 1


async def test_removal_and_payment_at_the_same_moment_never_give_back_what_was_spent(
    world: World,
) -> None:
    for _ in range(8):
        student = await student_with_budget(world, 1_000)
        before = (await world.ok(Ops.LEDGER, {"school_id": world.school}))[
            "assignable_individual_cents"
        ]
        removed = PersonRemoved(school_id=world.school, person_id=student, kind=RosterKind.STUDENTS)
        other = Database(world.db.url)
        try:
            reply, _ = await asyncio.gather(
                _call_on(
                    world,
                    other,
                    Ops.CARD_CHARGE,
                    charge(world.card(student), 600),
                    world.provider(uuid.uuid4()),
                ),
                members_consumer(world.clock).handle(removed.envelope(), world.db),
            )
        finally:
            await other.dispose()
        pool = (await world.ok(Ops.LEDGER, {"school_id": world.school}))[
            "assignable_individual_cents"
        ]
        # Either the payment went first (400 back) or the removal did (all 1000 back, and the
        # card was refused); never 1000 back and 600 paid.
        assert pool - before == (400 if reply["ok"] else 1_000), reply


async def test_only_providers_charge_cards(world: World) -> None:
    student = await student_with_budget(world, 1_000)
    request = charge(world.card(student), 100)
    for actor in (world.holder(), world.admin()):
        assert (await world.error(Ops.CARD_CHARGE, request, actor))["code"] == "forbidden"
    no_provider = Actor(user_id=uuid.uuid4(), role=Role.PROVIDER)
    assert (await world.error(Ops.CARD_CHARGE, request, no_provider))["code"] == "forbidden"
    reply = await world.call(Ops.CARD_CHARGE, request, None)
    assert reply["error"]["code"] == "unauthenticated"
    assert await allocation(world, student) == (1_000, 0)


async def test_no_card_payments_after_the_programme_period(world: World) -> None:
    student = await student_with_budget(world, 1_000)
    ends_on = world.settings.spending_ends_on
    world.clock.set(datetime(ends_on.year, 8, 1, 12, 0, tzinfo=world.start.tzinfo))
    error = await world.error(
        Ops.CARD_CHARGE, charge(world.card(student), 100), world.provider(uuid.uuid4())
    )
    assert error["code"] == "conflict" and error["reason"] == "period_over"
    assert await allocation(world, student) == (1_000, 0)


async def test_allocations_show_assigned_spent_and_left_per_student(world: World) -> None:
    """Issue 14 (Budget toewijzen shows the money): per student and in total, only this
    school's students, for some ids (a page of the list) or all (the export)."""
    anna = await student_with_budget(world, 2_000)
    bram = await student_with_budget(world, 1_000)
    nobody = uuid.uuid4()  # on the list, never assigned anything
    await world.ok(Ops.CARD_CHARGE, charge(world.card(anna), 1_250), world.provider(uuid.uuid4()))
    some = await world.ok(
        Ops.ALLOCATIONS, {"school_id": world.school, "person_ids": [bram, nobody, anna]}
    )
    assert [
        (i["person_id"], i["allocated_cents"], i["spent_cents"], i["left_cents"])
        for i in some["items"]
    ] == [
        (str(bram), 1_000, 0, 1_000),
        (str(anna), 2_000, 1_250, 750),
    ]
    assert (some["allocated_cents"], some["spent_cents"], some["left_cents"]) == (
        3_000,
        1_250,
        1_750,
    )
    everyone = await world.ok(Ops.ALLOCATIONS, {"school_id": world.school})
    assert {i["person_id"] for i in everyone["items"]} == {str(anna), str(bram)}
    # Another school's budget holder sees nothing of these students.
    other = uuid.uuid4()
    refused = await world.error(Ops.ALLOCATIONS, {"school_id": world.school}, world.holder(other))
    assert refused["code"] == "forbidden"
