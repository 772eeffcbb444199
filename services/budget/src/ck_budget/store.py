"""All of the budget service's SQL. Every money change locks the school's balance row first
(FOR UPDATE on PostgreSQL; on SQLite the transaction already holds the one write lock)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from ck_contracts.audit import AuditAction
from ck_contracts.budget import (
    BudgetOrderApproved,
    Order,
    OrderCounts,
    OrderLine,
    OrderStatus,
    ProviderCardPayment,
    ProviderCardPaymentPage,
    Quote,
)
from ck_contracts.roles import Actor
from ck_runtime import audit
from ck_runtime.db import erases_personal_data, rowcount
from ck_runtime.known_schools import KNOWN_SCHOOLS
from ck_runtime.outbox import add_to_outbox
from ck_runtime.tables import UtcDateTime
from sqlalchemy import (
    Row,
    Table,
    Uuid,
    any_,
    bindparam,
    delete,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from ck_budget import domain
from ck_budget.tables import (
    allocations,
    balances,
    card_payments,
    debits,
    ledger_entries,
    orders,
    releases,
    student_memberships,
)

OPEN = OrderStatus.IN_OBJECTION_PERIOD.value


def insert(session: AsyncSession, table: Table) -> Any:
    """The dialect's INSERT (it has ON CONFLICT on both SQLite and PostgreSQL)."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def is_postgresql(session: AsyncSession) -> bool:
    return session.bind is not None and session.bind.dialect.name == "postgresql"


CHUNK = 5_000  # ids per IN (...) list: below both databases' parameter limits


# --- schools -------------------------------------------------------------------------------------
async def known_school(session: AsyncSession, school_id: uuid.UUID) -> Row[Any, Any] | None:
    """The school's number and DUO count as accounts announced them; None: not heard of."""
    return (
        await session.execute(
            select(KNOWN_SCHOOLS.c.school_number, KNOWN_SCHOOLS.c.duo_student_count).where(
                KNOWN_SCHOOLS.c.school_id == school_id
            )
        )
    ).first()


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
    actor: Actor | None = None,
    only_when_due: bool = True,
) -> bool:
    """Approve an open order, exactly once: a conditional UPDATE decides which of several
    approvers (schedulers on other replicas, an admin) wins; only the winner writes the
    BudgetOrderApproved event and the audit entry (actor None: the scheduler, "system"), in
    the same transaction (outbox). False: someone else did, or the order was cancelled
    meanwhile."""
    conditions = [orders.c.id == order_id, orders.c.status == OPEN]
    if only_when_due:
        conditions.append(orders.c.objection_ends_at <= now)
    result = await session.execute(
        update(orders)
        .where(*conditions)
        .values(
            status=OrderStatus.APPROVED.value,
            decided_at=now,
            decided_by=actor.user_id if actor is not None else None,
            updated_at=now,
        )
    )
    if rowcount(result) != 1:
        return False
    row = (await session.execute(select(orders).where(orders.c.id == order_id))).one()
    await add_to_outbox(session, approved_event(row, now))
    await audit.record(
        session,
        actor,
        AuditAction.BUDGET_ORDER_APPROVED,
        "budget_order",
        row.id,
        school_id=row.school_id,
        details={"total_cents": row.total_cents, "early": not only_when_due},
        at=now,
    )
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


async def first_order(session: AsyncSession, school_id: uuid.UUID) -> bool:
    """No order of the school that still counts: a cancelled first order leaves the school at
    the first order form; after any other the form is "Bijbestellen" (R-BUDGET-4)."""
    found = (
        await session.execute(
            select(orders.c.id)
            .where(orders.c.school_id == school_id, orders.c.status != OrderStatus.CANCELLED.value)
            .limit(1)
        )
    ).first()
    return found is None


async def add_order(session: AsyncSession, values: dict[str, Any]) -> Row[Any]:
    await session.execute(orders.insert().values(**values))
    return (await session.execute(select(orders).where(orders.c.id == values["id"]))).one()


async def order_row(session: AsyncSession, order_id: uuid.UUID) -> Row[Any]:
    return (await session.execute(select(orders).where(orders.c.id == order_id))).one()


