"""The budget half of the weborder saga, on SQLite and PostgreSQL (R-WEB-2/4, R-BUDGET-7/8):
approved weborders and Schooltoer orders debit the collective balance exactly once, refusals
are answers (not errors), cancelled approvals are credited back once."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from ck_budget.consumers import spending_consumer
from ck_budget.tables import balances, debits, ledger_entries
from ck_contracts.budget import Ops
from ck_contracts.weborders import (
    SchooltoerOrdered,
    WeborderApprovalCancelled,
    WeborderApproved,
)
from ck_runtime.consumers import PoisonMessage
from ck_runtime.db import Database
from sqlalchemy import func, select

World = Any  # the `world` fixture of conftest.py

DEBITED = "budget.debit.succeeded"
REFUSED = "budget.debit.refused"
CREDITED = "budget.credit.done"


def approved(
    world: World, amount: int, weborder_id: uuid.UUID | None = None, description: str = ""
) -> WeborderApproved:
    weborder_id = weborder_id or uuid.uuid4()
    return WeborderApproved(
        school_id=world.school,
        weborder_id=weborder_id,
        provider_id=uuid.uuid4(),
        amount_cents=amount,
        description=description
        or f"Weborder Theater Utrecht: voorstelling ({weborder_id.hex[:6]})",
    )


def cancelled(world: World, weborder_id: uuid.UUID, amount: int) -> WeborderApprovalCancelled:
    return WeborderApprovalCancelled(
        school_id=world.school,
        weborder_id=weborder_id,
        amount_cents=amount,
        description="Weborder Theater Utrecht: voorstelling",
    )


async def ledger(world: World) -> dict[str, Any]:
    return dict(await world.ok(Ops.LEDGER, {"school_id": world.school}))


async def assert_consistent(world: World) -> None:
    """Every balance is >= 0 and the sum of its ledger; every running balance adds up."""
    async with world.db.read() as session:
        for row in (await session.execute(select(balances))).all():
            total = (
                await session.execute(
                    select(func.coalesce(func.sum(ledger_entries.c.amount_cents), 0)).where(
                        ledger_entries.c.school_id == row.school_id
                    )
                )
            ).scalar_one()
            assert row.balance_cents == total >= 0
    result = await ledger(world)
    running = 0
    for entry in result["entries"]:
        running += entry["amount_cents"]
        assert entry["balance_cents"] == running >= 0
    assert running == result["balance_cents"]


async def count_debits(world: World) -> int:
    async with world.db.read() as session:
        return int((await session.execute(select(func.count()).select_from(debits))).scalar_one())


async def test_an_approved_weborder_is_debited(world: World) -> None:
    await world.paid(10_000, 0)
    event = approved(world, 5_500, description="Weborder Theater Utrecht: Hamlet (12-03-2027)")
    assert await world.spend(event)
    result = await ledger(world)
    assert result["balance_cents"] == 4_500
    entry = result["entries"][-1]
    assert entry["description"] == "Weborder Theater Utrecht: Hamlet (12-03-2027)"
    assert entry["amount_cents"] == -5_500 and entry["balance_cents"] == 4_500
    (answer,) = await world.published(DEBITED)
    assert answer["school_id"] == str(world.school)
    assert answer["reference_id"] == str(event.weborder_id)
    assert answer["kind"] == "weborder"
    assert answer["amount_cents"] == 5_500 and answer["balance_cents"] == 4_500
    # For the provider's reimbursement statement (issue 13): who is owed it, and what it was.
    assert answer["provider_id"] == str(event.provider_id)
    assert answer["description"] == "Weborder Theater Utrecht: Hamlet (12-03-2027)"
    assert await world.published(REFUSED) == []
    await assert_consistent(world)


async def test_a_schooltoer_order_is_debited_like_a_weborder(world: World) -> None:
    await world.paid(10_000, 0)
    order = SchooltoerOrdered(
        school_id=world.school,
        order_id=uuid.uuid4(),
        amount_cents=2_450,
        description="Schooltoer: Utrecht Centraal - Amsterdam Centraal, 25 reizigers",
    )
    assert await world.spend(order)
    (answer,) = await world.published(DEBITED)
    assert answer["reference_id"] == str(order.order_id) and answer["kind"] == "schooltoer"
    assert answer["provider_id"] is None  # invoicing decides Schooltoer's payee
    assert answer["balance_cents"] == 7_550
    too_much = SchooltoerOrdered(
        school_id=world.school, order_id=uuid.uuid4(), amount_cents=9_000, description="x"
    )
    assert await world.spend(too_much)
    (refusal,) = await world.published(REFUSED)
    assert refusal["kind"] == "schooltoer"
    assert refusal["code"] == "insufficient_balance" and refusal["reason"] == ""
    assert refusal["params"] == {
        "balance_cents": 7_550,
        "amount_cents": 9_000,
        "shortfall_cents": 1_450,
        "kind": "schooltoer",
    }
    await assert_consistent(world)


async def test_too_low_a_balance_is_refused_and_the_event_acked(world: World) -> None:
    await world.paid(4_000, 0)
    event = approved(world, 5_500)
    assert await world.spend(event)  # handled (acked), not an error
    (refusal,) = await world.published(REFUSED)
    assert refusal["reference_id"] == str(event.weborder_id) and refusal["kind"] == "weborder"
    # Issue 13: a code and params, no Dutch (the gateway's catalogue renders it).
    assert refusal["reason"] == "" and refusal["code"] == "insufficient_balance"
    assert refusal["params"] == {
        "balance_cents": 4_000,
        "amount_cents": 5_500,
        "shortfall_cents": 1_500,
        "kind": "weborder",
    }
    result = await ledger(world)
    assert result["balance_cents"] == 4_000 and len(result["entries"]) == 1
    assert await world.published(DEBITED) == [] and await count_debits(world) == 0
    # A refusal is not final: after another payment the school approves again (a new event
    # for the same weborder) and it is decided afresh.
    await world.paid(2_000, 0, number="22700987")
    assert await world.spend(approved(world, 5_500, event.weborder_id))
    (answer,) = await world.published(DEBITED)
    assert answer["reference_id"] == str(event.weborder_id) and answer["balance_cents"] == 500
    await assert_consistent(world)


async def test_exactly_the_balance_may_be_spent(world: World) -> None:
    await world.paid(5_500, 0)
    assert await world.spend(approved(world, 5_500))
    assert (await ledger(world))["balance_cents"] == 0
    assert await world.spend(approved(world, 1))
    (refusal,) = await world.published(REFUSED)
    assert refusal["code"] == "insufficient_balance" and refusal["reason"] == ""
    assert refusal["params"]["balance_cents"] == 0 and refusal["params"]["amount_cents"] == 1


async def test_nothing_is_debited_after_the_programme_period(world: World) -> None:
    await world.paid(10_000, 0)
    ends_on = world.settings.spending_ends_on  # 31-07-2027
    world.clock.set(datetime(ends_on.year, 7, 31, 21, 59, tzinfo=world.start.tzinfo))
    assert await world.spend(approved(world, 1_000))  # 23:59 Amsterdam: the last day counts
    world.clock.advance(timedelta(minutes=2))
    assert await world.spend(approved(world, 1_000))
    (refusal,) = await world.published(REFUSED)
    assert refusal["reason"] == ""
    assert refusal["code"] == "period_over" and refusal["params"] == {"ends_on": "2027-07-31"}
    result = await ledger(world)
    assert result["balance_cents"] == 9_000 and result["expired_cents"] == 9_000
    await assert_consistent(world)


async def test_a_redelivered_event_never_debits_twice(world: World) -> None:
    """The same event (same id) twice: the inbox drops the second."""
    await world.paid(10_000, 0)
    event = approved(world, 3_000)
    consumer = spending_consumer(world.settings, world.clock)
    assert await consumer.handle(event.envelope(), world.db)
    assert not await consumer.handle(event.envelope(), world.db)
    assert (await ledger(world))["balance_cents"] == 7_000
    assert len(await world.published(DEBITED)) == 1
    await assert_consistent(world)


async def test_a_republished_weborder_never_debits_twice(world: World) -> None:
    """The same weborder as a new event (another event id): the debits key drops it, and
    nothing is published the second time (the first answer is in the outbox already)."""
    await world.paid(10_000, 0)
    weborder = uuid.uuid4()
    assert await world.spend(approved(world, 3_000, weborder))
    assert await world.spend(approved(world, 3_000, weborder))  # handled: a no-op
    assert await world.spend(approved(world, 4_000, weborder))  # even with another amount
    assert (await ledger(world))["balance_cents"] == 7_000
    assert len(await world.published(DEBITED)) == 1
    assert await world.published(REFUSED) == []
    assert await count_debits(world) == 1
    await assert_consistent(world)


async def test_fifty_approvals_at_once_against_a_balance_for_ten(world: World) -> None:
    """The issue's test: 50 WeborderApproved of EUR 55,00 at the same moment, handled
    concurrently through the consumer on separate sessions (two engines, as two replicas),
    against EUR 550,00 -> exactly 10 debited, 40 refused, the balance 0 and the ledger's sum."""
    await world.paid(10 * 5_500, 0)
    events = [approved(world, 5_500) for _ in range(50)]
    other = Database(world.db.url)
    try:
        handled = await asyncio.gather(
            *(world.spend(event, world.db if i % 2 else other) for i, event in enumerate(events))
        )
    finally:
        await other.dispose()
    assert all(handled)
    debited, refused = await world.published(DEBITED), await world.published(REFUSED)
    assert (len(debited), len(refused)) == (10, 40)
    answered = {e["reference_id"] for e in debited} | {e["reference_id"] for e in refused}
    assert answered == {str(e.weborder_id) for e in events}
    assert sorted(e["balance_cents"] for e in debited) == [5_500 * n for n in range(10)]
    result = await ledger(world)
    assert result["balance_cents"] == 0
    assert len(result["entries"]) == 1 + 10
    assert await count_debits(world) == 10
    await assert_consistent(world)


