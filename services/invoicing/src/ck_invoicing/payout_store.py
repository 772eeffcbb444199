"""All SQL of payouts to providers (issue 13, capability 4): spending lines, closing a period
into statements, statements and their lines, marking one paid.

Closing is set-based: one grouped SELECT of the pending lines per provider, one multi-row
INSERT of the statements, one UPDATE ... FROM that puts every pending line on its provider's
statement, one UPDATE that sets each statement's total and count from its lines. The number of
statements is what grows per provider; nothing runs per line.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any, cast

from ck_contracts.payouts import (
    LineKind,
    StatementLine,
    StatementQuery,
    StatementStatus,
    StatementSummary,
)
from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult, Row
from sqlalchemy.ext.asyncio import AsyncSession

from ck_invoicing import payouts
from ck_invoicing.domain import TIMEZONE
from ck_invoicing.payouts import Entry
from ck_invoicing.tables import (
    known_schools,
    payout_periods,
    spending_lines,
    statement_counters,
    statements,
)

_STATEMENT_COLUMNS = (
    statements.c.id,
    statements.c.provider_id,
    statements.c.number,
    statements.c.period_start,
    statements.c.period_end,
    statements.c.issued_at,
    statements.c.line_count,
    statements.c.total_cents,
    statements.c.status,
    statements.c.paid_on,
    statements.c.payment_reference,
)


def _insert(session: AsyncSession) -> Any:
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def _rowcount(result: Any) -> int:
    return int(cast("CursorResult[Any]", result).rowcount or 0)


# --- lines ---------------------------------------------------------------------------------------
async def add_line(session: AsyncSession, values: dict[str, Any]) -> bool:
    """One line, unless the same (reference, entry) is there already. True: added."""
    values = {**values, "id": payouts.line_id(values["reference_id"], values["entry"])}
    result = await session.execute(
        _insert(session)(spending_lines)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["reference_id", "entry"])
    )
    return _rowcount(result) == 1


async def debit_line(session: AsyncSession, reference_id: uuid.UUID) -> Row[Any] | None:
    return (
        await session.execute(
            select(spending_lines).where(
                spending_lines.c.reference_id == reference_id,
                spending_lines.c.entry == Entry.DEBIT,
            )
        )
    ).first()


async def attribute_credit(
    session: AsyncSession, reference_id: uuid.UUID, provider_id: uuid.UUID | None
) -> None:
    """A credit that arrived before its debit (a redelivery can swap them) learns the debit's
    provider once the debit is there."""
    if provider_id is None:
        return
    await session.execute(
        update(spending_lines)
        .where(
            spending_lines.c.reference_id == reference_id,
            spending_lines.c.entry == Entry.CREDIT,
            spending_lines.c.provider_id.is_(None),
            spending_lines.c.statement_id.is_(None),
        )
        .values(provider_id=provider_id)
    )


# --- closing a period ----------------------------------------------------------------------------
async def last_closed(session: AsyncSession) -> datetime | None:
    end: datetime | None = (
        await session.execute(select(func.max(payout_periods.c.period_end)))
    ).scalar()
    return end


async def claim_period(session: AsyncSession, period_end: datetime, now: datetime) -> bool:
    """The closing's claim: the period's row. False: closed already (by another replica, or
    before). PostgreSQL: a second claim waits on the first's uncommitted row and then does
    nothing; SQLite: the write lock taken at BEGIN IMMEDIATE serialises them."""
    result = await session.execute(
        _insert(session)(payout_periods)
        .values(period_end=period_end, closed_at=now, statements=0)
        .on_conflict_do_nothing(index_elements=["period_end"])
    )
    return _rowcount(result) == 1


async def lock_counter(session: AsyncSession, year: int) -> int:
    """The year's last statement number, its row locked until the transaction ends (as
    store.lock_counter for invoices: never a sequence, a rollback frees the numbers)."""
    locked = (
        select(statement_counters.c.last_number)
        .where(statement_counters.c.year == year)
        .with_for_update()
    )
    last = (await session.execute(locked)).scalar()
    if last is None:
        await session.execute(
            _insert(session)(statement_counters)
            .values(year=year, last_number=0)
            .on_conflict_do_nothing()
        )
        last = (await session.execute(locked)).scalar_one()
    return int(last)


def _pending(period_end: datetime) -> Any:
    return (
        spending_lines.c.statement_id.is_(None),
        spending_lines.c.provider_id.is_not(None),
        spending_lines.c.booked_at < period_end,
    )


async def close_period(
    session: AsyncSession, period_end: datetime, period_start: datetime, now: datetime
) -> list[dict[str, Any]]:
    """Statements for every provider with lines booked before `period_end` that are on no
    statement yet, in the caller's transaction, after `claim_period`. Returns the statements
    made (id, provider_id, number, total_cents)."""
    per_provider = (
        (
            await session.execute(
                select(spending_lines.c.provider_id)
                .where(*_pending(period_end))
                .group_by(spending_lines.c.provider_id)
                # Only corrections pending: wait for spending that covers them (see payouts).
                .having(func.sum(spending_lines.c.amount_cents) >= 0)
                .order_by(spending_lines.c.provider_id)
            )
        )
        .scalars()
        .all()
    )
    if not per_provider:
        return []
    year = payouts.statement_year(period_end)
    last = await lock_counter(session, year)
    made = [
        {
            "id": uuid.uuid4(),
            "provider_id": provider_id,
            "number": payouts.statement_number(year, last + i),
            "year": year,
            "period_start": period_start,
            "period_end": period_end,
            "issued_at": now,
            "line_count": 0,
            "total_cents": 0,
            "status": StatementStatus.OPEN.value,
            "payment_reference": "",
        }
        for i, provider_id in enumerate(per_provider, start=1)
    ]
    await session.execute(statements.insert(), made)
    await session.execute(
        update(statement_counters)
        .where(statement_counters.c.year == year)
        .values(last_number=last + len(made))
    )
    # Every pending line onto its provider's new statement: one UPDATE ... FROM.
    await session.execute(
        update(spending_lines)
        .where(
            statements.c.provider_id == spending_lines.c.provider_id,
            statements.c.period_end == period_end,
            *_pending(period_end),
        )
        .values(statement_id=statements.c.id)
    )
    # Totals and counts from the lines the statements now hold, so a total is always its lines'
    # sum (also when a line committed between the SELECT above and the UPDATE).
    sums = (
        select(
            spending_lines.c.statement_id.label("sid"),
            func.count().label("n"),
            func.sum(spending_lines.c.amount_cents).label("cents"),
        )
        .where(
            spending_lines.c.statement_id.in_(
                select(statements.c.id).where(statements.c.period_end == period_end)
            )
        )
        .group_by(spending_lines.c.statement_id)
        .subquery()
    )
    await session.execute(
        update(statements)
        .where(statements.c.id == sums.c.sid)
        .values(line_count=sums.c.n, total_cents=sums.c.cents)
    )
    rows = await session.execute(
        select(
            statements.c.id,
            statements.c.provider_id,
            statements.c.number,
            statements.c.total_cents,
        ).where(statements.c.period_end == period_end)
    )
    result = [dict(r._mapping) for r in rows]
    await session.execute(
        update(payout_periods)
        .where(payout_periods.c.period_end == period_end)
        .values(statements=len(result))
    )
    return result


# --- reading -------------------------------------------------------------------------------------
def to_summary(row: Row[Any]) -> StatementSummary:
    m = row._mapping
    return StatementSummary(
        statement_id=m["id"],
        provider_id=m["provider_id"],
        number=m["number"],
        period_start=m["period_start"],
        period_end=m["period_end"],
        issued_at=m["issued_at"],
        line_count=int(m["line_count"]),
        total_cents=int(m["total_cents"]),
        status=StatementStatus(m["status"]),
        paid_on=m["paid_on"],
        payment_reference=m["payment_reference"] or "",
    )


def _local_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=TIMEZONE)


async def list_statements(
    session: AsyncSession, query: StatementQuery, provider_id: uuid.UUID | None = None
) -> tuple[int, list[StatementSummary]]:
    """Newest period first, then by number. provider_id (the provider's own list) wins over the
    query's."""
    conditions: list[Any] = []
    owner = provider_id or query.provider_id
    if owner is not None:
        conditions.append(statements.c.provider_id == owner)
    if query.period_from is not None:
        conditions.append(statements.c.period_end > _local_midnight(query.period_from))
    if query.period_to is not None:
        end = _local_midnight(query.period_to) + timedelta(days=1)
        conditions.append(statements.c.period_end <= end)
    if query.paid is not None:
        status = StatementStatus.PAID if query.paid else StatementStatus.OPEN
        conditions.append(statements.c.status == status.value)
    total = (
        await session.execute(select(func.count()).select_from(statements).where(*conditions))
    ).scalar_one()
    rows = await session.execute(
        select(*_STATEMENT_COLUMNS)
        .where(*conditions)
        .order_by(statements.c.period_end.desc(), statements.c.number)
        .limit(query.page_size)
        .offset((query.page - 1) * query.page_size)
    )
    return int(total), [to_summary(cast("Row[Any]", r)) for r in rows]


async def get_statement(session: AsyncSession, statement_id: uuid.UUID) -> Row[Any] | None:
    row = (
        await session.execute(select(*_STATEMENT_COLUMNS).where(statements.c.id == statement_id))
    ).first()
    return cast("Row[Any] | None", row)


async def statement_lines(session: AsyncSession, statement_id: uuid.UUID) -> list[StatementLine]:
    corrected = statements.alias("corrected")
    rows = await session.execute(
        select(
            spending_lines.c.booked_at,
            spending_lines.c.school_id,
            known_schools.c.name,
            spending_lines.c.kind,
            spending_lines.c.reference_id,
            spending_lines.c.description,
            spending_lines.c.amount_cents,
            spending_lines.c.entry,
            corrected.c.number,
        )
        .select_from(
            spending_lines.outerjoin(
                known_schools, known_schools.c.school_id == spending_lines.c.school_id
            ).outerjoin(corrected, corrected.c.id == spending_lines.c.corrects_statement_id)
        )
        .where(spending_lines.c.statement_id == statement_id)
        .order_by(spending_lines.c.booked_at, spending_lines.c.reference_id)
    )
    return [
        StatementLine(
            booked_at=r.booked_at,
            school_id=r.school_id,
            school_name=r.name or "",
            kind=LineKind(r.kind),
            reference_id=r.reference_id,
            description=r.description,
            amount_cents=int(r.amount_cents),
            correction=r.entry == Entry.CREDIT,
            corrects_number=r.number,
        )
        for r in rows
    ]


# --- paying --------------------------------------------------------------------------------------
async def mark_paid(
    session: AsyncSession,
    statement_id: uuid.UUID,
    *,
    paid_on: date,
    payment_reference: str,
    paid_by: uuid.UUID,
    now: datetime,
) -> bool:
    """Open -> betaald, a conditional update: of two concurrent markings one changes the row."""
    result = await session.execute(
        update(statements)
        .where(statements.c.id == statement_id, statements.c.status == StatementStatus.OPEN.value)
        .values(
            status=StatementStatus.PAID.value,
            paid_on=paid_on,
            payment_reference=payment_reference,
            paid_at=now,
            paid_by=paid_by,
        )
    )
    return _rowcount(result) == 1


async def pending_total(session: AsyncSession) -> Sequence[Row[Any, Any]]:
    """Per provider, what is on no statement yet (tests and operators)."""
    return (
        await session.execute(
            select(spending_lines.c.provider_id, func.sum(spending_lines.c.amount_cents))
            .where(spending_lines.c.statement_id.is_(None))
            .group_by(spending_lines.c.provider_id)
        )
    ).all()