async def change_open_order(
    session: AsyncSession, order_id: uuid.UUID, counts: OrderCounts, priced: Quote, now: datetime
) -> bool:
    """New counts, reference and price, only while the order is in its objection period."""
    result = await session.execute(
        update(orders)
        .where(orders.c.id == order_id, orders.c.status == OPEN, orders.c.objection_ends_at > now)
        .values(
            reference=counts.reference.strip(),
            collective_students=counts.collective_students,
            individual_students=counts.individual_students,
            updated_at=now,
            **quote_values(priced),
        )
    )
    return rowcount(result) == 1


async def cancel_open_order(
    session: AsyncSession, order_id: uuid.UUID, now: datetime, decided_by: uuid.UUID | None
) -> bool:
    """Cancelled, only while the order is in its objection period."""
    result = await session.execute(
        update(orders)
        .where(orders.c.id == order_id, orders.c.status == OPEN, orders.c.objection_ends_at > now)
        .values(
            status=OrderStatus.CANCELLED.value,
            decided_at=now,
            decided_by=decided_by,
            updated_at=now,
        )
    )
    return rowcount(result) == 1


async def orders_of(session: AsyncSession, school_id: uuid.UUID) -> list[Order]:
    rows = (
        await session.execute(
            select(orders)
            .where(orders.c.school_id == school_id)
            .order_by(orders.c.placed_at.desc(), orders.c.id)
        )
    ).all()
    return [order_from_row(r) for r in rows]


# --- the ledger ----------------------------------------------------------------------------------
async def balance_of(session: AsyncSession, school_id: uuid.UUID) -> Row[Any] | None:
    return (
        await session.execute(select(balances).where(balances.c.school_id == school_id))
    ).first()


async def ledger_of(session: AsyncSession, school_id: uuid.UUID) -> Sequence[Row[Any]]:
    return (
        await session.execute(
            select(ledger_entries)
            .where(ledger_entries.c.school_id == school_id)
            .order_by(ledger_entries.c.seq)
        )
    ).all()


# --- Budget toewijzen (R-BUDGET-6) ---------------------------------------------------------------
async def active_students(
    session: AsyncSession, school_id: uuid.UUID, ids: list[uuid.UUID]
) -> set[uuid.UUID]:
    """Which of these people are students of the school with an active membership."""
    query = select(student_memberships.c.person_id).where(
        student_memberships.c.school_id == school_id,
        student_memberships.c.active.is_(True),
        student_memberships.c.removed.is_(False),
    )
    if is_postgresql(session):  # one array parameter: 50,000 ids in one round trip
        ids_param = bindparam("ids", ids, type_=postgresql.ARRAY(Uuid))
        return set(
            (
                await session.execute(
                    query.where(student_memberships.c.person_id == any_(ids_param))
                )
            ).scalars()
        )
    found: set[uuid.UUID] = set()
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        found.update(
            (
                await session.execute(query.where(student_memberships.c.person_id.in_(chunk)))
            ).scalars()
        )
    return found


async def add_allocations(
    session: AsyncSession, school_id: uuid.UUID, ids: list[uuid.UUID], each: int, now: datetime
) -> None:
    """Add `each` to every student's allocation (created when missing)."""
    if is_postgresql(session):  # INSERT ... SELECT unnest(array): one statement
        await session.execute(
            text(
                "INSERT INTO allocations (person_id, school_id, allocated_cents, spent_cents, "
                "updated_at) SELECT pid, :school, :each, 0, :now FROM unnest(:ids) AS pid "
                "ON CONFLICT (person_id) DO UPDATE SET allocated_cents = "
                "allocations.allocated_cents + excluded.allocated_cents, "
                "updated_at = excluded.updated_at"
            ).bindparams(
                bindparam("ids", ids, type_=postgresql.ARRAY(Uuid)),
                bindparam("school", school_id, type_=Uuid),
                bindparam("each", each),
                bindparam("now", now, type_=UtcDateTime(timezone=True)),
            )
        )
        return
    upsert = insert(session, allocations).values(
        person_id=bindparam("pid"),
        school_id=school_id,
        allocated_cents=each,
        spent_cents=0,
        updated_at=now,
    )
    upsert = upsert.on_conflict_do_update(
        index_elements=["person_id"],
        set_={
            "allocated_cents": allocations.c.allocated_cents + upsert.excluded.allocated_cents,
            "updated_at": upsert.excluded.updated_at,
        },
    )
    await session.execute(upsert, [{"pid": pid} for pid in ids])


