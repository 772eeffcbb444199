"""Property test of spending through the real consumers and operations, on SQLite and
PostgreSQL: no sequence of payments, weborder debits (and republished ones), cancellations,
allocations, card payments and removals makes a balance, the assignable pool or a student's
budget negative; the balance always equals the sum of the ledger, and everything matches a
simple model (R-WEB-2/6, R-BUDGET-6/7, R-ROSTER-7)."""

from __future__ import annotations

import uuid
from typing import Any

from ck_budget.consumers import members_consumer
from ck_budget.tables import allocations, balances, ledger_entries
from ck_contracts.budget import Ops
from ck_contracts.roster import PersonRemoved, RosterKind
from ck_contracts.weborders import WeborderApprovalCancelled, WeborderApproved
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

World = Any  # the `world` fixture of conftest.py

step = st.one_of(
    st.tuples(st.just("pay"), st.integers(0, 30_000), st.integers(0, 10_000)),
    st.tuples(st.just("weborder"), st.integers(1, 15_000), st.just(0)),
    st.tuples(st.just("republish"), st.integers(0, 50), st.just(0)),
    st.tuples(st.just("cancel"), st.integers(0, 50), st.just(0)),
    st.tuples(st.just("activate"), st.integers(1, 3), st.just(0)),
    st.tuples(st.just("allocate"), st.integers(1, 3), st.integers(1, 3_000)),
    st.tuples(st.just("card"), st.integers(0, 50), st.integers(1, 2_500)),
    st.tuples(st.just("remove"), st.integers(0, 50), st.just(0)),
)


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(step, min_size=1, max_size=30))
async def test_spending_never_goes_negative_and_the_ledger_adds_up(
    world: World, steps: list[tuple[str, int, int]]
) -> None:
    school = await world.fresh_school()  # a fresh school per example
    holder, provider = world.holder(school), world.provider(uuid.uuid4())
    members = members_consumer(world.clock)
    # The model.
    balance = pool = 0
    weborders: list[tuple[uuid.UUID, int]] = []
    debited: dict[uuid.UUID, int] = {}  # weborder -> amount, while not credited back
    ever_debited: set[uuid.UUID] = set()
    active: list[uuid.UUID] = []
    budget: dict[uuid.UUID, list[int]] = {}  # student -> [allocated, spent]

    for n, (kind, a, b) in enumerate(steps):
        if kind == "pay":
            await world.paid(a, b, number=f"{n:08d}", school=school)
            balance, pool = balance + a, pool + b
        elif kind == "weborder":
            weborder = uuid.uuid4()
            weborders.append((weborder, a))
            event = WeborderApproved(
                school_id=school,
                weborder_id=weborder,
                provider_id=provider.provider_id,
                amount_cents=a,
                description=f"Weborder {n}",
            )
            assert await world.spend(event)
            if a <= balance:
                balance -= a
                debited[weborder] = a
                ever_debited.add(weborder)
        elif kind == "republish" and weborders:
            weborder, amount = weborders[a % len(weborders)]
            event = WeborderApproved(
                school_id=school,
                weborder_id=weborder,
                provider_id=provider.provider_id,
                amount_cents=amount,
                description=f"Weborder {n} again",
            )
            assert await world.spend(event)
            if weborder not in ever_debited and amount <= balance:  # a refusal is not final
                balance -= amount
                debited[weborder] = amount
                ever_debited.add(weborder)
        elif kind == "cancel" and weborders:
            weborder, amount = weborders[a % len(weborders)]
            event = WeborderApprovalCancelled(
                school_id=school, weborder_id=weborder, amount_cents=amount, description="x"
            )
            assert await world.spend(event)
            balance += debited.pop(weborder, 0)
        elif kind == "activate":
            new = [uuid.uuid4() for _ in range(a)]
            await world.activate(*new, school=school)
            active.extend(new)
        elif kind == "allocate" and active:
            chosen = active[: min(a, len(active))]
            reply = await world.call(
                Ops.ALLOCATE,
                {"school_id": school, "person_ids": chosen, "amount_cents_each": b},
                holder,
            )
            assert reply["ok"] == (len(chosen) * b <= pool), reply
            if reply["ok"]:
                pool -= len(chosen) * b
                for pid in chosen:
                    budget.setdefault(pid, [0, 0])[0] += b
        elif kind == "card" and active:
            pid = active[a % len(active)]
            allocated, spent = budget.get(pid, [0, 0])
            reply = await world.call(
                Ops.CARD_CHARGE,
                {
                    "card_number": world.card(pid),
                    "amount_cents": b,
                    "description": f"Kaartbetaling {n}",
                    "provider_reference": f"ref-{n}",
                },
                provider,
            )
            assert reply["ok"] == (b <= allocated - spent), reply
            if reply["ok"]:
                budget[pid][1] += b
                assert reply["result"]["remaining_cents"] == allocated - spent - b
        elif kind == "remove" and active:
            pid = active.pop(a % len(active))
            event = PersonRemoved(school_id=school, person_id=pid, kind=RosterKind.STUDENTS)
            await members.handle(event.envelope(), world.db)
            allocated, spent = budget.pop(pid, [0, 0])
            pool += allocated - spent  # only the unspent part comes back

        ledger = await world.ok(Ops.LEDGER, {"school_id": school}, holder)
        assert ledger["balance_cents"] == balance >= 0
        assert ledger["assignable_individual_cents"] == pool >= 0
        running = 0
        for entry in ledger["entries"]:
            running += entry["amount_cents"]
            assert entry["balance_cents"] == running >= 0
        assert running == balance

    async with world.db.read() as session:
        stored = (
            await session.execute(select(balances).where(balances.c.school_id == school))
        ).first()
        total = (
            await session.execute(
                select(func.coalesce(func.sum(ledger_entries.c.amount_cents), 0)).where(
                    ledger_entries.c.school_id == school
                )
            )
        ).scalar_one()
        rows = (
            await session.execute(select(allocations).where(allocations.c.school_id == school))
        ).all()
    assert (stored.balance_cents if stored else 0) == total == balance
    assert {r.person_id: [r.allocated_cents, r.spent_cents] for r in rows} == budget
    assert all(0 <= r.spent_cents <= r.allocated_cents for r in rows)
