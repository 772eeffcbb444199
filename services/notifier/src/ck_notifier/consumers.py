"""The consumers of EmailRequested (one mail) and EmailsRequested (up to 500 mails of one
template): render the mails and queue them in outgoing_mails.

Both run in the transaction that claims the event id (inbox), so a redelivered event never
becomes a second mail; on top of that each mail's id is its primary key, inserted with ON
CONFLICT DO NOTHING, so a batch published twice under another event id does not double a mail
either. Their "now" is the runtime's Clock, given to the factories. They do not talk SMTP:
the sender (sender.py) does, outside any message handling, so a
slow or absent SMTP server never holds up the queue.

What poisons a whole event (dead-lettered at once, nothing stored): an unknown template, a
missing context key, a template that fails to render; these are systematic faults of the
producer or of the notifier, fixed by a release and a replay of the dead letter. What does not:
an invalid address in a batch. That one mail is stored as failed (no address, no text kept;
never sent, never replayed) and logged by its id; the rest of the batch goes out.
"""

from __future__ import annotations

from typing import Any

from ck_contracts.notifier import EmailRequested, EmailsRequested, EmailsSent
from ck_contracts.topology import queues_of
from ck_runtime.clock import Clock
from ck_runtime.consumers import EventConsumer, EventHandler, PoisonMessage
from ck_runtime.logs import current_correlation_id, get_logger
from ck_runtime.outbox import add_to_outbox
from sqlalchemy.ext.asyncio import AsyncSession

from ck_notifier.domain import valid_address
from ck_notifier.rendering import render
from ck_notifier.store import Doorbell, add_mail, add_mails, mail_row, unsendable_row

log = get_logger(__name__)

INVALID_RECIPIENT = "invalid recipient address: never sent"


class InvalidRecipient(PoisonMessage):
    """The event's address can never receive a mail."""


def email_requested_handler(doorbell: Doorbell, clock: Clock) -> EventHandler:
    async def queue_mail(event: EmailRequested, session: AsyncSession) -> None:
        template = str(event.template)
        try:
            if not valid_address(event.to):
                raise InvalidRecipient(f"mail {template}: the recipient is not a valid address")
            rendered = render(template, event.context, event.items)
        except PoisonMessage as exc:
            # Template name, key names and the event id only: no address, no context values.
            log.error(
                "mail.unrenderable",
                event_id=str(event.id),
                template=template,
                reason=str(exc),
            )
            raise
        await add_mail(
            session,
            mail_id=event.id,
            template=template,
            recipient=event.to,
            rendered=rendered,
            # The id the consumer bound (a fresh one when the event had none), so the
            # sender's log lines for this mail carry the same id as the consumer's.
            correlation_id=event.correlation_id or current_correlation_id(),
            now=clock.now(),
        )
        doorbell.ring_after_commit(session)
        log.info("mail.queued", mail_id=str(event.id), template=template)

    return queue_mail


def emails_requested_handler(doorbell: Doorbell, clock: Clock) -> EventHandler:
    async def queue_mails(event: EmailsRequested, session: AsyncSession) -> None:
        template = str(event.template)
        correlation_id = event.correlation_id or current_correlation_id()
        now = clock.now()
        rows: list[dict[str, Any]] = []
        invalid: list[str] = []
        try:
            for item in event.mails:
                if not valid_address(item.to):
                    invalid.append(str(item.id))
                    rows.append(
                        unsendable_row(
                            mail_id=item.id,
                            template=template,
                            error=INVALID_RECIPIENT,
                            correlation_id=correlation_id,
                            now=now,
                            run_id=event.run_id,
                        )
                    )
                    continue
                rows.append(
                    mail_row(
                        mail_id=item.id,
                        template=template,
                        recipient=item.to,
                        rendered=render(template, item.context),
                        correlation_id=correlation_id,
                        now=now,
                        run_id=event.run_id,
                    )
                )
        except PoisonMessage as exc:
            # Template name, key names and the event id only: no address, no context values.
            log.error(
                "mails.unrenderable", event_id=str(event.id), template=template, reason=str(exc)
            )
            raise
        await add_mails(session, rows)  # one statement; ids already there are left alone
        if event.run_id is not None and invalid:
            # issue 14: never sent, so they count as failed in the run's progress at once
            await add_to_outbox(session, EmailsSent(run_id=event.run_id, failed=len(invalid)))
        for mail_id in invalid:
            log.warning("mail.invalid_recipient", mail_id=mail_id, template=template)
        doorbell.ring_after_commit(session)
        log.info(
            "mails.queued",
            event_id=str(event.id),
            template=template,
            mails=len(rows) - len(invalid),
            invalid=len(invalid),
        )

    return queue_mails


def email_consumer(doorbell: Doorbell, clock: Clock) -> EventConsumer:
    """The consumer of the queue notifier.events.email (one mail, or a batch of mails)."""
    (queue,) = [q for q in queues_of("notifier") if q.concern == "email"]
    return EventConsumer(
        queue,
        {
            EmailRequested.routing_key: email_requested_handler(doorbell, clock),
            EmailsRequested.routing_key: emails_requested_handler(doorbell, clock),
        },
    )