async def test_one_weborder_published_many_times_at_once_is_debited_once(world: World) -> None:
    await world.paid(100_000, 0)
    weborder = uuid.uuid4()
    events = [approved(world, 5_500, weborder) for _ in range(10)]  # ten event ids
    other = Database(world.db.url)
    try:
        await asyncio.gather(
            *(world.spend(event, world.db if i % 2 else other) for i, event in enumerate(events))
        )
    finally:
        await other.dispose()
    assert len(await world.published(DEBITED)) == 1
    assert (await ledger(world))["balance_cents"] == 100_000 - 5_500
    await assert_consistent(world)


async def test_a_cancelled_approval_is_credited_back_once(world: World) -> None:
    await world.paid(10_000, 0)
    weborder = uuid.uuid4()
    assert await world.spend(approved(world, 3_000, weborder))
    consumer = spending_consumer(world.settings, world.clock)
    cancel = cancelled(world, weborder, 3_000)
    assert await consumer.handle(cancel.envelope(), world.db)
    assert not await consumer.handle(cancel.envelope(), world.db)  # redelivery
    assert await world.spend(cancelled(world, weborder, 3_000))  # republished: ignored
    result = await ledger(world)
    assert result["balance_cents"] == 10_000
    entry = result["entries"][-1]
    assert entry["description"] == "Geannuleerd: Weborder Theater Utrecht: voorstelling"
    assert entry["amount_cents"] == 3_000 and entry["balance_cents"] == 10_000
    (answer,) = await world.published(CREDITED)
    assert answer["reference_id"] == str(weborder) and answer["kind"] == "weborder"
    assert answer["amount_cents"] == 3_000 and answer["balance_cents"] == 10_000
    # A weborder debited once stays debited once: approving it again does nothing.
    assert await world.spend(approved(world, 3_000, weborder))
    assert (await ledger(world))["balance_cents"] == 10_000
    await assert_consistent(world)


