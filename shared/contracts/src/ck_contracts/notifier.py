"""Messages of the notifier: the one service that sends e-mail."""

from __future__ import annotations

from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from ck_contracts.messaging import Event, register_event

SERVICE = "notifier"

# A listing mail (the digest) names at most this many rows; the rest are counted only.
MAX_ITEMS_PER_MAIL = 100


class MailTemplate(StrEnum):
    """Each template's context keys are listed in the notifier's rendering.REQUIRED_KEYS."""

    # recipient_name, school_name, school_number, link
    WELCOME_BUDGET_HOLDER = "welcome_budget_holder"
    INVITATION = "invitation"  # voornaam ("" allowed), school_name, link, code
    MEMBERSHIP_CONFIRMED = "membership_confirmed"  # voornaam, school_name, card_number
    DOCENT_PLUS_ACCESS = "docent_plus_access"  # recipient_name, school_name, school_number, link
    # --- provider portal (issue 13) ---
    PROVIDER_ACCESS = "provider_access"  # recipient_name, provider_name, link

    # --- issue 13: the mails that drive the process, and reminders ----------------------------
    # To a provider's contact address (weborders): provider_name, school_name, school_number,
    # offering_title, requested_by, message, link
    OFFER_REQUESTED = "offer_requested"
    # provider_name, school_name, school_number, activity, activity_date, amount,
    # provider_reference, link (+ reason for the two refusals)
    WEBORDER_APPROVED = "weborder_approved"
    WEBORDER_REJECTED = "weborder_rejected"  # the school said no, with its reason
    # Approved, but the budget refused it: + reason (legacy Dutch text, else ""), refusal_code
    # (a BudgetReason), balance_cents, shortfall_cents, ends_on (its params, "" when absent)
    WEBORDER_REFUSED = "weborder_refused"
    # To a school's budget holders (published as BudgetHolderMailRequested; accounts adds
    # recipient_name). The daily digest: school_name, school_number, new_count, reminder_count,
    # reminder_days, link; items (one per weborder): activity, provider_name, activity_date,
    # amount, submitted_on, kind ("nieuw" or "herinnering")
    WEBORDERS_AWAITING = "weborders_awaiting"
    # school_name, school_number, order_reference, invoice_total, ends_on, link
    ORDER_OBJECTION_ENDING = "order_objection_ending"
    # school_name, school_number, invoice_number, invoice_total, invoice_date, link
    INVOICE_ISSUED = "invoice_issued"
    # To an invited member (membership): voornaam ("" allowed), school_name, link, code
    INVITATION_REMINDER = "invitation_reminder"


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
    # Rows for a template that lists things (the daily digest): each a dict of strings.
    items: list[dict[str, str]] = Field(default_factory=list, max_length=MAX_ITEMS_PER_MAIL)


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
    # issue 14: the invitation run these mails belong to (the roster's request id); the
    # notifier reports the run's progress in EmailsSent. None: no one follows these mails.
    run_id: UUID | None = None


# --- issue 14: progress of an invitation run --------------------------------------------------
@register_event
class EmailsSent(Event):
    """Counts only (no address, no mail id): of the run's mails, `sent` were accepted by the
    SMTP server and `failed` were given up for good (an invalid address, a permanent refusal,
    too many tries) since the previous EmailsSent of this run. The notifier publishes at most
    one per run per sending pass (and one when a batch holds invalid addresses), in the
    transaction that records the outcomes, so each mail is counted once."""

    routing_key = "notifier.emails.sent"
    run_id: UUID
    sent: int = 0
    failed: int = 0


# --- issue 13: mails to a school's budget holders -------------------------------------------------
@register_event
class BudgetHolderMailRequested(Event):
    """Ask for one templated mail to each budget holder of `school_id`.

    The service that owns the facts (weborders' digest, budget's objection period, invoicing's
    invoice) writes the mail's content, and names no one: the budget holders' addresses live
    in accounts only. Accounts consumes this, adds `recipient_name` and publishes one
    EmailRequested per budget holder (mail id = uuid5(this event's id, the user's id), so a
    redelivery never mails twice). So no address travels in this event nor is copied into
    the services that ask (R-AVG-2).
    """

    routing_key = "accounts.budget_holder_mail.requested"
    template: MailTemplate
    context: dict[str, str]
    items: list[dict[str, str]] = Field(default_factory=list, max_length=MAX_ITEMS_PER_MAIL)
