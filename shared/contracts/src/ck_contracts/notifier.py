"""Messages of the notifier: the one service that sends e-mail."""

from __future__ import annotations

from enum import StrEnum

from ck_contracts.messaging import Event, register_event

SERVICE = "notifier"


class MailTemplate(StrEnum):
    WELCOME_BUDGET_HOLDER = "welcome_budget_holder"


@register_event
class EmailRequested(Event):
    """Ask the notifier to send one templated mail.

    It carries the recipient's address because the notifier truly needs it (R-AVG-2); the
    notifier forgets the address once the mail is accepted by the SMTP server.
    """

    routing_key = "notifier.email.requested"
    template: MailTemplate
    to: str
    context: dict[str, str]