# --- card payments (R-WEB-6) ---------------------------------------------------------------------
async def card_payment(
    session: AsyncSession, provider_id: uuid.UUID, provider_reference: str
) -> Row[Any] | None:
    return (
        await session.execute(
            select(card_payments).where(
                card_payments.c.provider_id == provider_id,
                card_payments.c.provider_reference == provider_reference,
            )
        )
    ).first()


async def card_holders(session: AsyncSession, card_number: str) -> set[uuid.UUID]:
    """Everyone the card number belongs to (removed students too)."""
    return set(
        (
            await session.execute(
                select(student_memberships.c.person_id).where(
                    student_memberships.c.card_number == card_number
                )
            )
        ).scalars()
    )


async def members_with_card(session: AsyncSession, card_number: str) -> Sequence[Row[Any]]:
    """The students (not removed) with this card number."""
    return (
        await session.execute(
            select(student_memberships).where(
                student_memberships.c.card_number == card_number,
                student_memberships.c.removed.is_(False),
            )
        )
    ).all()


_IDS_PER_QUERY = 500  # an IN list stays far below SQLite's and asyncpg's parameter limits


async def allocations_of(
    session: AsyncSession, school_id: uuid.UUID, person_ids: Sequence[uuid.UUID] | None
) -> list[tuple[uuid.UUID, int, int]]:
    """(person id, allocated, spent) of the school's students with an allocation: these
    students, or all of them (None), in the order of the ids given (else by person id)."""
    columns = (allocations.c.person_id, allocations.c.allocated_cents, allocations.c.spent_cents)
    of_school = select(*columns).where(allocations.c.school_id == school_id)
    if person_ids is None:
        rows = (await session.execute(of_school.order_by(allocations.c.person_id))).all()
        return [(r[0], int(r[1]), int(r[2])) for r in rows]
    found: dict[uuid.UUID, tuple[uuid.UUID, int, int]] = {}
    unique = list(dict.fromkeys(person_ids))
    for start in range(0, len(unique), _IDS_PER_QUERY):
        chunk = unique[start : start + _IDS_PER_QUERY]
        query = of_school.where(allocations.c.person_id.in_(chunk))
        for r in (await session.execute(query)).all():
            found[r[0]] = (r[0], int(r[1]), int(r[2]))
    return [found[i] for i in unique if i in found]


async def lock_allocation(
    session: AsyncSession, person_id: uuid.UUID, school_id: uuid.UUID
) -> Row[Any] | None:
    """The student's allocation row, locked until the commit (FOR UPDATE)."""
    return (
        await session.execute(
            select(allocations)
            .where(allocations.c.person_id == person_id, allocations.c.school_id == school_id)
            .with_for_update()
        )
    ).first()


async def record_card_payment(
    session: AsyncSession, person_id: uuid.UUID, spent_after: int, values: dict[str, Any]
) -> None:
    await session.execute(
        update(allocations)
        .where(allocations.c.person_id == person_id)
        .values(spent_cents=spent_after, updated_at=values["paid_at"])
    )
    await session.execute(card_payments.insert().values(**values))


# --- the event handlers' writes (consumers.py) ---------------------------------------------------
async def school_of_order(session: AsyncSession, order_id: uuid.UUID) -> uuid.UUID | None:
    found: uuid.UUID | None = (
        await session.execute(select(orders.c.school_id).where(orders.c.id == order_id))
    ).scalar()
    return found


async def claim_release(session: AsyncSession, values: dict[str, Any]) -> bool:
    """The release of a paid invoice's budget, once per invoice: False when it was before."""
    claimed = await session.execute(
        insert(session, releases).values(**values).on_conflict_do_nothing()
    )
    return rowcount(claimed) > 0


async def save_student_membership(session: AsyncSession, values: dict[str, Any]) -> None:
    """The projection of a student's membership. Events may arrive out of order: an older fact
    never overwrites a newer one, and a removed person stays removed."""
    statement = insert(session, student_memberships).values(**values)
    changes = {"active": statement.excluded.active, "updated_at": statement.excluded.updated_at}
    if "card_number" in values:
        changes["card_number"] = statement.excluded.card_number
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["person_id"],
            set_=changes,
            where=(student_memberships.c.removed.is_(False))
            & (student_memberships.c.updated_at <= statement.excluded.updated_at),
        )
    )


