"""The queue invoicing.events.budget: approved budget orders become invoices (R-INVOICE-1), and
the roster's events keep the uploaded counts for the deviation (R-INVOICE-3).

EventConsumer claims each event id in the inbox in the same transaction, so a redelivery does
nothing; `invoices.order_id` is unique and checked under the counter lock, so a second approval
event for the same order does nothing either.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

from ck_contracts.audit import AuditAction
from ck_contracts.budget import BudgetCredited, BudgetDebited, BudgetOrderApproved, CardPaymentMade
from ck_contracts.invoicing import InvoiceCreated
from ck_contracts.notifier import BudgetHolderMailRequested, MailTemplate
from ck_contracts.payouts import LineKind, StatementIssued
from ck_contracts.roster import PersonAdded, PersonRemoved, RosterUploaded
from ck_contracts.topology import queues_of
from ck_runtime import audit
from ck_runtime.clock import Clock, amsterdam_date, current_clock
from ck_runtime.consumers import EventConsumer, PoisonMessage
from ck_runtime.db import Database
from ck_runtime.known_schools import school_name
from ck_runtime.logs import get_logger
from ck_runtime.outbox import add_to_outbox
from ck_runtime.service import Background, ServiceRuntime
from sqlalchemy.ext.asyncio import AsyncSession

from ck_invoicing import domain, payout_store, payouts, store
from ck_invoicing.domain import NumbersExhausted
from ck_invoicing.payouts import Entry
from ck_invoicing.settings import InvoicingSettings

log = get_logger(__name__)
CONCERN = "budget"


def budget_consumer(clock: Clock | None = None, portal_url: str = "") -> EventConsumer:
    """clock: the invoice date and so the year of the number (the runtime's clock unless a
    test gives its own). portal_url: the link in the budget holders' invoice mail."""

    async def on_order_approved(event: BudgetOrderApproved, session: AsyncSession) -> None:
        if event.school_id is None:
            raise PoisonMessage(f"order {event.order_id} approved without a school")
        total = domain.lines_total(event.lines)
        if total != event.total_cents:
            # An invoice whose lines do not add up is never sent: the dead-letter queue keeps it.
            raise PoisonMessage(
                f"order {event.order_id}: lines add up to {total}, total says {event.total_cents}"
            )
        try:
            now = (clock or current_clock()).now()
            made = await store.create_invoice(session, event, now)
        except domain.NumbersExhausted as exc:
            raise PoisonMessage(str(exc)) from exc
        if made is None:
            log.info("invoice.exists", order_id=str(event.order_id))
            return
        await add_to_outbox(
            session,
            InvoiceCreated(
                school_id=event.school_id,
                invoice_id=made["id"],
                order_id=event.order_id,
                number=made["number"],
                total_cents=made["total_cents"],
            ),
            # Issue 13: the budget holders hear of the invoice (accounts addresses the mail).
            BudgetHolderMailRequested(
                school_id=event.school_id,
                template=MailTemplate.INVOICE_ISSUED,
                context={
                    "school_name": await school_name(session, event.school_id),
                    "school_number": str(made["school_number"]),
                    "invoice_number": made["number"],
                    "total_cents": str(made["total_cents"]),
                    "invoice_date": amsterdam_date(now).isoformat(),
                    "link": f"{portal_url.rstrip('/')}/bestellingen/budget",
                },
            ),
        )
        await audit.record(
            session,
            None,  # issued by the platform when the order was approved
            AuditAction.INVOICE_ISSUED,
            "invoice",
            made["id"],
            school_id=event.school_id,
            details={"number": made["number"], "total_cents": made["total_cents"]},
            at=now,
        )
        log.info("invoice.created", invoice_id=str(made["id"]), number=made["number"])

    async def on_roster_uploaded(event: RosterUploaded, session: AsyncSession) -> None:
        if event.school_id is not None:
            await store.roster_uploaded(
                session, event.school_id, event.kind, event.total, event.occurred_at
            )

    async def on_person_added(event: PersonAdded, session: AsyncSession) -> None:
        if event.school_id is not None:
            await store.roster_changed(
                session, event.id, event.school_id, event.kind, +1, event.occurred_at
            )

    async def on_person_removed(event: PersonRemoved, session: AsyncSession) -> None:
        if event.school_id is not None:
            await store.roster_changed(
                session, event.id, event.school_id, event.kind, -1, event.occurred_at
            )

    (queue,) = [q for q in queues_of("invoicing") if q.concern == CONCERN]
    return EventConsumer(
        queue,
        {
            BudgetOrderApproved.routing_key: on_order_approved,
            RosterUploaded.routing_key: on_roster_uploaded,
            PersonAdded.routing_key: on_person_added,
            PersonRemoved.routing_key: on_person_removed,
        },
    )


