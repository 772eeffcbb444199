"""Property tests through the real operations and consumers, on SQLite and PostgreSQL: no
sequence of payments, allocations and removals makes a balance or the assignable pool negative,
the balance always equals the sum of the ledger, and the pool matches a simple model."""

from __future__ import annotations

import uuid
from typing import Any

from ck_budget.consumers import members_consumer
from ck_budget.tables import balances, ledger_entries
from ck_contracts.budget import Ops
from ck_contracts.roster import PersonRemoved, RosterKind
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

World = Any  # the `world` fixture of conftest.py

step = st.one_of(
    st.tuples(st.just("pay"), st.integers(0, 50_000), st.integers(0, 20_000)),
    st.tuples(st.just("activate"), st.integers(1, 4), st.just(0)),
    st.tuples(st.just("allocate"), st.integers(1, 4), st.integers(1, 3_000)),
    st.tuples(st.just("remove"), st.integers(0, 50), st.just(0)),
)


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(step, min_size=1, max_size=25))
async def test_money_never_goes_negative_and_the_ledger_adds_up(
    world: World, steps: list[tuple[str, int, int]]
) -> None:
    school = await world.fresh_school()  # a fresh school per example
    holder = world.holder(school)
    members = members_consumer(world.clock)
    active: list[uuid.UUID] = []
    allocated: dict[uuid.UUID, int] = {}
    pool = balance = 0
    for n, (kind, a, b) in enumerate(steps):
        if kind == "pay":
            await world.paid(a, b, number=f"{n:08d}", school=school)
            balance, pool = balance + a, pool + b
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
            if len(chosen) * b <= pool:
                assert reply["ok"], reply
                pool -= len(chosen) * b
                for pid in chosen:
                    allocated[pid] = allocated.get(pid, 0) + b
            else:
                assert reply["error"]["code"] == "conflict", reply
        elif kind == "remove" and active:
            pid = active.pop(a % len(active))
            event = PersonRemoved(school_id=school, person_id=pid, kind=RosterKind.STUDENTS)
            await members.handle(event.envelope(), world.db)
            pool += allocated.pop(pid, 0)

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
    assert (stored.balance_cents if stored else 0) == total == balance
