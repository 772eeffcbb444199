"""The consumer of EmailRequested: render the mail and queue it in outgoing_mails.

It runs in the transaction that claims the event id (inbox), so a redelivered event never
becomes a second mail. It does not talk SMTP: the sender (sender.py) does, outside any
message handling, so a slow or absent SMTP server never holds up the queue.
"""

from __future__ import annotations

from ck_contracts.messaging import utcnow
from ck_contracts.notifier import EmailRequested
from ck_contracts.topology import queues_of
from ck_runtime.consumers import EventConsumer, EventHandler, PoisonMessage
from ck_runtime.logs import current_correlation_id, get_logger
from sqlalchemy.ext.asyncio import AsyncSession

from ck_notifier.message import valid_address
from ck_notifier.outgoing import Doorbell, add_mail
from ck_notifier.rendering import render

log = get_logger(__name__)


class InvalidRecipient(PoisonMessage):
    """The event's address can never receive a mail."""


def email_requested_handler(doorbell: Doorbell) -> EventHandler:
    async def queue_mail(event: EmailRequested, session: AsyncSession) -> None:
        template = str(event.template)
        try:
            if not valid_address(event.to):
                raise InvalidRecipient(f"mail {template}: the recipient is not a valid address")
            rendered = render(template, event.context)
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
            now=utcnow(),
        )
        doorbell.ring_after_commit(session)
        log.info("mail.queued", mail_id=str(event.id), template=template)

    return queue_mail


def email_consumer(doorbell: Doorbell) -> EventConsumer:
    """The consumer of the queue notifier.events.email."""
    (queue,) = [q for q in queues_of("notifier") if q.concern == "email"]
    handler = email_requested_handler(doorbell)
    return EventConsumer(queue, {EmailRequested.routing_key: handler})
