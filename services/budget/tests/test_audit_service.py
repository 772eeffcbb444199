"""The budget service's audit trail (issue 13): placing, changing, cancelling and approving an
order (by a CJP admin and by the scheduler) and Budget toewijzen each write one entry in the
action's own transaction, naming the actor by id and role only; a school lists only its own."""

from __future__ import annotations

import contextlib
import uuid
from datetime import timedelta
from typing import Any

from ck_budget.consumers import approve_due
from ck_contracts.audit import AuditAction, AuditRole
from ck_contracts.budget import Ops
from ck_testkit.audit import assert_no_personal_data, break_audit_log, entries

World = Any
REFERENCE = "Bestelling van Bea de Vries"  # free text: stays out of the trail


async def place(world: World, actor: Any = None, school: uuid.UUID | None = None) -> str:
    world.clock.advance(timedelta(seconds=1))  # entries at one moment would sort by id
    order = await world.ok(
        Ops.ORDER_PLACE,
        {
            "school_id": school or world.school,
            "collective_students": 10,
            "individual_students": 5,
            "reference": REFERENCE,
        },
        actor or world.holder(school),
    )
    return str(order["order_id"])


async def test_every_order_decision_and_allocation_is_recorded(world: World) -> None:
    holder, admin = world.holder(), world.admin()
    first = await place(world, holder)
    world.clock.advance(timedelta(seconds=1))
    await world.ok(
        Ops.ORDER_CHANGE,
        {
            "school_id": world.school,
            "order_id": first,
            "collective_students": 12,
            "individual_students": 5,
            "reference": REFERENCE,
        },
        holder,
    )
    world.clock.advance(timedelta(seconds=1))
    await world.ok(Ops.ORDER_CANCEL, {"school_id": world.school, "order_id": first}, holder)
    second = await place(world, holder)
    world.clock.advance(timedelta(seconds=1))
    await world.ok(Ops.ORDER_APPROVE, {"school_id": world.school, "order_id": second}, admin)
    third = await place(world, holder)
    world.clock.set(world.period_ends + timedelta(minutes=1))
    assert await approve_due(world.db, world.settings, world.clock) == 1
    world.clock.advance(timedelta(seconds=1))
    await world.paid(0, 3000)
    students = [uuid.uuid4(), uuid.uuid4()]
    await world.activate(*students)
    await world.ok(
        Ops.ALLOCATE,
        {"school_id": world.school, "person_ids": students, "amount_cents_each": 1000},
        holder,
    )

    found = await entries(world.db)
    assert [(e.action, e.subject_id) for e in found] == [
        (AuditAction.BUDGET_ORDER_PLACED, first),
        (AuditAction.BUDGET_ORDER_CHANGED, first),
        (AuditAction.BUDGET_ORDER_CANCELLED, first),
        (AuditAction.BUDGET_ORDER_PLACED, second),
        (AuditAction.BUDGET_ORDER_APPROVED, second),
        (AuditAction.BUDGET_ORDER_PLACED, third),
        (AuditAction.BUDGET_ORDER_APPROVED, third),
        (AuditAction.BUDGET_ALLOCATED, str(world.school)),
    ]
    who = [(e.actor_id, e.actor_role) for e in found]
    assert who[:4] == [(holder.user_id, AuditRole.BUDGET_HOLDER)] * 4
    assert who[4] == (admin.user_id, AuditRole.CJP_ADMIN)
    assert who[6] == (None, AuditRole.SYSTEM)  # the scheduler
    assert all(e.school_id == world.school for e in found)
    assert found[1].details["collective_students"] == 12
    assert found[4].details["early"] is True and found[6].details["early"] is False
    assert found[7].details == {"students": 2, "amount_cents_each": 1000, "total_cents": 2000}
    assert found[0].at == world.start + timedelta(seconds=1)
    assert found[6].at == world.period_ends + timedelta(minutes=1)
    # The students' ids, the reference and no card number are anywhere in the trail.
    assert_no_personal_data(found, REFERENCE, "Bea", *(str(s) for s in students))
    assert_no_personal_data(found, *(world.card(s) for s in students))


async def test_the_order_and_its_entry_commit_together(world: World) -> None:
    await break_audit_log(world.db)
    error = await world.error(
        Ops.ORDER_PLACE,
        {"school_id": world.school, "collective_students": 10, "individual_students": 0},
    )
    assert error["code"] == "internal"
    assert await world.ok(Ops.ORDER_LIST, {"school_id": world.school}) == {"items": []}


async def test_the_schedulers_approval_and_its_entry_commit_together(world: World) -> None:
    order = await place(world)
    await break_audit_log(world.db)
    world.clock.set(world.period_ends + timedelta(minutes=1))
    with contextlib.suppress(Exception):  # the pass fails on the missing table
        await approve_due(world.db, world.settings, world.clock)
    (listed,) = (await world.ok(Ops.ORDER_LIST, {"school_id": world.school}))["items"]
    assert listed["order_id"] == order and listed["status"] != "goedgekeurd"
    assert await world.published("budget.order.approved") == []


async def test_a_school_lists_only_its_own_history(world: World) -> None:
    await place(world)
    await place(world, school=world.other_school)
    mine = await world.ok(Ops.AUDIT_LIST, {"school_id": world.school})
    assert [e["school_id"] for e in mine["items"]] == [str(world.school)]
    refused = await world.error(Ops.AUDIT_LIST, {"school_id": world.other_school})
    assert refused["code"] == "forbidden"
    everything = await world.ok(Ops.AUDIT_LIST, {}, world.admin())
    assert len(everything["items"]) == 2