async def test_a_cancellation_of_what_was_never_debited_is_ignored(world: World) -> None:
    await world.paid(4_000, 0)
    refused = approved(world, 5_500)
    assert await world.spend(refused)  # refused: nothing debited
    assert await world.spend(cancelled(world, refused.weborder_id, 5_500))
    assert await world.spend(cancelled(world, uuid.uuid4(), 1_000))  # never seen
    assert (await ledger(world))["balance_cents"] == 4_000
    assert await world.published(CREDITED) == []
    await assert_consistent(world)


async def test_a_credit_gives_back_what_was_debited_never_more(world: World) -> None:
    await world.paid(10_000, 0)
    weborder = uuid.uuid4()
    await world.spend(approved(world, 3_000, weborder))
    await world.spend(cancelled(world, weborder, 9_999))
    assert (await ledger(world))["balance_cents"] == 10_000
    (answer,) = await world.published(CREDITED)
    assert answer["amount_cents"] == 3_000


async def test_a_cancellation_for_another_school_is_ignored(world: World) -> None:
    await world.paid(10_000, 0)
    weborder = uuid.uuid4()
    await world.spend(approved(world, 3_000, weborder))
    other = WeborderApprovalCancelled(
        school_id=world.other_school, weborder_id=weborder, amount_cents=3_000, description="x"
    )
    await world.spend(other)
    assert (await ledger(world))["balance_cents"] == 7_000
    assert await world.published(CREDITED) == []


async def test_a_long_description_is_cut_to_fit_the_ledger(world: World) -> None:
    await world.paid(10_000, 0)
    weborder = uuid.uuid4()
    await world.spend(approved(world, 1_000, weborder, description="Weborder " + "x" * 400))
    await world.spend(
        cancelled(world, weborder, 1_000).model_copy(update={"description": "y" * 300})
    )
    entries = (await ledger(world))["entries"]
    assert len(entries[-2]["description"]) == 200 and entries[-2]["description"].endswith("…")
    assert entries[-1]["description"].startswith("Geannuleerd: yyy")
    assert len(entries[-1]["description"]) == 200


async def test_an_event_without_a_school_is_poison(world: World) -> None:
    event = approved(world, 1_000).model_copy(update={"school_id": None})
    with pytest.raises(PoisonMessage):
        await world.spend(event)
