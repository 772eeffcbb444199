"""The budget service's event queues.

budget.events.payments: a paid invoice releases its order's budget (R-BUDGET-5, R-INVOICE-4),
exactly once per invoice: the inbox drops a redelivered event, and the `releases` key on the
invoice id drops a second InvoicePaid for the same invoice (another event id). An event that
can never be right (negative amounts, an order of another school) is dead-lettered at once.

budget.events.members: the projection of students with an active membership (who may get
individual budget, R-BUDGET-6); a person removed from the roster gives back their unspent
individual budget to the school's assignable pool (R-ROSTER-7). A membership that merely
ends keeps its allocation (the student may become active again); only removal returns it.
"""

from __future__ import annotations

from typing import Any

from ck_contracts.invoicing import InvoicePaid
from ck_contracts.membership import MembershipActivated, MembershipEnded
from ck_contracts.roster import PersonRemoved, RosterKind
from ck_contracts.topology import queues_of
from ck_runtime.consumers import EventConsumer, PoisonMessage
from ck_runtime.logs import get_logger
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from ck_budget import domain, store
from ck_budget.clock import Clock
from ck_budget.tables import allocations, orders, releases, student_memberships

log = get_logger(__name__)


def _queue(concern: str) -> Any:
    (queue,) = [q for q in queues_of("budget") if q.concern == concern]
    return queue


# --- payments ------------------------------------------------------------------------------------
async def release_budget(event: InvoicePaid, session: AsyncSession, clock: Clock) -> bool:
    """Credit the collective budget and make the individual budget assignable. False when this
    invoice was released before."""
    if event.school_id is None:
        raise PoisonMessage(f"InvoicePaid {event.invoice_id} names no school")
    if event.collective_budget_cents < 0 or event.individual_budget_cents < 0:
        raise PoisonMessage(f"InvoicePaid {event.invoice_id} releases a negative amount")
    order_school = (
        await session.execute(select(orders.c.school_id).where(orders.c.id == event.order_id))
    ).scalar()
    if order_school is not None and order_school != event.school_id:
        raise PoisonMessage(f"InvoicePaid {event.invoice_id}: the order is another school's")
    now = clock.now()
    claimed = await session.execute(
        store.insert(session, releases)
        .values(
            invoice_id=event.invoice_id,
            school_id=event.school_id,
            order_id=event.order_id,
            number=event.number,
            collective_budget_cents=event.collective_budget_cents,
            individual_budget_cents=event.individual_budget_cents,
            paid_on=event.paid_on,
            released_at=now,
        )
        .on_conflict_do_nothing()
    )
    if not claimed.rowcount:
        log.info("payment.duplicate", invoice_id=str(event.invoice_id))
        return False
    balance = await store.lock_balance(session, event.school_id, now)
    new_balance = domain.credit(balance.balance_cents, event.collective_budget_cents)
    if event.collective_budget_cents:
        await store.add_ledger_entry(
            session,
            event.school_id,
            now,
            domain.paid_description(event.number),
            event.collective_budget_cents,
            new_balance,
            order_id=event.order_id,
            invoice_id=event.invoice_id,
        )
    await store.save_balance(
        session,
        event.school_id,
        now,
        balance_cents=new_balance,
        assignable_cents=balance.assignable_cents + event.individual_budget_cents,
    )
    log.info(
        "payment.released",
        invoice_id=str(event.invoice_id),
        collective_cents=event.collective_budget_cents,
        individual_cents=event.individual_budget_cents,
    )
    return True


def payments_consumer(clock: Clock) -> EventConsumer:
    async def on_invoice_paid(event: InvoicePaid, session: AsyncSession) -> None:
        await release_budget(event, session, clock)

    return EventConsumer(_queue("payments"), {InvoicePaid.routing_key: on_invoice_paid})


# --- members -------------------------------------------------------------------------------------
async def _set_membership(
    session: AsyncSession, event: MembershipActivated | MembershipEnded, active: bool
) -> None:
    """Events may arrive out of order: an older fact never overwrites a newer one, and a
    removed person stays removed."""
    if event.kind != RosterKind.STUDENTS or event.school_id is None:
        return
    statement = store.insert(session, student_memberships).values(
        person_id=event.person_id,
        school_id=event.school_id,
        active=active,
        removed=False,
        updated_at=event.occurred_at,
    )
    statement = statement.on_conflict_do_update(
        index_elements=["person_id"],
        set_={"active": statement.excluded.active, "updated_at": statement.excluded.updated_at},
        where=(student_memberships.c.removed.is_(False))
        & (student_memberships.c.updated_at <= statement.excluded.updated_at),
    )
    await session.execute(statement)


async def on_activated(event: MembershipActivated, session: AsyncSession) -> None:
    await _set_membership(session, event, active=True)


async def on_ended(event: MembershipEnded, session: AsyncSession) -> None:
    await _set_membership(session, event, active=False)


async def return_allocation(event: PersonRemoved, session: AsyncSession, clock: Clock) -> int:
    """The student leaves the projection (a tombstone stays) and their unspent individual
    budget goes back to the school's pool. Returns the cents given back.

    The school's balance row is locked first, as Budget toewijzen does before it checks who is
    active: an allocation and a removal of the same student never interleave (the allocation
    either sees the tombstone or leaves a row that this removal returns)."""
    if event.school_id is None or event.kind != RosterKind.STUDENTS:
        return 0  # only students have individual budget
    now = clock.now()
    balance = await store.lock_balance(session, event.school_id, now)
    statement = store.insert(session, student_memberships).values(
        person_id=event.person_id,
        school_id=event.school_id,
        active=False,
        removed=True,
        updated_at=event.occurred_at,
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["person_id"], set_={"active": False, "removed": True}
        )
    )
    allocation = (
        await session.execute(
            select(allocations).where(
                allocations.c.person_id == event.person_id,
                allocations.c.school_id == event.school_id,
            )
        )
    ).first()
    if allocation is None:
        return 0
    back = domain.unspent(allocation.allocated_cents, allocation.spent_cents)
    await store.save_balance(
        session, event.school_id, now, assignable_cents=balance.assignable_cents + back
    )
    await session.execute(delete(allocations).where(allocations.c.person_id == event.person_id))
    log.info("allocation.returned", cents=back)
    return back


def members_consumer(clock: Clock) -> EventConsumer:
    async def on_removed(event: PersonRemoved, session: AsyncSession) -> None:
        await return_allocation(event, session, clock)

    return EventConsumer(
        _queue("members"),
        {
            MembershipActivated.routing_key: on_activated,
            MembershipEnded.routing_key: on_ended,
            PersonRemoved.routing_key: on_removed,
        },
    )
