"""Messages of the notifier: the one service that sends e-mail."""

from __future__ import annotations

from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from ck_contracts.messaging import Event, register_event

SERVICE = "notifier"


class MailTemplate(StrEnum):
    """Each template's context keys are listed in the notifier's rendering.REQUIRED_KEYS."""

    # recipient_name, school_name, school_number, link
    WELCOME_BUDGET_HOLDER = "welcome_budget_holder"
    INVITATION = "invitation"  # voornaam ("" allowed), school_name, link, code
    MEMBERSHIP_CONFIRMED = "membership_confirmed"  # voornaam, school_name, card_number
    DOCENT_PLUS_ACCESS = "docent_plus_access"  # recipient_name, school_name, school_number, link
    # --- provider portal (issue 13) ---
    PROVIDER_ACCESS = "provider_access"  # recipient_name, provider_name, link


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


# A batch never holds more mails than this: one message, one transaction in the notifier.
MAX_MAILS_PER_EVENT = 500


class MailItem(BaseModel):
    """One mail of a batch. id is the mail's own id (the notifier's de-duplication key and the
    base of its Message-ID): derive it from what the mail is about, so that a batch published
    twice never becomes two mails."""

    model_config = ConfigDict(frozen=True, hide_input_in_errors=True)

    id: UUID
    to: str
    context: dict[str, str]


@register_event
class EmailsRequested(Event):
    """Many mails of one template at once (invitations to a whole roster)."""

    routing_key = "notifier.emails.requested"
    template: MailTemplate
    mails: list[MailItem] = Field(max_length=MAX_MAILS_PER_EVENT)
