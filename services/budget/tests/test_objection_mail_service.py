"""Issue 13: the budget holders are told when an order's objection period is about to end
(R-BUDGET-3): once per order, BUDGET_OBJECTION_MAIL_DAYS_BEFORE days before, not for an order
cancelled or approved first, and once with two replicas running the job at the same time."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from ck_budget.consumers import approve_due, mail_ending_periods
from ck_budget.tables import outbox
from ck_contracts.budget import Ops
from ck_contracts.notifier import BudgetHolderMailRequested, MailTemplate
from ck_runtime.db import Database
from sqlalchemy import select

World = Any  # the `world` fixture of conftest.py


async def _mails(db: Database) -> list[dict[str, Any]]:
    async with db.read() as session:
        rows = await session.execute(
            select(outbox.c.body)
            .where(outbox.c.routing_key == BudgetHolderMailRequested.routing_key)
            .order_by(outbox.c.seq)
        )
        return [dict(r.body) for r in rows]


async def _place(world: World, reference: str = "PO-1") -> dict[str, Any]:
    return dict(
        await world.ok(
            Ops.ORDER_PLACE,
            {
                "school_id": world.school,
                "collective_students": 10,
                "individual_students": 10,
                "reference": reference,
            },
        )
    )


async def test_the_mail_goes_days_before_the_period_ends_and_once(world: World) -> None:
    order = await _place(world)
    settings = world.settings  # 2 days before, the default
    assert settings.objection_mail_days_before == 2
    assert await mail_ending_periods(world.db, settings, world.clock) == 0  # just placed
    world.clock.set(world.period_ends - timedelta(days=2, minutes=1))
    assert await mail_ending_periods(world.db, settings, world.clock) == 0  # not yet
    world.clock.set(world.period_ends - timedelta(days=2))
    assert await mail_ending_periods(world.db, settings, world.clock) == 1
    assert await mail_ending_periods(world.db, settings, world.clock) == 0  # once
    (mail,) = await _mails(world.db)
    assert mail["template"] == MailTemplate.ORDER_OBJECTION_ENDING
    assert mail["school_id"] == str(world.school)
    assert "to" not in mail  # accounts addresses it to the school's budget holders
    context = mail["context"]
    assert context["order_reference"] == "PO-1"
    assert context["total_cents"] == "13000"  # 10 x 2,50 + 10 x 10,50 (R-INVOICE-1)
    assert order["order_id"]
    # The period ends at 00:00 (Amsterdam) after Monday 7 December: that is the last day.
    assert context["last_day"] == "2026-12-07"
    assert context["link"].endswith("/producten")
    world.clock.set(world.period_ends)
    assert await approve_due(world.db, settings, world.clock) == 1
    assert await mail_ending_periods(world.db, settings, world.clock) == 0


async def test_no_mail_for_a_cancelled_order_nor_when_turned_off(world: World) -> None:
    order = await _place(world)
    await world.ok(Ops.ORDER_CANCEL, {"school_id": world.school, "order_id": order["order_id"]})
    await _place(world, "PO-2")
    world.clock.set(world.period_ends - timedelta(hours=1))
    off = world.settings.model_copy(update={"objection_mail_days_before": 0})
    assert await mail_ending_periods(world.db, off, world.clock) == 0
    assert await mail_ending_periods(world.db, world.settings, world.clock) == 1
    (mail,) = await _mails(world.db)
    assert mail["context"]["order_reference"] == "PO-2"


async def test_two_replicas_mail_each_order_once(world: World) -> None:
    for i in range(30):
        await _place(world, f"PO-{i}")
    world.clock.set(world.period_ends - timedelta(days=1))
    settings = world.settings.model_copy(update={"approval_batch": 4})
    other = Database(world.db.url)

    async def drain(db: Database) -> int:
        total = 0
        while mailed := await mail_ending_periods(db, settings, world.clock):
            total += mailed
        return total

    try:
        counts = await asyncio.gather(drain(world.db), drain(other))
    finally:
        await other.dispose()
    assert sum(counts) == 30, counts
    references = [m["context"]["order_reference"] for m in await _mails(world.db)]
    assert sorted(references) == sorted(f"PO-{i}" for i in range(30))
