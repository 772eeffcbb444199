"""Payments, the ledger, the active-students projection and Budget toewijzen, on SQLite and
PostgreSQL (R-BUDGET-5..8, R-INVOICE-4, R-ROSTER-7)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from ck_budget import store
from ck_budget.consumers import members_consumer, payments_consumer
from ck_budget.tables import allocations, balances, ledger_entries, student_memberships
from ck_contracts.budget import Ops
from ck_contracts.invoicing import InvoicePaid
from ck_contracts.membership import EndReason, MembershipActivated, MembershipEnded
from ck_contracts.roster import PersonRemoved, RosterKind
from ck_runtime.consumers import PoisonMessage
from ck_runtime.errors import Conflict
from ck_testkit import clocks
from sqlalchemy import func, select

World = Any  # the `world` fixture of conftest.py


async def ledger(world: World, school: uuid.UUID | None = None) -> dict[str, Any]:
    school = school or world.school
    return dict(await world.ok(Ops.LEDGER, {"school_id": school}, world.holder(school)))


async def assert_consistent(world: World) -> None:
    """The balance is the sum of the ledger; nothing is negative."""
    async with world.db.read() as session:
        for row in (await session.execute(select(balances))).all():
            total = (
                await session.execute(
                    select(func.coalesce(func.sum(ledger_entries.c.amount_cents), 0)).where(
                        ledger_entries.c.school_id == row.school_id
                    )
                )
            ).scalar_one()
            assert row.balance_cents == total
            assert row.balance_cents >= 0 and row.assignable_cents >= 0


async def test_a_paid_invoice_releases_the_budget_once(world: World) -> None:
    invoice = uuid.uuid4()
    assert await world.paid(21000, 10500, "22700986", invoice)
    # Redelivery of the same event: the inbox drops it. A second event for the same invoice
    # (the payment recorded twice): the release key drops it (R-INVOICE-4).
    event = InvoicePaid(
        school_id=world.school,
        invoice_id=invoice,
        order_id=uuid.uuid4(),
        number="22700986",
        collective_budget_cents=21000,
        individual_budget_cents=10500,
        paid_on=date(2026, 12, 10),
    )
    consumer = payments_consumer(world.clock)
    assert await consumer.handle(event.envelope(), world.db)  # new event id: handled ...
    assert not await consumer.handle(event.envelope(), world.db)  # ... redelivery: dropped
    result = await ledger(world)
    assert result["balance_cents"] == 21000
    assert result["assignable_individual_cents"] == 10500
    assert result["expired_cents"] == 0
    assert result["spending_ends_on"] == "2027-07-31"
    (entry,) = result["entries"]
    assert entry["description"] == "Factuur 22700986 betaald: collectief budget"
    assert entry["amount_cents"] == 21000 and entry["balance_cents"] == 21000
    await assert_consistent(world)


async def test_running_balance_over_several_payments(world: World) -> None:
    await world.paid(21000, 0, "22700986")
    world.clock.advance(timedelta(days=1))
    await world.paid(0, 5250, "22700990")  # individual only: no ledger entry
    world.clock.advance(timedelta(days=1))
    await world.paid(4200, 1050, "22701001")
    await world.paid(999, 0, "22701002", school=world.other_school)
    result = await ledger(world)
    assert [(e["amount_cents"], e["balance_cents"]) for e in result["entries"]] == [
        (21000, 21000),
        (4200, 25200),
    ]
    assert result["balance_cents"] == 25200
    assert result["assignable_individual_cents"] == 6300
    assert (await ledger(world, world.other_school))["balance_cents"] == 999
    await assert_consistent(world)


async def test_an_empty_ledger(world: World) -> None:
    result = await ledger(world)
    assert result["entries"] == [] and result["balance_cents"] == 0
    assert result["assignable_individual_cents"] == 0


async def test_expired_after_the_end_date(world: World) -> None:
    await world.paid(21000, 10500)
    world.clock.set(datetime(2027, 7, 31, 21, 59, tzinfo=UTC))  # 23:59 in Amsterdam
    assert (await ledger(world))["expired_cents"] == 0
    world.clock.set(datetime(2027, 7, 31, 22, 0, tzinfo=UTC))  # 1 August 00:00
    result = await ledger(world)
    assert result["expired_cents"] == 31500 and result["balance_cents"] == 21000
    await world.activate(pid := uuid.uuid4())
    error = await world.error(
        Ops.ALLOCATE, {"school_id": world.school, "person_ids": [pid], "amount_cents_each": 100}
    )
    assert error["code"] == "conflict" and error["reason"] == "period_over"


async def test_allocate_to_active_students(world: World) -> None:
    await world.paid(0, 3 * 1050)
    students = [uuid.uuid4() for _ in range(3)]
    await world.activate(*students)
    result = await world.ok(
        Ops.ALLOCATE,
        {
            "school_id": world.school,
            "person_ids": [*students, students[0]],
            "amount_cents_each": 1000,
        },
    )
    assert result == {
        "allocated_students": 3,
        "allocated_cents": 3000,
        "assignable_individual_cents": 150,
    }
    result = await world.ok(
        Ops.ALLOCATE,
        {"school_id": world.school, "person_ids": students[:1], "amount_cents_each": 50},
    )
    assert result["assignable_individual_cents"] == 100
    async with world.db.read() as session:
        rows = dict(
            (
                await session.execute(
                    select(allocations.c.person_id, allocations.c.allocated_cents)
                )
            ).all()
        )
    assert rows == {students[0]: 1050, students[1]: 1000, students[2]: 1000}


async def test_allocation_beyond_the_pool_is_refused_whole(world: World) -> None:
    await world.paid(0, 2000)
    students = [uuid.uuid4() for _ in range(3)]
    await world.activate(*students)
    error = await world.error(
        Ops.ALLOCATE, {"school_id": world.school, "person_ids": students, "amount_cents_each": 1050}
    )
    assert error["code"] == "conflict"
    assert error["reason"] == "insufficient_assignable"
    assert error["params"]["needed_cents"] == 3150 and error["params"]["shortfall_cents"] == 1150
    assert (await ledger(world))["assignable_individual_cents"] == 2000
    async with world.db.read() as session:
        assert (await session.execute(select(allocations))).first() is None


async def test_only_students_with_an_active_membership(world: World) -> None:
    await world.paid(0, 10_000)
    active, ended, teacher, elsewhere, unknown = (uuid.uuid4() for _ in range(5))
    await world.activate(active, ended)
    await world.activate(elsewhere, school=world.other_school)
    consumer = members_consumer(world.clock)
    later = clocks.now() + timedelta(seconds=5)
    await consumer.handle(
        MembershipEnded(
            school_id=world.school,
            person_id=ended,
            kind=RosterKind.STUDENTS,
            reason=EndReason.ENDED_BY_CJP,
            occurred_at=later,
        ).envelope(),
        world.db,
    )
    await consumer.handle(
        MembershipActivated(
            school_id=world.school, person_id=teacher, kind=RosterKind.TEACHERS, card_number="2"
        ).envelope(),
        world.db,
    )
    for pid in (ended, teacher, elsewhere, unknown):
        error = await world.error(
            Ops.ALLOCATE,
            {"school_id": world.school, "person_ids": [active, pid], "amount_cents_each": 100},
        )
        assert error["code"] == "invalid"
        assert error["reason"] == "students_not_active.one"
        assert error["params"] == {"inactive": 1, "chosen": 2}
    assert (await ledger(world))["assignable_individual_cents"] == 10_000
    # An older activation arriving late does not undo the end.
    await consumer.handle(
        MembershipActivated(
            school_id=world.school,
            person_id=ended,
            kind=RosterKind.STUDENTS,
            card_number="1",
            occurred_at=later - timedelta(seconds=1),
        ).envelope(),
        world.db,
    )
    async with world.db.read() as session:
        row = (
            await session.execute(
                select(student_memberships).where(student_memberships.c.person_id == ended)
            )
        ).one()
    assert row.active is False


async def test_removed_student_returns_unspent_budget(world: World) -> None:
    """R-ROSTER-7: the allocation goes back to the pool, once; the student stays gone."""
    await world.paid(0, 3000)
    stays, leaves = uuid.uuid4(), uuid.uuid4()
    await world.activate(stays, leaves)
    await world.ok(
        Ops.ALLOCATE,
        {"school_id": world.school, "person_ids": [stays, leaves], "amount_cents_each": 1000},
    )
    async with world.db.transaction() as session:  # a card payment of 300 (R-WEB-6, later)
        await session.execute(
            allocations.update().where(allocations.c.person_id == leaves).values(spent_cents=300)
        )
    consumer = members_consumer(world.clock)
    removed = PersonRemoved(school_id=world.school, person_id=leaves, kind=RosterKind.STUDENTS)
    assert await consumer.handle(removed.envelope(), world.db)
    assert not await consumer.handle(removed.envelope(), world.db)
    again = PersonRemoved(school_id=world.school, person_id=leaves, kind=RosterKind.STUDENTS)
    assert await consumer.handle(again.envelope(), world.db)  # nothing left to return
    assert (await ledger(world))["assignable_individual_cents"] == 1000 + 700
    # A late activation cannot bring the removed student back.
    await world.activate(leaves)
    error = await world.error(
        Ops.ALLOCATE, {"school_id": world.school, "person_ids": [leaves], "amount_cents_each": 1}
    )
    assert error["code"] == "invalid"
    async with world.db.read() as session:
        left = (await session.execute(select(allocations.c.person_id))).scalars().all()
    assert left == [stays]
    await assert_consistent(world)


async def test_debits_never_overspend_even_at_the_same_moment(world: World) -> None:
    """The debit weborders will use (issue 6): 10 concurrent debits of 30.00 on 100.00 ->
    exactly 3 succeed, the balance stays >= 0 and equals the ledger (R-BUDGET-7, R-WEB-2)."""
    await world.paid(10_000, 0)
    ends_on = world.settings.spending_ends_on

    async def one(i: int) -> bool:
        try:
            async with world.db.transaction() as session:
                await store.debit_balance(
                    session, world.school, 3_000, f"Weborder {i}", world.clock.now(), ends_on
                )
        except Conflict as refused:
            assert refused.reason == "insufficient_balance"
            return False
        return True

    results = await asyncio.gather(*(one(i) for i in range(10)))
    assert sum(results) == 3
    result = await ledger(world)
    assert result["balance_cents"] == 1_000
    assert [e["balance_cents"] for e in result["entries"]] == [10_000, 7_000, 4_000, 1_000]
    await assert_consistent(world)


async def test_impossible_payments_are_poison(world: World) -> None:
    consumer = payments_consumer(world.clock)
    order = await world.ok(
        Ops.ORDER_PLACE,
        {"school_id": world.school, "collective_students": 1, "individual_students": 0},
    )
    for school, collective in ((world.other_school, 2100), (world.school, -1)):
        event = InvoicePaid(
            school_id=school,
            invoice_id=uuid.uuid4(),
            order_id=uuid.UUID(order["order_id"]),
            number="26000001",
            collective_budget_cents=collective,
            individual_budget_cents=0,
            paid_on=date(2026, 12, 10),
        )
        with pytest.raises(PoisonMessage):
            await consumer.handle(event.envelope(), world.db)
    assert (await ledger(world))["balance_cents"] == 0


async def test_allocation_and_removal_at_the_same_moment_lose_nothing(world: World) -> None:
    """Whichever goes first, the pool plus what students hold stays what was paid."""
    await world.paid(0, 20 * 1050)
    members = members_consumer(world.clock)
    for _ in range(10):
        student = uuid.uuid4()
        await world.activate(student)
        removed = PersonRemoved(school_id=world.school, person_id=student, kind=RosterKind.STUDENTS)
        await asyncio.gather(
            world.call(
                Ops.ALLOCATE,
                {"school_id": world.school, "person_ids": [student], "amount_cents_each": 1050},
                world.holder(),
            ),
            members.handle(removed.envelope(), world.db),
        )
    async with world.db.read() as session:
        held = (
            await session.execute(select(func.coalesce(func.sum(allocations.c.allocated_cents), 0)))
        ).scalar_one()
    assert held == 0  # every student was removed: nothing may stay with them
    assert (await ledger(world))["assignable_individual_cents"] == 20 * 1050
