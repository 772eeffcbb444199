"""Money invariants of payouts (issue 13, capability 4), as properties on SQLite and PostgreSQL.

Whatever mix of debits, card payments and cancelled approvals arrives (in any order, some of
them twice), and whenever the scheduler runs:
- every euro debited from a school for a provider is on exactly one statement, corrections
  included: per provider, the statements add up to debits + card payments - credits (a
  correction that no later spending covers waits, negative, for the provider's next one);
- every statement's total is the sum of its lines, and its count their number;
- statement numbers are 1..n without a gap;
- a line never moves: what a closed statement holds stays the same.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from ck_contracts.budget import BudgetCredited, BudgetDebited, CardPaymentMade
from ck_invoicing.consumers import close_due_periods, spending_consumer
from ck_invoicing.settings import get_settings
from ck_invoicing.tables import spending_lines, statements
from ck_runtime.clock import ManualClock
from ck_runtime.db import Database
from ck_runtime.migrations import upgrade_async
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, select

START = datetime(2026, 3, 2, 8, tzinfo=UTC)  # a Monday
PROVIDERS = [uuid.UUID(int=0x2000 + i) for i in range(4)]
_MIGRATED: set[str] = set()

spending = st.lists(
    st.tuples(
        st.sampled_from(["weborder", "card"]),
        st.integers(0, len(PROVIDERS) - 1),
        st.integers(1, 500_000),  # cents
        st.integers(0, 20 * 24),  # hours after START
        st.one_of(st.none(), st.integers(0, 20 * 24)),  # cancelled this many hours later
    ),
    min_size=1,
    max_size=40,
)


@hyp_settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    items=spending,
    closings=st.lists(st.integers(0, 24 * 24), min_size=1, max_size=8),
    repeats=st.lists(st.integers(0, 200), max_size=6),
    seed=st.integers(0, 10_000),
)
def test_every_euro_is_on_exactly_one_statement(
    database_url: str,
    items: list[tuple[str, int, int, int, int | None]],
    closings: list[int],
    repeats: list[int],
    seed: int,
) -> None:
    async def scenario() -> None:
        if database_url not in _MIGRATED:
            await upgrade_async("invoicing", database_url)
            _MIGRATED.add(database_url)
        db = Database(database_url)
        settings = get_settings(payout_close_delay_minutes=0)
        consumer = spending_consumer(settings)
        try:
            async with db.transaction() as session:  # a fresh ledger per example
                await session.execute(delete(spending_lines))
                await session.execute(delete(statements))
                for table in ("statement_counters", "payout_periods"):
                    await session.execute(
                        delete(spending_lines.metadata.tables[table])  # type: ignore[arg-type]
                    )
            # (arrival hour, event) in the order they happen
            timeline: list[tuple[int, Any]] = []
            expected: dict[uuid.UUID, int] = defaultdict(int)
            for kind, p, cents, hour, cancel_after in items:
                when = START + timedelta(hours=hour)
                provider = PROVIDERS[p]
                if kind == "card":
                    timeline.append(
                        (
                            hour,
                            CardPaymentMade(
                                school_id=uuid.uuid4(),
                                payment_id=uuid.uuid4(),
                                person_id=uuid.uuid4(),
                                provider_id=provider,
                                amount_cents=cents,
                                description="kaart",
                                paid_at=when,
                            ),
                        )
                    )
                    expected[provider] += cents
                    continue
                debit = BudgetDebited(
                    school_id=uuid.uuid4(),
                    occurred_at=when,
                    reference_id=uuid.uuid4(),
                    kind="weborder",
                    amount_cents=cents,
                    balance_cents=0,
                    provider_id=provider,
                )
                timeline.append((hour, debit))
                expected[provider] += cents
                if cancel_after is not None:
                    later = hour + cancel_after
                    credit = BudgetCredited(
                        school_id=debit.school_id,
                        occurred_at=START + timedelta(hours=later),
                        reference_id=debit.reference_id,
                        kind="weborder",
                        amount_cents=cents,
                        balance_cents=0,
                    )
                    timeline.append((later, credit))
                    expected[provider] -= cents
            rng = random.Random(seed)
            rng.shuffle(timeline)  # arrival order is not booking order
            timeline.sort(key=lambda item: item[0] + rng.choice([0, 0, 0, 30]))  # some late
            for index in repeats:  # some republished under a new event id
                _, event = timeline[index % len(timeline)]
                timeline.append((timeline[-1][0], event.model_copy(update={"id": uuid.uuid4()})))
            closing_hours = sorted(closings)
            held: dict[uuid.UUID, set[uuid.UUID]] = {}
            for hour, event in timeline:
                while closing_hours and closing_hours[0] <= hour:
                    await close_due_periods(
                        db, settings, ManualClock(START + timedelta(hours=closing_hours.pop(0)))
                    )
                    held = await check_statements(db, held)
                assert await consumer.handle(event.envelope(), db)
            # Long after everything: every provider's balance is >= 0 (credits never exceed
            # their debits), so nothing is left waiting.
            await close_due_periods(db, settings, ManualClock(START + timedelta(days=60)))
            await check_statements(db, held)
            async with db.read() as session:
                on_statements = dict(
                    (
                        await session.execute(
                            select(
                                statements.c.provider_id, func.sum(statements.c.total_cents)
                            ).group_by(statements.c.provider_id)
                        )
                    ).all()
                )
                waiting = dict(
                    (
                        await session.execute(
                            select(
                                spending_lines.c.provider_id,
                                func.sum(spending_lines.c.amount_cents),
                            )
                            .where(spending_lines.c.statement_id.is_(None))
                            .group_by(spending_lines.c.provider_id)
                        )
                    ).all()
                )
                lines = (
                    await session.execute(select(func.count()).select_from(spending_lines))
                ).scalar_one()
            # Only corrections that no later spending covered wait (negative), nothing else.
            assert all(int(v) < 0 for v in waiting.values()), waiting
            for p in PROVIDERS:
                got = int(on_statements.get(p) or 0) + int(waiting.get(p) or 0)
                assert got == expected.get(p, 0), (p, got, expected.get(p, 0))
            assert lines == len(timeline) - len(repeats)
        finally:
            await db.dispose()

    asyncio.run(scenario())


async def check_statements(
    db: Database, held: dict[uuid.UUID, set[uuid.UUID]]
) -> dict[uuid.UUID, set[uuid.UUID]]:
    """Totals are their lines' sums, numbers gapless, and closed statements keep their lines."""
    async with db.read() as session:
        rows = (await session.execute(select(statements))).all()
        lines = (
            await session.execute(
                select(
                    spending_lines.c.id,
                    spending_lines.c.statement_id,
                    spending_lines.c.amount_cents,
                ).where(spending_lines.c.statement_id.is_not(None))
            )
        ).all()
    by_statement: dict[uuid.UUID, set[uuid.UUID]] = defaultdict(set)
    sums: dict[uuid.UUID, int] = defaultdict(int)
    for line_id, statement_id, cents in lines:
        by_statement[statement_id].add(line_id)
        sums[statement_id] += int(cents)
    for row in rows:
        assert row.total_cents == sums[row.id]
        assert row.line_count == len(by_statement[row.id]) > 0
    numbers = sorted(int(row.number[3:]) for row in rows)
    assert numbers == list(range(1, len(rows) + 1))
    for statement_id, ids in held.items():
        assert by_statement[statement_id] == ids
    return dict(by_statement)