async def remove_student(
    session: AsyncSession, person_id: uuid.UUID, school_id: uuid.UUID, at: datetime
) -> None:
    """The student's tombstone: ids only, the card number goes (R-AVG-2)."""
    statement = insert(session, student_memberships).values(
        person_id=person_id, school_id=school_id, active=False, removed=True, updated_at=at
    )
    erases_personal_data(session)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["person_id"],
            set_={"active": False, "removed": True, "card_number": None},
        )
    )


async def delete_allocation(session: AsyncSession, person_id: uuid.UUID) -> None:
    await session.execute(delete(allocations).where(allocations.c.person_id == person_id))


async def debit_of(
    session: AsyncSession, reference_id: uuid.UUID, school_id: uuid.UUID | None = None
) -> Row[Any] | None:
    """The debit of a weborder or Schooltoer order (of this school, when given)."""
    query = select(debits).where(debits.c.reference_id == reference_id)
    if school_id is not None:
        query = query.where(debits.c.school_id == school_id)
    return (await session.execute(query)).first()


async def record_debit(session: AsyncSession, values: dict[str, Any]) -> None:
    await session.execute(debits.insert().values(**values))


async def mark_credited(session: AsyncSession, reference_id: uuid.UUID, now: datetime) -> None:
    await session.execute(
        update(debits).where(debits.c.reference_id == reference_id).values(credited_at=now)
    )


# --- provider portal (issue 13) ------------------------------------------------------------------
async def provider_card_payments(
    session: AsyncSession, provider_id: uuid.UUID, page: int, page_size: int
) -> ProviderCardPaymentPage:
    """One provider's card payments, newest first, with the school's number and name (no
    student: the provider sees what it charged, not whom)."""
    mine = card_payments.c.provider_id == provider_id
    total, total_cents = (
        await session.execute(
            select(func.count(), func.coalesce(func.sum(card_payments.c.amount_cents), 0)).where(
                mine
            )
        )
    ).one()
    rows = await session.execute(
        select(card_payments, KNOWN_SCHOOLS.c.school_number, KNOWN_SCHOOLS.c.name)
        .select_from(
            card_payments.outerjoin(
                KNOWN_SCHOOLS, KNOWN_SCHOOLS.c.school_id == card_payments.c.school_id
            )
        )
        .where(mine)
        .order_by(card_payments.c.paid_at.desc(), card_payments.c.payment_id)
        .limit(page_size)
        .offset((page - 1) * page_size)
    )
    return ProviderCardPaymentPage(
        total=int(total),
        total_cents=int(total_cents),
        items=[
            ProviderCardPayment(
                payment_id=row.payment_id,
                school_number=row.school_number,
                school_name=row.name or "",
                amount_cents=row.amount_cents,
                description=row.description,
                provider_reference=row.provider_reference,
                paid_at=row.paid_at,
            )
            for row in rows
        ],
    )


# --- issue 13: the budget holders are told an objection period is about to end -------------------
async def ending_orders(
    session: AsyncSession, now: datetime, before: timedelta, limit: int
) -> Sequence[uuid.UUID]:
    """Open orders whose period ends within `before` and whose budget holders were not told
    yet. On PostgreSQL locked SKIP LOCKED, as due_orders."""
    query = (
        select(orders.c.id)
        .where(
            orders.c.status == OPEN,
            orders.c.objection_mailed_at.is_(None),
            orders.c.objection_ends_at > now,
            orders.c.objection_ends_at <= now + before,
        )
        .order_by(orders.c.objection_ends_at, orders.c.id)
        .limit(limit)
    )
    if is_postgresql(session):
        query = query.with_for_update(skip_locked=True)
    return list((await session.execute(query)).scalars())


async def mark_objection_mailed(
    session: AsyncSession, order_id: uuid.UUID, now: datetime
) -> Row[Any] | None:
    """The conditional UPDATE that makes the mail once-only, whoever runs it: the order's row
    (with the school's name) when this call marked it, None when someone else did first or
    the order is no longer open."""
    result = await session.execute(
        update(orders)
        .where(
            orders.c.id == order_id,
            orders.c.status == OPEN,
            orders.c.objection_mailed_at.is_(None),
        )
        .values(objection_mailed_at=now)
    )
    if rowcount(result) != 1:
        return None
    return (
        await session.execute(
            select(orders, KNOWN_SCHOOLS.c.name.label("school_name"))
            .select_from(
                orders.outerjoin(KNOWN_SCHOOLS, KNOWN_SCHOOLS.c.school_id == orders.c.school_id)
            )
            .where(orders.c.id == order_id)
        )
    ).one()
