"""The budget service's event queues, and its one job that runs on the clock: approving
orders whose objection period has ended.

budget.events.payments: a paid invoice releases its order's budget (R-BUDGET-5, R-INVOICE-4),
exactly once per invoice: the inbox drops a redelivered event, and the `releases` key on the
invoice id drops a second InvoicePaid for the same invoice (another event id). An event that
can never be right (negative amounts, an order of another school) is dead-lettered at once.

budget.events.members: the projection of students with an active membership (who may get
individual budget, R-BUDGET-6) and their CJP card number (card payments, R-WEB-6); a person
removed from the roster gives back the unspent part of their individual budget to the
school's assignable pool (R-ROSTER-7): card payments already made stay spent; their card
number is forgotten (the tombstone keeps ids only, R-AVG-2). A membership
that merely ends keeps its allocation (the student may become active again); only removal
returns it.

budget.events.spending: the budget half of the weborder saga (R-WEB-2/4, see
ck_contracts.weborders). WeborderApproved / SchooltoerOrdered debit the collective balance
under the balance row's lock and answer BudgetDebited, or BudgetDebitRefused with the Dutch
reason (balance too low, programme period over): a refusal is a normal outcome, the event is
acked. Exactly once per weborder / Schooltoer order: the inbox drops a redelivery (same event
id), the `debits` key on the reference drops a republished request (new event id) for a
reference that was debited before. The second time nothing is published: the first answer
was written to the outbox in the debit's own transaction, so it is delivered anyway, and a
second answer would only give the weborders service a duplicate to ignore. A refusal is not
kept: a later request for the same reference (the school approves again after a payment) is
decided afresh. WeborderApprovalCancelled credits a debited amount back once ("Geannuleerd:
..." in the ledger, BudgetCredited); a cancellation of something never debited, or credited
before, is logged and ignored.

The approval scheduler approves orders whose objection period has ended (R-BUDGET-3), safe
with several replicas. Each pass takes a batch of due orders in one transaction. On
PostgreSQL the batch is selected FOR UPDATE SKIP LOCKED, so the schedulers of other replicas
take other orders (or none) and never wait on these. Each order is then approved with a
conditional UPDATE (status still in_bezwaartermijn, period ended) and only when that UPDATE
changed the row is the BudgetOrderApproved event written to the outbox, in the same
transaction: one approval and one event per order, whoever else (another scheduler, an admin,
a cancellation) acts at the same moment. On SQLite the transaction holds the database's one
write lock from its start.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import date, timedelta
from typing import Any

from ck_contracts.budget import BudgetCredited, BudgetDebited, BudgetDebitRefused, BudgetReason
from ck_contracts.invoicing import InvoicePaid
from ck_contracts.membership import MembershipActivated, MembershipEnded
from ck_contracts.money import format_euro
from ck_contracts.notifier import BudgetHolderMailRequested, MailTemplate
from ck_contracts.roster import PersonRemoved, RosterKind
from ck_contracts.topology import queues_of
from ck_contracts.weborders import (
    DebitKind,
    SchooltoerOrdered,
    WeborderApprovalCancelled,
    WeborderApproved,
)
from ck_runtime.clock import Clock, amsterdam_date
from ck_runtime.consumers import EventConsumer, PoisonMessage
from ck_runtime.db import Database
from ck_runtime.logs import get_logger
from ck_runtime.outbox import add_to_outbox
from ck_runtime.periodic import run_periodic
from ck_runtime.service import Background, ServiceRuntime
from sqlalchemy.ext.asyncio import AsyncSession

from ck_budget import domain, store
from ck_budget.settings import BudgetSettings

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
    order_school = await store.school_of_order(session, event.order_id)
    if order_school is not None and order_school != event.school_id:
        raise PoisonMessage(f"InvoicePaid {event.invoice_id}: the order is another school's")
    now = clock.now()
    claimed = await store.claim_release(
        session,
        {
            "invoice_id": event.invoice_id,
            "school_id": event.school_id,
            "order_id": event.order_id,
            "number": event.number,
            "collective_budget_cents": event.collective_budget_cents,
            "individual_budget_cents": event.individual_budget_cents,
            "paid_on": event.paid_on,
            "released_at": now,
        },
    )
    if not claimed:
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
    values: dict[str, Any] = {
        "person_id": event.person_id,
        "school_id": event.school_id,
        "active": active,
        "removed": False,
        "updated_at": event.occurred_at,
    }
    if isinstance(event, MembershipActivated):  # a new activation brings a new card
        values["card_number"] = _card_number(event)
    await store.save_student_membership(session, values)


def _card_number(event: MembershipActivated) -> str | None:
    """The card to pay with; a number no till can send (CardCharge: 8..32 characters) is
    kept as none, so the student simply cannot pay by card."""
    number = event.card_number.strip()
    if not 8 <= len(number) <= 32:
        log.warning("membership.card_number_unusable", length=len(number))
        return None
    return number


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
    await store.remove_student(session, event.person_id, event.school_id, event.occurred_at)
    # FOR UPDATE: a card payment running now (it locks this row) finishes first, and what it
    # spent is not given back.
    allocation = await store.lock_allocation(session, event.person_id, event.school_id)
    if allocation is None:
        return 0
    back = domain.unspent(allocation.allocated_cents, allocation.spent_cents)
    await store.save_balance(
        session, event.school_id, now, assignable_cents=balance.assignable_cents + back
    )
    await store.delete_allocation(session, event.person_id)
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


# --- spending: the budget half of the weborder saga ---------------------------------------------
def _school(event: WeborderApproved | SchooltoerOrdered | WeborderApprovalCancelled) -> Any:
    if event.school_id is None:
        raise PoisonMessage(f"{event.routing_key} {event.id} names no school")
    return event.school_id


async def debit_spending(
    session: AsyncSession,
    event: WeborderApproved | SchooltoerOrdered,
    clock: Clock,
    ends_on: date,
) -> str:
    """Debit a weborder or Schooltoer order once. Returns "debited", "refused" or "duplicate"
    (debited before: nothing happens, nothing is published)."""
    school_id = _school(event)
    if isinstance(event, WeborderApproved):
        kind, reference_id = DebitKind.WEBORDER.value, event.weborder_id
    else:
        kind, reference_id = DebitKind.SCHOOLTOER.value, event.order_id
    now = clock.now()
    # The balance row first: every debit, credit and payment of the school queues here, so the
    # look-up of the reference below sees any debit of it that committed before.
    balance = await store.lock_balance(session, school_id, now)
    if await store.debit_of(session, reference_id) is not None:
        log.info("debit.duplicate", kind=kind, reference_id=str(reference_id))
        return "duplicate"
    refusal = domain.debit_refusal(balance.balance_cents, event.amount_cents, kind, now, ends_on)
    if refusal is not None:
        await add_to_outbox(
            session,
            BudgetDebitRefused(
                school_id=school_id,
                correlation_id=event.correlation_id,
                reference_id=reference_id,
                kind=kind,
                reason=_transition_dutch(refusal),
                code=refusal.reason,
                params=refusal.params,
            ),
        )
        log.info("debit.refused", kind=kind, reference_id=str(reference_id))
        return "refused"
    description = domain.clip(event.description)
    after = await store.debit_balance(
        session, school_id, event.amount_cents, description, now, ends_on
    )
    await store.record_debit(
        session,
        {
            "reference_id": reference_id,
            "school_id": school_id,
            "kind": kind,
            "amount_cents": event.amount_cents,
            "description": description,
            "debited_at": now,
        },
    )
    await add_to_outbox(
        session,
        BudgetDebited(
            school_id=school_id,
            correlation_id=event.correlation_id,
            reference_id=reference_id,
            kind=kind,
            amount_cents=event.amount_cents,
            balance_cents=after,
        ),
    )
    log.info("debit.done", kind=kind, reference_id=str(reference_id), cents=event.amount_cents)
    return "debited"


async def credit_cancelled(
    session: AsyncSession, event: WeborderApprovalCancelled, clock: Clock
) -> bool:
    """Credit a cancelled approval back, once, and only what was debited. False: nothing
    was debited for it (or it was credited before): logged and ignored."""
    school_id = _school(event)
    now = clock.now()
    balance = await store.lock_balance(session, school_id, now)
    debit = await store.debit_of(session, event.weborder_id, school_id)
    if debit is None:
        log.warning("credit.nothing_debited", reference_id=str(event.weborder_id))
        return False
    if debit.credited_at is not None:
        log.info("credit.duplicate", reference_id=str(event.weborder_id))
        return False
    if debit.amount_cents != event.amount_cents:
        # What comes back is what was debited, never more.
        log.warning(
            "credit.amount_differs",
            reference_id=str(event.weborder_id),
            debited_cents=debit.amount_cents,
            event_cents=event.amount_cents,
        )
    amount = debit.amount_cents
    after = domain.credit(balance.balance_cents, amount)
    await store.mark_credited(session, debit.reference_id, now)
    await store.add_ledger_entry(
        session, school_id, now, domain.cancelled_description(event.description), amount, after
    )
    await store.save_balance(session, school_id, now, balance_cents=after)
    await add_to_outbox(
        session,
        BudgetCredited(
            school_id=school_id,
            correlation_id=event.correlation_id,
            reference_id=debit.reference_id,
            kind=debit.kind,
            amount_cents=amount,
            balance_cents=after,
        ),
    )
    log.info("credit.done", reference_id=str(debit.reference_id), cents=amount)
    return True


def spending_consumer(settings: BudgetSettings, clock: Clock) -> EventConsumer:
    async def on_debit(event: WeborderApproved | SchooltoerOrdered, session: AsyncSession) -> None:
        await debit_spending(session, event, clock, settings.ends_on)

    async def on_cancelled(event: WeborderApprovalCancelled, session: AsyncSession) -> None:
        await credit_cancelled(session, event, clock)

    return EventConsumer(
        _queue("spending"),
        {
            WeborderApproved.routing_key: on_debit,
            SchooltoerOrdered.routing_key: on_debit,
            WeborderApprovalCancelled.routing_key: on_cancelled,
        },
    )


# TRANSITION (issue 12): BudgetDebitRefused still carries the refusal in Dutch for the
# weborders service, which shows it as it is; `code` and `params` carry the same for the
# gateway's catalogue. This goes once weborders renders the code.
_SPENDING_WHAT = {"weborder": "de weborder", "schooltoer": "de Schooltoer-bestelling"}


def _transition_dutch(refusal: domain.Refusal) -> str:
    params = refusal.params
    if refusal.reason is BudgetReason.PERIOD_OVER:
        ends_on = date.fromisoformat(str(params["ends_on"]))
        return (
            f"De programmaperiode is voorbij (budget was te besteden tot en met "
            f"{ends_on:%d-%m-%Y}). Er kan niets meer worden afgeschreven of toegewezen."
        )
    what = _SPENDING_WHAT.get(str(params.get("kind")), "de bestelling")
    balance, amount = int(params["balance_cents"] or 0), int(params["amount_cents"] or 0)
    return (
        f"Onvoldoende saldo: het saldo is {format_euro(balance)}, {what} kost "
        f"{format_euro(amount)}."
    )


# --- time: the approval scheduler (R-BUDGET-3) ---------------------------------------------------
async def approve_due(db: Database, settings: BudgetSettings, clock: Clock) -> int:
    """One pass: approve up to a batch of due orders. Returns how many this pass approved."""
    now = clock.now()
    approved = 0
    async with db.transaction() as session:
        for order_id in await store.due_orders(session, now, settings.approval_batch):
            if await store.approve(session, order_id, now):
                approved += 1
    if approved:
        log.info("orders.approved", count=approved)
    return approved


async def run_scheduler(
    db: Database, settings: BudgetSettings, clock: Clock, stop: asyncio.Event | None = None
) -> None:
    """Until cancelled (or `stop` is set): a pass, then wait the poll interval."""
    pause = settings.approval_poll_seconds
    stop = stop or asyncio.Event()
    while not stop.is_set():
        try:
            approved = await approve_due(db, settings, clock)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # database unreachable or busy: try again later
            log.warning("orders.approval_failed", error=type(exc).__name__, retry_in=pause)
            await asyncio.sleep(pause)
            pause = min(pause * 2, 300.0)
            continue
        pause = settings.approval_poll_seconds
        if approved >= settings.approval_batch:
            continue  # more may be due
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), pause)


def approval_scheduler(settings: BudgetSettings, clock: Clock) -> Background:
    async def approval_scheduler(runtime: ServiceRuntime) -> None:
        await run_scheduler(runtime.db, settings, clock)

    return approval_scheduler


# --- issue 13: the budget holders are told an objection period is about to end -------------------
# Every replica runs this job (ck_runtime.periodic); the conditional UPDATE of the order's
# objection_mailed_at (store.mark_objection_mailed) makes it one mail per order, and the
# BudgetHolderMailRequested is written in the same transaction. Accounts addresses it.
OBJECTION_MAIL_JOB = "budget.objection_mail"


async def mail_ending_periods(db: Database, settings: BudgetSettings, clock: Clock) -> int:
    """One pass: ask for the mail of every open order whose period ends within
    `objection_mail_days_before` days. Returns how many this pass asked for."""
    if settings.objection_mail_days_before == 0:
        return 0
    now = clock.now()
    before = timedelta(days=settings.objection_mail_days_before)
    mailed = 0
    async with db.transaction() as session:
        for order_id in await store.ending_orders(session, now, before, settings.approval_batch):
            row = await store.mark_objection_mailed(session, order_id, now)
            if row is None:
                continue
            last_day = amsterdam_date(row.objection_ends_at - timedelta(microseconds=1))
            await add_to_outbox(
                session,
                BudgetHolderMailRequested(
                    school_id=row.school_id,
                    template=MailTemplate.ORDER_OBJECTION_ENDING,
                    context={
                        "school_name": row.school_name or "",
                        "school_number": str(row.school_number),
                        "order_reference": row.reference,
                        "total_cents": str(row.total_cents),
                        "last_day": last_day.isoformat(),
                        "link": f"{settings.portal_url.rstrip('/')}/producten",
                    },
                ),
            )
            mailed += 1
    if mailed:
        log.info("orders.objection_mailed", count=mailed)
    return mailed


def objection_mail_scheduler(settings: BudgetSettings, clock: Clock) -> Background:
    async def objection_mail_scheduler(runtime: ServiceRuntime) -> None:
        async def one_pass() -> bool:
            return await mail_ending_periods(runtime.db, settings, clock) >= settings.approval_batch

        await run_periodic(OBJECTION_MAIL_JOB, one_pass, settings.approval_poll_seconds)

    return objection_mail_scheduler
