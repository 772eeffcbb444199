"""The queue invoicing.events.budget: approved budget orders become invoices (R-INVOICE-1), and
the roster's events keep the uploaded counts for the deviation (R-INVOICE-3).

EventConsumer claims each event id in the inbox in the same transaction, so a redelivery does
nothing; `invoices.order_id` is unique and checked under the counter lock, so a second approval
event for the same order does nothing either.
"""

from __future__ import annotations

from ck_contracts.budget import BudgetOrderApproved
from ck_contracts.invoicing import InvoiceCreated
from ck_contracts.notifier import BudgetHolderMailRequested, MailTemplate
from ck_contracts.roster import PersonAdded, PersonRemoved, RosterUploaded
from ck_contracts.topology import queues_of
from ck_runtime.clock import Clock, amsterdam_date, current_clock
from ck_runtime.consumers import EventConsumer, PoisonMessage
from ck_runtime.known_schools import school_name
from ck_runtime.logs import get_logger
from ck_runtime.outbox import add_to_outbox
from sqlalchemy.ext.asyncio import AsyncSession

from ck_invoicing import domain, store

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
