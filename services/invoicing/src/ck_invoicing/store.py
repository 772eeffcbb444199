"""Reading and writing invoices, their numbers, and the uploaded-roster projection."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any, cast

from ck_contracts.budget import BudgetOrderApproved, OrderLine
from ck_contracts.invoicing import Invoice, InvoiceStatus
from ck_contracts.roster import RosterKind
from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult, Row
from sqlalchemy.ext.asyncio import AsyncSession

from ck_invoicing import domain
from ck_invoicing.tables import invoice_counters, invoices, roster_changes, uploaded_rosters


def _insert(session: AsyncSession) -> Any:
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


# --- numbers (R-INVOICE-1) ----------------------------------------------------------------------
async def lock_counter(session: AsyncSession, year: int) -> int:
    """The year's last number given out, with its row locked until the transaction ends.

    PostgreSQL: SELECT ... FOR UPDATE; a second transaction waits here until the first commits
    (or rolls back, and then the number it would have taken is still free: no gaps). SQLite:
    FOR UPDATE is not rendered; the writer lock taken at BEGIN IMMEDIATE serialises instead.
    Not a database sequence: a sequence hands out numbers that a rollback loses.
    """
    locked = (
        select(invoice_counters.c.last_number)
        .where(invoice_counters.c.year == year)
        .with_for_update()
    )
    last = (await session.execute(locked)).scalar()
    if last is None:  # the year's first invoice: make the row (a concurrent maker wins)
        await session.execute(
            _insert(session)(invoice_counters)
            .values(year=year, last_number=0)
            .on_conflict_do_nothing()
        )
        last = (await session.execute(locked)).scalar_one()
    return int(last)


async def create_invoice(
    session: AsyncSession, order: BudgetOrderApproved, now: datetime
) -> dict[str, Any] | None:
    """The order's invoice, numbered, in the caller's transaction. None when the order already
    has one (a second approval event for the same order)."""
    year = domain.invoice_year(now)
    last = await lock_counter(session, year)
    # Checked under the counter lock: a concurrent invoice for this order is committed by now.
    existing = await session.execute(
        select(invoices.c.id).where(invoices.c.order_id == order.order_id)
    )
    if existing.first() is not None:
        return None
    counter = last + 1
    number = domain.format_number(year, counter)
    await session.execute(
        update(invoice_counters).where(invoice_counters.c.year == year).values(last_number=counter)
    )
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "school_id": order.school_id,
        "order_id": order.order_id,
        "number": number,
        "year": year,
        "invoice_date": now,
        "school_number": order.school_number,
        "reference": order.reference,
        "collective_students": order.collective_students,
        "individual_students": order.individual_students,
        "lines": [line.model_dump(mode="json") for line in order.lines],
        "total_cents": domain.lines_total(order.lines),
        "collective_budget_cents": order.collective_budget_cents,
        "individual_budget_cents": order.individual_budget_cents,
        "status": InvoiceStatus.OPEN.value,
    }
    await session.execute(invoices.insert().values(**values))
    return values


# --- reading ------------------------------------------------------------------------------------
async def get_row(session: AsyncSession, invoice_id: uuid.UUID) -> Row[Any] | None:
    return (await session.execute(select(invoices).where(invoices.c.id == invoice_id))).first()


async def school_rows(session: AsyncSession, school_id: uuid.UUID) -> list[Row[Any]]:
    query = (
        select(invoices)
        .where(invoices.c.school_id == school_id)
        .order_by(invoices.c.invoice_date.desc(), invoices.c.number.desc())
    )
    return list((await session.execute(query)).all())


def to_invoice(row: Row[Any] | Mapping[str, Any], uploaded: Mapping[RosterKind, int]) -> Invoice:
    m = row._mapping if isinstance(row, Row) else row
    ordered = int(m["collective_students"]) + int(m["individual_students"])
    return Invoice(
        invoice_id=m["id"],
        school_id=m["school_id"],
        order_id=m["order_id"],
        number=m["number"],
        invoice_date=m["invoice_date"],
        reference=m["reference"],
        lines=[OrderLine.model_validate(line) for line in m["lines"]],
        total_cents=int(m["total_cents"]),
        status=InvoiceStatus(m["status"]),
        paid_on=m.get("paid_on"),
        deviations=domain.deviations(ordered, uploaded),
    )


# --- payments (R-INVOICE-4) ---------------------------------------------------------------------
async def mark_paid(
    session: AsyncSession,
    invoice_id: uuid.UUID,
    *,
    amount_cents: int,
    paid_on: date,
    payment_reference: str,
    recorded_by: uuid.UUID,
    now: datetime,
) -> bool:
    """Open -> betaald. A conditional update: of two concurrent recordings exactly one changes
    the row (PostgreSQL re-checks the condition after waiting for the other's row lock; SQLite
    has one writer), so exactly one of them publishes InvoicePaid."""
    result = await session.execute(
        update(invoices)
        .where(invoices.c.id == invoice_id, invoices.c.status == InvoiceStatus.OPEN.value)
        .values(
            status=InvoiceStatus.PAID.value,
            paid_on=paid_on,
            paid_amount_cents=amount_cents,
            payment_reference=payment_reference,
            payment_recorded_at=now,
            payment_recorded_by=recorded_by,
        )
    )
    return bool(cast("CursorResult[Any]", result).rowcount)  # an UPDATE's result has one


# --- uploaded counts (R-INVOICE-3) --------------------------------------------------------------
async def roster_uploaded(
    session: AsyncSession, school_id: uuid.UUID, kind: RosterKind, total: int, at: datetime
) -> None:
    """A whole-roster upload: its total replaces the count, unless a newer upload is known.
    Single changes at or before it are in its total, so they are dropped."""
    statement = _insert(session)(uploaded_rosters).values(
        school_id=school_id, kind=kind.value, total=total, as_of=at
    )
    statement = statement.on_conflict_do_update(
        index_elements=["school_id", "kind"],
        set_={"total": statement.excluded.total, "as_of": statement.excluded.as_of},
        where=uploaded_rosters.c.as_of < statement.excluded.as_of,
    )
    await session.execute(statement)
    await session.execute(
        delete(roster_changes).where(
            roster_changes.c.school_id == school_id,
            roster_changes.c.kind == kind.value,
            roster_changes.c.occurred_at <= at,
        )
    )


async def roster_changed(
    session: AsyncSession,
    event_id: uuid.UUID,
    school_id: uuid.UUID,
    kind: RosterKind,
    delta: int,
    at: datetime,
) -> None:
    """One person added (+1) or removed (-1). Kept only when it is newer than the last upload:
    an older change (or one of the upload itself) is already in the upload's total, whatever
    order the events arrive in."""
    as_of = (
        await session.execute(
            select(uploaded_rosters.c.as_of).where(
                uploaded_rosters.c.school_id == school_id, uploaded_rosters.c.kind == kind.value
            )
        )
    ).scalar()
    if as_of is not None and at <= as_of:
        return
    await session.execute(
        _insert(session)(roster_changes)
        .values(
            event_id=event_id, school_id=school_id, kind=kind.value, delta=delta, occurred_at=at
        )
        .on_conflict_do_nothing()
    )


async def uploaded_counts(
    session: AsyncSession, school_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, dict[RosterKind, int]]:
    """Per school and kind: the last upload's total plus the single changes since it."""
    ids = list(set(school_ids))
    counts: dict[uuid.UUID, dict[RosterKind, int]] = {sid: {} for sid in ids}
    if not ids:
        return counts
    uploads = await session.execute(
        select(
            uploaded_rosters.c.school_id, uploaded_rosters.c.kind, uploaded_rosters.c.total
        ).where(uploaded_rosters.c.school_id.in_(ids))
    )
    for school_id, kind, total in uploads:
        counts[school_id][RosterKind(kind)] = int(total)
    changes = await session.execute(
        select(roster_changes.c.school_id, roster_changes.c.kind, func.sum(roster_changes.c.delta))
        .select_from(
            roster_changes.outerjoin(
                uploaded_rosters,
                and_(
                    uploaded_rosters.c.school_id == roster_changes.c.school_id,
                    uploaded_rosters.c.kind == roster_changes.c.kind,
                ),
            )
        )
        .where(
            roster_changes.c.school_id.in_(ids),
            or_(
                uploaded_rosters.c.as_of.is_(None),
                roster_changes.c.occurred_at > uploaded_rosters.c.as_of,
            ),
        )
        .group_by(roster_changes.c.school_id, roster_changes.c.kind)
    )
    for school_id, kind, delta in changes:
        key = RosterKind(kind)
        counts[school_id][key] = max(0, counts[school_id].get(key, 0) + int(delta or 0))
    return counts