# --- payouts to providers (issue 13, capability 4) ----------------------------------------------
# invoicing.events.spending: what the budget debited for a provider (BudgetDebited: only money
# that really left a school's balance counts, never an approval that was refused), cancelled
# approvals credited back (BudgetCredited) and card payments (CardPaymentMade) become spending
# lines; the payout scheduler puts them on statements.
def spending_consumer(settings: InvoicingSettings | None = None) -> EventConsumer:
    payee = settings.schooltoer_payee_id if settings is not None else None

    async def on_debited(event: BudgetDebited, session: AsyncSession) -> None:
        if event.kind == LineKind.SCHOOLTOER.value:
            provider_id = payee
        elif event.kind == LineKind.WEBORDER.value:
            provider_id = event.provider_id
            if provider_id is None:  # published before BudgetDebited carried it
                log.warning("payout.debit_without_provider", reference_id=str(event.reference_id))
        else:
            raise PoisonMessage(f"debit {event.reference_id} of unknown kind {event.kind!r}")
        added = await payout_store.add_line(
            session,
            {
                "reference_id": event.reference_id,
                "entry": Entry.DEBIT,
                "kind": event.kind,
                "provider_id": provider_id,
                "school_id": event.school_id,
                "description": clip(event.description),
                "amount_cents": event.amount_cents,
                "booked_at": event.occurred_at,
            },
        )
        await payout_store.attribute_credit(session, event.reference_id, provider_id)
        log.info("payout.line", entry="debit", added=added, reference_id=str(event.reference_id))

    async def on_credited(event: BudgetCredited, session: AsyncSession) -> None:
        debit = await payout_store.debit_line(session, event.reference_id)
        if debit is None:
            # Credited before its debit reached us (a redelivery): the debit attributes it.
            log.warning("payout.credit_before_debit", reference_id=str(event.reference_id))
        added = await payout_store.add_line(
            session,
            {
                "reference_id": event.reference_id,
                "entry": Entry.CREDIT,
                "kind": event.kind,
                "provider_id": None if debit is None else debit.provider_id,
                "school_id": event.school_id,
                "description": "" if debit is None else debit.description,
                "amount_cents": -event.amount_cents,
                "booked_at": event.occurred_at,
                "corrects_statement_id": None if debit is None else debit.statement_id,
            },
        )
        log.info("payout.line", entry="credit", added=added, reference_id=str(event.reference_id))

    async def on_card_payment(event: CardPaymentMade, session: AsyncSession) -> None:
        added = await payout_store.add_line(
            session,
            {
                "reference_id": event.payment_id,
                "entry": Entry.CARD,
                "kind": LineKind.CARD_PAYMENT.value,
                "provider_id": event.provider_id,
                "school_id": event.school_id,
                "description": clip(event.description),
                "amount_cents": event.amount_cents,
                "booked_at": event.paid_at,
            },
        )
        log.info("payout.line", entry="card", added=added, reference_id=str(event.payment_id))

    (queue,) = [q for q in queues_of("invoicing") if q.concern == "spending"]
    return EventConsumer(
        queue,
        {
            BudgetDebited.routing_key: on_debited,
            BudgetCredited.routing_key: on_credited,
            CardPaymentMade.routing_key: on_card_payment,
        },
    )


def clip(text: str, length: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= length else text[: length - 1] + "…"


async def close_due_periods(db: Database, settings: InvoicingSettings, clock: Clock) -> int:
    """One pass of the payout scheduler: close every period that is due, oldest first, each
    in its own transaction. Returns how many statements this pass made.

    Safe with several replicas the way the budget's approval scheduler is: a background task
    per replica whose write is conditional inside one transaction with its events. Here the
    condition is the period's row (`payout_periods`, primary key): the replica whose INSERT
    adds it closes the period, with the statements, numbers and StatementIssued events in the
    same transaction; any other finds it there and does nothing."""
    now = clock.now()
    weekdays = settings.payout_weekdays()
    delay = timedelta(minutes=settings.payout_close_delay_minutes)
    async with db.read() as session:
        last = await payout_store.last_closed(session)
    made = 0
    for end in payouts.periods_to_close(now, last, weekdays, delay):
        async with db.transaction() as session:
            if not await payout_store.claim_period(session, end, now):
                continue
            start = payouts.previous_period_end(end, weekdays)
            try:
                statements = await payout_store.close_period(session, end, start, now)
            except NumbersExhausted as exc:
                log.error("payout.numbers_exhausted", error=str(exc))
                raise
            if statements:
                await add_to_outbox(
                    session,
                    *(
                        StatementIssued(
                            statement_id=s["id"],
                            provider_id=s["provider_id"],
                            number=s["number"],
                            period_end=end,
                            total_cents=int(s["total_cents"]),
                        )
                        for s in statements
                    ),
                )
        made += len(statements)
        log.info("payout.period_closed", period_end=end.isoformat(), statements=len(statements))
    return made


async def run_payout_scheduler(
    db: Database, settings: InvoicingSettings, clock: Clock, stop: asyncio.Event | None = None
) -> None:
    """Until cancelled (or `stop` is set): a pass, then wait the poll interval."""
    pause = settings.payout_poll_seconds
    stop = stop or asyncio.Event()
    while not stop.is_set():
        try:
            await close_due_periods(db, settings, clock)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # database unreachable or busy: try again later
            log.warning("payout.close_failed", error=type(exc).__name__, retry_in=pause)
            await asyncio.sleep(pause)
            pause = min(pause * 2, 300.0)
            continue
        pause = settings.payout_poll_seconds
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), pause)


def payout_scheduler(settings: InvoicingSettings, clock: Clock | None = None) -> Background:
    async def payout_scheduler(runtime: ServiceRuntime) -> None:
        await run_payout_scheduler(runtime.db, settings, clock or runtime.clock)

    return payout_scheduler
