"""Reading and writing the budget tables. Every money change locks the school's balance row
first (FOR UPDATE on PostgreSQL; on SQLite the transaction already holds the one write lock)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from ck_contracts.budget import (
    BudgetOrderApproved,
    Order,
    OrderLine,
    OrderStatus,
    Quote,
)
from ck_runtime.outbox import add_to_outbox
from sqlalchemy import Row, Table, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from ck_budget import domain
from ck_budget.tables import balances, ledger_entries, orders

OPEN = OrderStatus.IN_OBJECTION_PERIOD.value


def insert(session: AsyncSession, table: Table) -> Any:
    """The dialect's INSERT (it has ON CONFLICT on both SQLite and PostgreSQL)."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def is_postgresql(session: AsyncSession) -> bool:
    return session.bind is not None and session.bind.dialect.name == "postgresql"


# --- balances ------------------------------------------------------------------------------------
async def lock_balance(session: AsyncSession, school_id: uuid.UUID, now: datetime) -> Row[Any]:
    """The school's balance row, created at zero when missing, locked until the commit."""
    await session.execute(
        insert(session, balances)
        .values(school_id=school_id, balance_cents=0, assignable_cents=0, updated_at=now)
        .on_conflict_do_nothing()
    )
    return (
        await session.execute(
            select(balances).where(balances.c.school_id == school_id).with_for_update()
        )
    ).one()


async def save_balance(
    session: AsyncSession,
    school_id: uuid.UUID,
    now: datetime,
    *,
    balance_cents: int | None = None,
    assignable_cents: int | None = None,
) -> None:
    values: dict[str, Any] = {"updated_at": now}
    if balance_cents is not None:
        values["balance_cents"] = balance_cents
    if assignable_cents is not None:
        values["assignable_cents"] = assignable_cents
    await session.execute(
        update(balances).where(balances.c.school_id == school_id).values(**values)
    )


async def add_ledger_entry(
    session: AsyncSession,
    school_id: uuid.UUID,
    at: datetime,
    description: str,
    amount_cents: int,
    balance_cents: int,
    *,
    order_id: uuid.UUID | None = None,
    invoice_id: uuid.UUID | None = None,
) -> None:
    """Call with the balance row locked; balance_cents is the balance after this entry."""
    await session.execute(
        ledger_entries.insert().values(
            school_id=school_id,
            at=at,
            description=description,
            amount_cents=amount_cents,
            balance_cents=balance_cents,
            order_id=order_id,
            invoice_id=invoice_id,
        )
    )


async def debit_balance(
    session: AsyncSession,
    school_id: uuid.UUID,
    amount_cents: int,
    description: str,
    now: datetime,
    ends_on: date,
    *,
    order_id: uuid.UUID | None = None,
) -> int:
    """Debit the collective balance (weborders and Schooltoer, issue 6): refused with a Dutch
    Conflict when the balance is too low or the programme period is over; two debits at the
    same moment queue on the balance row's lock, so they can never overspend (R-WEB-2).
    Returns the balance after the debit."""
    balance = await lock_balance(session, school_id, now)
    after = domain.debit(balance.balance_cents, amount_cents, now, ends_on)
    await add_ledger_entry(
        session, school_id, now, description, -amount_cents, after, order_id=order_id
    )
    await save_balance(session, school_id, now, balance_cents=after)
    return after


# --- orders --------------------------------------------------------------------------------------
def order_from_row(row: Row[Any]) -> Order:
    lines = [OrderLine.model_validate(line) for line in row.lines]
    return Order(
        order_id=row.id,
        school_id=row.school_id,
        status=OrderStatus(row.status),
        reference=row.reference,
        collective_students=row.collective_students,
        individual_students=row.individual_students,
        quote=Quote(
            collective_budget_cents=row.collective_budget_cents,
            individual_budget_cents=row.individual_budget_cents,
            invoice_total_cents=row.total_cents,
            lines=lines,
        ),
        placed_at=row.placed_at,
        objection_ends_at=row.objection_ends_at,
        decided_at=row.decided_at,
    )


def quote_values(quote: Quote) -> dict[str, Any]:
    return {
        "collective_budget_cents": quote.collective_budget_cents,
        "individual_budget_cents": quote.individual_budget_cents,
        "total_cents": quote.invoice_total_cents,
        "lines": [line.model_dump(mode="json") for line in quote.lines],
    }


async def load_order(
    session: AsyncSession, school_id: uuid.UUID, order_id: uuid.UUID
) -> Row[Any] | None:
    """The order, only when it belongs to this school (R-ROLE-6)."""
    return (
        await session.execute(
            select(orders).where(orders.c.id == order_id, orders.c.school_id == school_id)
        )
    ).first()


def approved_event(row: Row[Any], now: datetime) -> BudgetOrderApproved:
    return BudgetOrderApproved(
        school_id=row.school_id,
        occurred_at=now,
        order_id=row.id,
        school_number=row.school_number,
        reference=row.reference,
        collective_students=row.collective_students,
        individual_students=row.individual_students,
        lines=[OrderLine.model_validate(line) for line in row.lines],
        total_cents=row.total_cents,
        collective_budget_cents=row.collective_budget_cents,
        individual_budget_cents=row.individual_budget_cents,
        approved_at=now,
    )


async def approve(
    session: AsyncSession,
    order_id: uuid.UUID,
    now: datetime,
    *,
    decided_by: uuid.UUID | None = None,
    only_when_due: bool = True,
) -> bool:
    """Approve an open order, exactly once: a conditional UPDATE decides which of several
    approvers (schedulers on other replicas, an admin) wins; only the winner writes the
    BudgetOrderApproved event, in the same transaction (outbox). False: someone else did, or
    the order was cancelled meanwhile."""
    conditions = [orders.c.id == order_id, orders.c.status == OPEN]
    if only_when_due:
        conditions.append(orders.c.objection_ends_at <= now)
    result = await session.execute(
        update(orders)
        .where(*conditions)
        .values(
            status=OrderStatus.APPROVED.value,
            decided_at=now,
            decided_by=decided_by,
            updated_at=now,
        )
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    row = (await session.execute(select(orders).where(orders.c.id == order_id))).one()
    await add_to_outbox(session, approved_event(row, now))
    return True


async def due_orders(session: AsyncSession, now: datetime, limit: int) -> Sequence[uuid.UUID]:
    """Open orders whose period has ended, oldest deadline first. On PostgreSQL the rows stay
    locked (SKIP LOCKED): another replica's scheduler takes the next ones, never these."""
    query = (
        select(orders.c.id)
        .where(orders.c.status == OPEN, orders.c.objection_ends_at <= now)
        .order_by(orders.c.objection_ends_at, orders.c.id)
        .limit(limit)
    )
    if is_postgresql(session):
        query = query.with_for_update(skip_locked=True)
    return list((await session.execute(query)).scalars())
