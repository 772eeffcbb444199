"""Weborders from the provider API (R-WEB-1, R-ROLE-6) and the school's decision with the
approval saga (R-WEB-2): idempotency, unknown school numbers, absurd amounts, tenant isolation,
the transitions and their redeliveries."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from ck_contracts.notifier import EmailRequested
from ck_contracts.weborders import Ops
from ck_runtime.outbox import OUTBOX
from sqlalchemy import func, select

World = Any
MAIL = EmailRequested.routing_key


async def _outbox(world: World) -> list[dict[str, Any]]:
    """The saga's events (the provider's mails are tested in test_process_mails.py)."""
    async with world.db.read() as session:
        rows = await session.execute(select(OUTBOX.c.body).order_by(OUTBOX.c.seq))
        return [dict(r.body) for r in rows if r.body.get("type") != MAIL]


async def _count(world: World, table: str) -> int:
    from ck_weborders import tables

    async with world.db.read() as session:
        return int(
            (
                await session.execute(select(func.count()).select_from(getattr(tables, table)))
            ).scalar_one()
        )


async def test_a_weborder_is_created_for_the_school_of_the_number(world: World) -> None:
    made = await world.create()
    assert made["school_id"] == str(world.school)
    assert made["provider_name"] == "Theater A" and made["status"] == "ingediend"
    assert made["amount_cents"] == 31250 and made["activity_date"] == "2026-12-15"
    got = await world.ok(
        Ops.WEBORDER_GET_OWN, {"api_key": world.keys["A"], "weborder_id": made["weborder_id"]}
    )
    assert got == made
    page = await world.ok(Ops.WEBORDER_LIST, {"school_id": world.school}, world.holder())
    assert page["total"] == 1 and page["items"][0] == made


async def test_the_same_idempotency_key_gives_the_same_weborder(world: World) -> None:
    first = await world.create(key="order-42")
    again = await world.create(key="order-42")
    assert again == first
    # Concurrent retries too (on PostgreSQL the second insert waits for the first's commit).
    together = await asyncio.gather(*(world.create(key="order-43") for _ in range(5)))
    assert len({w["weborder_id"] for w in together}) == 1
    # Another provider may use the same key for its own weborder.
    other = await world.create(provider="B", key="order-42")
    assert other["weborder_id"] != first["weborder_id"]
    # Without a key every call is a new weborder.
    await world.create()
    await world.create()
    assert await _count(world, "weborders") == 5


async def test_a_reused_key_with_another_body_is_a_conflict(world: World) -> None:
    await world.create(key="order-42")
    payload = {
        "api_key": world.keys["A"],
        "idempotency_key": "order-42",
        "weborder": world.weborder(amount_cents=99_00),
    }
    error = await world.error(Ops.WEBORDER_CREATE, payload)
    assert error["code"] == "conflict" and error["reason"] == "idempotency_key_reused"
    assert await _count(world, "weborders") == 1


async def test_an_unknown_school_number_is_refused(world: World) -> None:
    payload = {"api_key": world.keys["A"], "weborder": world.weborder(school_number=99999)}
    error = await world.error(Ops.WEBORDER_CREATE, payload)
    assert error["code"] == "invalid" and error["reason"] == "school_number_unknown"
    assert error["field_errors"] == {
        "school_number": {"reason": "school_number_unknown", "params": {}}
    }


@pytest.mark.parametrize(
    "changes",
    [
        {"amount_cents": 0},
        {"amount_cents": -500},
        {"amount_cents": 10_000_001},
        {"amount_cents": 10**15},
        {"participants": 0},
        {"participants": 1_000_000},
        {"activity": ""},
        {"activity_date": "morgen"},
        {"school_number": 0},
    ],
)
async def test_absurd_weborders_are_invalid(world: World, changes: dict[str, Any]) -> None:
    payload = {"api_key": world.keys["A"], "weborder": world.weborder(**changes)}
    error = await world.error(Ops.WEBORDER_CREATE, payload)
    assert error["code"] == "invalid" and error["field_errors"]
    assert await _count(world, "weborders") == 0


async def test_providers_see_and_cancel_only_their_own(world: World) -> None:
    mine = await world.create("A")
    theirs = await world.create("B")
    page = await world.ok(Ops.WEBORDER_LIST_OWN, {"api_key": world.keys["A"]})
    assert [w["weborder_id"] for w in page["items"]] == [mine["weborder_id"]]
    ref = {"api_key": world.keys["A"], "weborder_id": theirs["weborder_id"]}
    assert (await world.error(Ops.WEBORDER_GET_OWN, ref))["code"] == "not_found"
    assert (await world.error(Ops.WEBORDER_CANCEL_OWN, ref))["code"] == "not_found"
    theirs_now = await world.ok(
        Ops.WEBORDER_GET_OWN, {"api_key": world.keys["B"], "weborder_id": theirs["weborder_id"]}
    )
    assert theirs_now["status"] == "ingediend"
    cancelled = await world.ok(
        Ops.WEBORDER_CANCEL_OWN, {"api_key": world.keys["A"], "weborder_id": mine["weborder_id"]}
    )
    assert cancelled["status"] == "geannuleerd"


async def test_a_provider_cancels_only_before_approval(world: World) -> None:
    made = await world.create()
    await world.approve(made["weborder_id"])
    error = await world.error(
        Ops.WEBORDER_CANCEL_OWN, {"api_key": world.keys["A"], "weborder_id": made["weborder_id"]}
    )
    assert error["code"] == "conflict" and error["reason"] == "weborder_not_cancellable"
    assert error["params"] == {"status": "in_behandeling"}


async def test_schools_list_and_decide_only_their_own(world: World) -> None:
    ours = await world.create()
    theirs = await world.create(school_number=world.other_number)
    page = await world.ok(Ops.WEBORDER_LIST, {"school_id": world.school}, world.holder())
    assert [w["weborder_id"] for w in page["items"]] == [ours["weborder_id"]]
    # School A's budget holder asking for school B: forbidden.
    error = await world.error(
        Ops.WEBORDER_LIST, {"school_id": world.other_school}, world.holder(world.school)
    )
    assert error["code"] == "forbidden"
    decide = {
        "school_id": world.other_school,
        "weborder_id": theirs["weborder_id"],
        "approve": True,
    }
    assert (await world.error(Ops.WEBORDER_DECIDE, decide, world.holder()))["code"] == "forbidden"
    # B's weborder through A's own school id: not found.
    decide = {"school_id": world.school, "weborder_id": theirs["weborder_id"], "approve": True}
    assert (await world.error(Ops.WEBORDER_DECIDE, decide, world.holder()))["code"] == "not_found"
    # A Docent+ sees but does not decide (R-ROLE-2).
    await world.ok(Ops.WEBORDER_LIST, {"school_id": world.school}, world.docent())
    decide = {"school_id": world.school, "weborder_id": ours["weborder_id"], "approve": True}
    assert (await world.error(Ops.WEBORDER_DECIDE, decide, world.docent()))["code"] == "forbidden"


async def test_the_list_filters_by_status_newest_first_and_pages(world: World) -> None:
    made = [await world.create(activity=f"Les {i}") for i in range(4)]
    await world.approve(made[1]["weborder_id"])
    page = await world.ok(
        Ops.WEBORDER_LIST, {"school_id": world.school, "page_size": 2}, world.holder()
    )
    assert page["total"] == 4
    assert [w["activity"] for w in page["items"]] == ["Les 3", "Les 2"]
    page = await world.ok(
        Ops.WEBORDER_LIST, {"school_id": world.school, "status": "in_behandeling"}, world.holder()
    )
    assert [w["activity"] for w in page["items"]] == ["Les 1"]


async def test_rejection_needs_a_reason(world: World) -> None:
    made = await world.create()
    ref = {"school_id": world.school, "weborder_id": made["weborder_id"], "approve": False}
    error = await world.error(Ops.WEBORDER_DECIDE, {**ref, "reason": "   "}, world.holder())
    assert error["code"] == "invalid" and error["reason"] == "rejection_reason_required"
    assert error["field_errors"]["reason"]["reason"] == "rejection_reason_required"
    rejected = await world.ok(
        Ops.WEBORDER_DECIDE, {**ref, "reason": "Niet afgesproken."}, world.holder()
    )
    assert rejected["status"] == "afgekeurd" and rejected["reason"] == "Niet afgesproken."
    error = await world.error(Ops.WEBORDER_DECIDE, {**ref, "approve": True}, world.holder())
    assert error["code"] == "conflict" and error["reason"] == "weborder_already_decided"
    assert error["params"] == {"status": "afgekeurd"}
    assert await _outbox(world) == []


async def test_approval_saga_debited_then_settled_once(world: World) -> None:
    person = await world.student()
    made = await world.create(participant_ids=[str(person)])
    approving = await world.approve(made["weborder_id"])
    assert approving["status"] == "in_behandeling" and approving["decided_at"]
    events = await _outbox(world)
    assert [e["type"] for e in events] == ["weborders.weborder.approved"]
    assert events[0]["school_id"] == str(world.school)
    assert events[0]["amount_cents"] == 31250
    assert events[0]["description"] == "Weborder Theater A: Voorstelling Hamlet (15-12-2026)"
    # A second approval is a conflict and asks nothing more of the budget.
    error = await world.error(
        Ops.WEBORDER_DECIDE,
        {"school_id": world.school, "weborder_id": made["weborder_id"], "approve": True},
        world.holder(),
    )
    assert error["code"] == "conflict"

    debit = await world.debited(made["weborder_id"], amount=31250)
    assert not await world.feed(debit)  # the same event again: the inbox drops it
    await world.debited(made["weborder_id"], amount=31250)  # a new event id: stale
    await world.refused(made["weborder_id"])  # late refusal: changes nothing
    got = await world.ok(
        Ops.WEBORDER_GET_OWN, {"api_key": world.keys["A"], "weborder_id": made["weborder_id"]}
    )
    assert got["status"] == "goedgekeurd" and got["reason"] == ""
    events = await _outbox(world)
    assert [e["type"] for e in events] == [
        "weborders.weborder.approved",
        "weborders.weborder.settled",
    ]
    assert events[1]["participant_ids"] == [str(person)]


async def test_a_refused_debit_ends_refused_with_the_budgets_reason(world: World) -> None:
    made = await world.create()
    await world.approve(made["weborder_id"])
    await world.refused(made["weborder_id"])
    await world.debited(made["weborder_id"])  # late: changes nothing
    page = await world.ok(Ops.WEBORDER_LIST, {"school_id": world.school}, world.holder())
    assert page["items"][0]["status"] == "geweigerd"
    assert page["items"][0]["reason"].startswith("Het saldo is te laag")
    assert len(await _outbox(world)) == 1  # no settled event


async def test_an_unapproved_weborder_ignores_a_debit(world: World) -> None:
    made = await world.create()
    await world.debited(made["weborder_id"])
    page = await world.ok(Ops.WEBORDER_LIST, {"school_id": world.school}, world.holder())
    assert page["items"][0]["status"] == "ingediend"


async def test_cancelling_an_approval_credits_the_amount_back(world: World) -> None:
    made = await world.create()
    ref = {"school_id": world.school, "weborder_id": made["weborder_id"], "reason": "Afgelast"}
    await world.approve(made["weborder_id"])
    error = await world.error(Ops.WEBORDER_CANCEL_APPROVAL, ref, world.holder())
    assert error["code"] == "conflict" and error["reason"] == "approval_not_cancellable"
    assert error["params"] == {"status": "in_behandeling"}
    await world.debited(made["weborder_id"])
    assert (await world.error(Ops.WEBORDER_CANCEL_APPROVAL, ref, world.docent()))[
        "code"
    ] == "forbidden"
    cancelled = await world.ok(Ops.WEBORDER_CANCEL_APPROVAL, ref, world.holder())
    assert cancelled["status"] == "geannuleerd" and cancelled["reason"] == "Afgelast"
    error = await world.error(Ops.WEBORDER_CANCEL_APPROVAL, ref, world.holder())
    assert error["code"] == "conflict"
    events = await _outbox(world)
    assert events[-1]["type"] == "weborders.weborder.approval_cancelled"
    assert events[-1]["amount_cents"] == 31250
    # The event carries the approval's own ledger text; budget adds "Geannuleerd: ".
    assert events[-1]["description"].startswith("Weborder Theater A")
    await world.credited(made["weborder_id"], 31250)
    from ck_weborders.tables import weborders

    async with world.db.read() as session:
        credited = (await session.execute(select(weborders.c.credited_at))).scalar()
    assert credited is not None


async def test_schooltoer_is_ordered_and_debited_like_a_weborder(world: World) -> None:
    order = {
        "school_id": world.school,
        "travel_date": "2027-02-03",
        "from_place": "Utrecht Centraal",
        "to_place": "Amsterdam Centraal",
        "travellers": 30,
        "amount_cents": 30 * 900,
    }
    assert (await world.error(Ops.SCHOOLTOER_ORDER, order, world.docent()))["code"] == "forbidden"
    made = await world.ok(Ops.SCHOOLTOER_ORDER, order, world.holder())
    assert made["status"] == "in_behandeling"
    refused = await world.ok(Ops.SCHOOLTOER_ORDER, order, world.holder())
    events = await _outbox(world)
    assert events[0]["type"] == "weborders.schooltoer.ordered"
    assert events[0]["description"] == (
        "Schooltoer Utrecht Centraal - Amsterdam Centraal (03-02-2027)"
    )
    await world.debited(made["order_id"], kind="schooltoer")
    await world.refused(refused["order_id"], kind="schooltoer")
    listed = await world.ok(Ops.SCHOOLTOER_LIST, {"school_id": world.school}, world.docent())
    assert {o["order_id"]: o["status"] for o in listed} == {
        made["order_id"]: "goedgekeurd",
        refused["order_id"]: "geweigerd",
    }
    other = await world.error(
        Ops.SCHOOLTOER_LIST, {"school_id": world.other_school}, world.holder()
    )
    assert other["code"] == "forbidden"
    assert len(await _outbox(world)) == 2  # no WeborderSettled for Schooltoer


async def test_concurrent_approvals_ask_the_budget_once(world: World) -> None:
    made = await world.create()
    ref = {"school_id": world.school, "weborder_id": made["weborder_id"], "approve": True}
    replies = await asyncio.gather(
        *(world.call(Ops.WEBORDER_DECIDE, ref, world.holder()) for _ in range(5))
    )
    assert sum(r["ok"] for r in replies) == 1
    assert {r["error"]["code"] for r in replies if not r["ok"]} == {"conflict"}
    assert [e["type"] for e in await _outbox(world)] == ["weborders.weborder.approved"]
