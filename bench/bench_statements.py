"""Payouts to providers (issue 13, capability 4): closing a period into statements.

100,000 spending lines (weborder debits, card payments, and cancelled approvals as negative
lines) for 1,200 providers, booked over one period, wait in the invoicing service's
`spending_lines`; then the payout scheduler's pass (`close_due_periods`: claim the period, one
grouped SELECT, the statements numbered under the counter lock, one UPDATE ... FROM putting
every line on its statement, one UPDATE of the totals, 1,200 StatementIssued events into the
outbox, one transaction) is timed, on SQLite and on PostgreSQL. The lines are loaded with
plain bulk inserts first (not timed: in production they arrive one event at a time).
Checks: one statement per provider, gapless numbers, every line on a statement, each total
its lines' sum. Target: under 10 s.

    uv run python bench/bench_statements.py
"""

from __future__ import annotations

import asyncio
import random
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from benchkit import drop_postgres, metric, postgres_database

PROVIDERS = 1_200
LINES = 100_000
CHUNK = 5_000


async def build(url: str, label: str) -> float:
    from ck_invoicing.consumers import close_due_periods
    from ck_invoicing.payouts import Entry, line_id
    from ck_invoicing.settings import get_settings
    from ck_invoicing.tables import spending_lines, statements
    from ck_runtime.clock import ManualClock
    from ck_runtime.db import Database
    from ck_runtime.migrations import upgrade_async
    from sqlalchemy import func, select

    await upgrade_async("invoicing", url)
    db = Database(url)
    rng = random.Random(13)
    providers = [uuid.uuid4() for _ in range(PROVIDERS)]
    schools = [uuid.uuid4() for _ in range(400)]
    # Thursday 5 March 2026 00:00 Amsterdam .. Monday 9 March 00:00: one period.
    start = datetime(2026, 3, 4, 23, tzinfo=UTC)
    rows = []
    expected = 0
    for i in range(LINES):
        provider = providers[i % PROVIDERS]  # every provider has lines
        cents = rng.randint(500, 60_000)
        entry, kind = Entry.DEBIT, "weborder"
        round_ = i // PROVIDERS  # the provider's n-th line
        if round_ % 10 == 3:
            entry, kind = Entry.CARD, "card_payment"
        elif round_ % 50 == 7:
            entry, cents = Entry.CREDIT, -rng.randint(100, 400)  # a correction
        ref = uuid.uuid4()
        rows.append(
            {
                "id": line_id(ref, entry),
                "reference_id": ref,
                "entry": entry,
                "kind": kind,
                "provider_id": provider,
                "school_id": rng.choice(schools),
                "description": f"Weborder aanbieder {i % PROVIDERS}: activiteit {i}",
                "amount_cents": cents,
                "booked_at": start + timedelta(seconds=rng.randint(0, 4 * 86_400 - 1)),
            }
        )
        expected += cents
    async with db.transaction() as session:
        for at in range(0, LINES, CHUNK):
            await session.execute(spending_lines.insert(), rows[at : at + CHUNK])
    settings = get_settings(payout_close_delay_minutes=60)
    clock = ManualClock(datetime(2026, 3, 9, 3, tzinfo=UTC))
    began = time.perf_counter()
    made = await close_due_periods(db, settings, clock)
    elapsed = time.perf_counter() - began
    async with db.read() as session:
        numbers = sorted((await session.execute(select(statements.c.number))).scalars().all())
        total = (await session.execute(select(func.sum(statements.c.total_cents)))).scalar()
        lines_on = (await session.execute(select(func.sum(statements.c.line_count)))).scalar()
        pending = (
            await session.execute(
                select(func.count()).where(spending_lines.c.statement_id.is_(None))
            )
        ).scalar()
        mismatched = (
            await session.execute(
                select(func.count()).select_from(
                    select(statements.c.id)
                    .join(spending_lines, spending_lines.c.statement_id == statements.c.id)
                    .group_by(statements.c.id, statements.c.total_cents)
                    .having(func.sum(spending_lines.c.amount_cents) != statements.c.total_cents)
                    .subquery()
                )
            )
        ).scalar()
    await db.dispose()
    assert made == PROVIDERS, made
    assert numbers == [f"U26{n:06d}" for n in range(1, PROVIDERS + 1)], numbers[:3]
    assert total == expected and lines_on == LINES and pending == 0 and mismatched == 0
    metric(f"statements_{label}_providers", PROVIDERS, "providers")
    metric(f"statements_{label}_lines", LINES, "lines")
    metric(f"statements_{label}_build_seconds", elapsed, "s")
    metric(f"statements_{label}_lines_per_second", LINES / elapsed, "lines/s")
    return elapsed


def main() -> None:
    from ck_runtime.logs import configure_logging

    configure_logging("bench", level="WARNING")
    times: list[float] = []
    with tempfile.TemporaryDirectory() as data:
        times.append(asyncio.run(build(f"sqlite+aiosqlite:///{data}/invoicing.sqlite3", "sqlite")))
    name = postgres_database()
    if name is None:
        print("# PostgreSQL at 127.0.0.1:5432 not reachable: skipped", file=sys.stderr)
        return
    try:
        asyncio.run(build(f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}", "postgresql"))
    finally:
        drop_postgres(name)


if __name__ == "__main__":
    main()
