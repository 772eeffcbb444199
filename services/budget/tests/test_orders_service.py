"""The budget operations against real databases (SQLite and PostgreSQL)."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

from ck_budget.consumers import approve_due
from ck_budget.tables import orders, outbox
from ck_contracts.budget import Ops
from sqlalchemy import select

World = Any  # the `world` fixture of conftest.py


TEN_AND_TEN = {"collective_students": 10, "individual_students": 10, "reference": " PO-1 "}


async def place(world: World, **counts: object) -> dict[str, object]:
    payload = {"school_id": world.school, **(counts or TEN_AND_TEN)}
    return dict(await world.ok(Ops.ORDER_PLACE, payload))


async def approved_events(world: World) -> list[dict[str, object]]:
    async with world.db.read() as session:
        rows = (await session.execute(select(outbox.c.body).order_by(outbox.c.seq))).all()
    return [r.body for r in rows if r.body["type"] == "budget.order.approved"]


async def test_order_form_prefills_school_and_rates(world: World) -> None:
    form = await world.ok(Ops.ORDER_FORM, {"school_id": world.school})
    assert form["school_number"] == 10289
    assert form["duo_student_count"] == 1001
    assert form["first_order"] is True
    assert form["rates"]["collective_budget_per_student_cents"] == 2100
    assert form["rates"]["spending_ends_on"] == "2027-07-31"
    await place(world)
    assert (await world.ok(Ops.ORDER_FORM, {"school_id": world.school}))["first_order"] is False


async def test_quote_is_the_yellow_block(world: World) -> None:
    quote = await world.ok(Ops.QUOTE, {"collective_students": 10, "individual_students": 10})
    assert quote["invoice_total_cents"] == 13000
    assert quote["collective_budget_cents"] == 21000
    assert quote["individual_budget_cents"] == 10500


async def test_place_order_starts_the_objection_period(world: World) -> None:
    order = await place(world)
    assert order["status"] == "in_bezwaartermijn"
    assert order["reference"] == "PO-1"
    assert order["quote"]["invoice_total_cents"] == 13000
    assert order["objection_ends_at"] == world.period_ends.isoformat().replace("+00:00", "Z")
    listed = await world.ok(Ops.ORDER_LIST, {"school_id": world.school}, world.docent())
    assert [o["order_id"] for o in listed["items"]] == [order["order_id"]]


async def test_an_order_needs_students(world: World) -> None:
    error = await world.error(
        Ops.ORDER_PLACE,
        {"school_id": world.school, "collective_students": 0, "individual_students": 0},
    )
    assert error["code"] == "invalid"
    assert error["reason"] == "budget_order_empty"
    assert set(error["field_errors"]) == {"collective_students", "individual_students"}
    negative = await world.error(
        Ops.ORDER_PLACE,
        {"school_id": world.school, "collective_students": -1, "individual_students": 2},
    )
    assert negative["code"] == "invalid" and "collective_students" in negative["field_errors"]


async def test_extra_orders_run_the_same_course(world: World) -> None:
    """Bijbestellen (R-BUDGET-4): a second order while the first is open or approved."""
    first = await place(world)
    world.clock.set(world.period_ends)
    assert await approve_due(world.db, world.settings, world.clock) == 1
    world.clock.advance(timedelta(days=30))
    second = await place(world, collective_students=5, individual_students=0)
    assert second["status"] == "in_bezwaartermijn"
    assert second["objection_ends_at"] > first["objection_ends_at"]
    listed = await world.ok(Ops.ORDER_LIST, {"school_id": world.school})
    assert [o["order_id"] for o in listed["items"]] == [second["order_id"], first["order_id"]]


async def test_change_within_the_period_reprices(world: World) -> None:
    order = await place(world)
    world.clock.set(world.period_ends - timedelta(seconds=1))  # Monday 23:59:59 in Amsterdam
    changed = await world.ok(
        Ops.ORDER_CHANGE,
        {
            "school_id": world.school,
            "order_id": order["order_id"],
            "collective_students": 20,
            "individual_students": 0,
            "reference": "PO-2",
        },
    )
    assert changed["quote"]["invoice_total_cents"] == 21000
    assert [line["count"] for line in changed["quote"]["lines"]] == [20]
    assert changed["objection_ends_at"] == order["objection_ends_at"]  # the period runs on


async def test_after_the_period_change_and_cancel_are_refused(world: World) -> None:
    order = await place(world)
    ref = {"school_id": world.school, "order_id": order["order_id"]}
    world.clock.set(world.period_ends)
    # Not yet approved by the scheduler, but the period is over: refused all the same.
    error = await world.error(Ops.ORDER_CHANGE, {**ref, **TEN_AND_TEN})
    assert error["code"] == "conflict"
    assert error["reason"] == "objection_period_over.change"
    assert error["params"] == {"last_day_on": "2026-12-07"}
    error = await world.error(Ops.ORDER_CANCEL, ref)
    assert error["code"] == "conflict" and error["reason"] == "objection_period_over.cancel"
    await approve_due(world.db, world.settings, world.clock)
    error = await world.error(Ops.ORDER_CANCEL, ref, world.admin())
    assert error["reason"] == "budget_order_approved.cancel"


async def test_school_cancels_within_the_period(world: World) -> None:
    order = await place(world)
    ref = {"school_id": world.school, "order_id": order["order_id"]}
    cancelled = await world.ok(Ops.ORDER_CANCEL, ref)
    assert cancelled["status"] == "geannuleerd"
    assert (await world.ok(Ops.ORDER_FORM, {"school_id": world.school}))["first_order"] is True
    error = await world.error(Ops.ORDER_CHANGE, {**ref, **TEN_AND_TEN})
    assert error["reason"] == "budget_order_cancelled"
    world.clock.set(world.period_ends + timedelta(days=1))
    assert await approve_due(world.db, world.settings, world.clock) == 0
    assert await approved_events(world) == []


async def test_admin_approves_early_once(world: World) -> None:
    order = await place(world)
    ref = {"school_id": world.school, "order_id": order["order_id"]}
    assert (await world.error(Ops.ORDER_APPROVE, ref))["code"] == "forbidden"  # budgethouder
    approved = await world.ok(Ops.ORDER_APPROVE, ref, world.admin())
    assert approved["status"] == "goedgekeurd" and approved["decided_at"] is not None
    again = await world.error(Ops.ORDER_APPROVE, ref, world.admin())
    assert again == {
        "code": "conflict",
        "reason": "budget_order_already_approved",
        "params": {},
        "field_errors": {},
        "message": "",
        "fields": {},
        "retry_after_seconds": None,
    }
    world.clock.set(world.period_ends)
    assert await approve_due(world.db, world.settings, world.clock) == 0
    (event,) = await approved_events(world)
    assert event["order_id"] == order["order_id"]
    assert event["school_id"] == str(world.school)
    assert event["school_number"] == 10289
    assert event["total_cents"] == 13000
    assert event["collective_budget_cents"] == 21000
    assert event["individual_budget_cents"] == 10500
    assert [line["total_cents"] for line in event["lines"]] == [2500, 10500]


async def test_admin_cancels(world: World) -> None:
    order = await place(world)
    ref = {"school_id": world.school, "order_id": order["order_id"]}
    cancelled = await world.ok(Ops.ORDER_CANCEL, ref, world.admin())
    assert cancelled["status"] == "geannuleerd"
    error = await world.error(Ops.ORDER_APPROVE, ref, world.admin())
    assert error["reason"] == "budget_order_cancelled.approve"


async def test_scheduler_approves_when_the_period_ends(world: World) -> None:
    order = await place(world)
    world.clock.set(world.period_ends - timedelta(microseconds=1))
    assert await approve_due(world.db, world.settings, world.clock) == 0
    world.clock.set(world.period_ends)
    assert await approve_due(world.db, world.settings, world.clock) == 1
    assert await approve_due(world.db, world.settings, world.clock) == 0
    async with world.db.read() as session:
        row = (await session.execute(select(orders))).one()
    assert row.status == "goedgekeurd" and row.decided_by is None
    assert row.decided_at == world.period_ends
    (event,) = await approved_events(world)
    assert event["order_id"] == order["order_id"]


async def test_tenants_stay_apart(world: World) -> None:
    """R-ROLE-6: school A's actor for school B is forbidden; B's order is not found via A."""
    order = await place(world)
    intruder = world.holder(world.other_school)
    for op, payload in [
        (Ops.ORDER_FORM, {"school_id": world.school}),
        (Ops.ORDER_PLACE, {"school_id": world.school, **TEN_AND_TEN}),
        (Ops.ORDER_LIST, {"school_id": world.school}),
        (Ops.LEDGER, {"school_id": world.school}),
        (Ops.ORDER_CANCEL, {"school_id": world.school, "order_id": order["order_id"]}),
        (
            Ops.ORDER_CHANGE,
            {"school_id": world.school, "order_id": order["order_id"], **TEN_AND_TEN},
        ),
        (
            Ops.ALLOCATE,
            {"school_id": world.school, "person_ids": [uuid.uuid4()], "amount_cents_each": 1},
        ),
    ]:
        error = await world.error(op, payload, intruder)
        assert error["code"] == "forbidden", op
    # Its own school id with the other school's order id: not found.
    ref = {"school_id": world.other_school, "order_id": order["order_id"]}
    assert (await world.error(Ops.ORDER_CANCEL, ref, intruder))["code"] == "not_found"
    assert (await world.error(Ops.ORDER_APPROVE, ref, world.admin()))["code"] == "not_found"
    # Docent+ sees the school but does not order or assign (R-ROLE-2).
    docent = world.docent()
    assert (await world.error(Ops.ORDER_PLACE, {"school_id": world.school, **TEN_AND_TEN}, docent))[
        "code"
    ] == "forbidden"
    assert (await world.error(Ops.ORDER_CANCEL, {**ref, "school_id": world.school}, docent))[
        "code"
    ] == "forbidden"
    assert (await world.call(Ops.ORDER_FORM, {"school_id": world.school}, None))["error"][
        "code"
    ] == "unauthenticated"


async def test_unknown_school(world: World) -> None:
    stranger = uuid.uuid4()
    actor = world.holder(stranger)
    error = await world.error(Ops.ORDER_PLACE, {"school_id": stranger, **TEN_AND_TEN}, actor)
    assert error["code"] == "not_found"
    assert (await world.error(Ops.ORDER_FORM, {"school_id": stranger}, actor))["code"] == (
        "not_found"
    )


async def test_no_orders_after_the_programme_period(world: World) -> None:
    world.clock.set(world.start.replace(year=2027, month=8, day=1))
    error = await world.error(Ops.ORDER_PLACE, {"school_id": world.school, **TEN_AND_TEN})
    assert error["code"] == "conflict" and error["params"] == {"ends_on": "2027-07-31"}
    assert world.settings.spending_ends_on == date(2027, 7, 31)
