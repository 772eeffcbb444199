"""Which queue receives which events. Every service declares all of it at start-up.

Declaring the whole topology everywhere means that whichever service starts first, every
queue exists before the first event is published: nothing is dropped for a consumer that has
not started yet. Changing a queue's arguments needs a new queue name (RabbitMQ refuses to
redeclare a queue with other arguments).
"""

from __future__ import annotations

from dataclasses import dataclass

from ck_contracts import (
    accounts,
    budget,
    invoicing,
    membership,
    notifier,
    payouts,
    roster,
    weborders,
)
from ck_contracts.messaging import Event, event_queue

SERVICES = (
    "accounts",
    "roster",
    "membership",
    "budget",
    "invoicing",
    "weborders",
    "notifier",
)


@dataclass(frozen=True)
class EventQueue:
    service: str
    concern: str
    routing_keys: tuple[str, ...]

    @property
    def name(self) -> str:
        return event_queue(self.service, self.concern)


SCHOOL_EVENTS = (
    accounts.SchoolRegistered.routing_key,
    accounts.SchoolSettingsChanged.routing_key,
)

MEMBERSHIP_STATUS_EVENTS = (
    membership.InvitationsSent.routing_key,
    membership.MembershipActivated.routing_key,
    membership.MembershipEnded.routing_key,
)

EVENT_QUEUES: tuple[EventQueue, ...] = (
    EventQueue(
        "notifier",
        "email",
        (notifier.EmailRequested.routing_key, notifier.EmailsRequested.routing_key),
    ),
    # Every domain service keeps its own list of schools, so it can check a school id
    # without asking accounts.
    *(
        EventQueue(service, "schools", SCHOOL_EVENTS)
        for service in ("roster", "membership", "budget", "invoicing", "weborders")
    ),
    # The roster's list shows each person's membership status (R-ROSTER-6).
    EventQueue("roster", "membership-status", MEMBERSHIP_STATUS_EVENTS),
    # issue 14: the mails of an invitation run, counted as the notifier sends them.
    EventQueue("roster", "invitation-runs", (notifier.EmailsSent.routing_key,)),
    # Invitations to create; people who left the roster lose their invitation (R-ROSTER-7).
    EventQueue(
        "membership",
        "roster",
        (membership.InvitationsRequested.routing_key, roster.PersonRemoved.routing_key),
    ),
    # Docent+ access needs an active teacher membership; it ends with it (R-ROLE-2, R-ROSTER-7).
    EventQueue(
        "accounts",
        "teachers",
        (
            membership.MembershipActivated.routing_key,
            membership.MembershipEnded.routing_key,
            roster.PersonRemoved.routing_key,
        ),
    ),
    # Approved budget orders become invoices; uploaded counts give the deviation (R-INVOICE-3).
    EventQueue(
        "invoicing",
        "budget",
        (
            budget.BudgetOrderApproved.routing_key,
            roster.RosterUploaded.routing_key,
            roster.PersonAdded.routing_key,
            roster.PersonRemoved.routing_key,
        ),
    ),
    # Paid invoices release budget (R-BUDGET-5); active students may get individual budget,
    # removed ones return theirs (R-BUDGET-6, R-ROSTER-7).
    EventQueue(
        "budget",
        "payments",
        (invoicing.InvoicePaid.routing_key,),
    ),
    # Weborders and Schooltoer orders to debit, cancelled approvals to credit (R-WEB-2/4).
    EventQueue(
        "budget",
        "spending",
        (
            weborders.WeborderApproved.routing_key,
            weborders.WeborderApprovalCancelled.routing_key,
            weborders.SchooltoerOrdered.routing_key,
        ),
    ),
    # The saga's answers; card payments for the export and the dossier (R-WEB-5/6, R-DOSSIER-1).
    EventQueue(
        "weborders",
        "budget",
        (
            budget.BudgetDebited.routing_key,
            budget.BudgetDebitRefused.routing_key,
            budget.BudgetCredited.routing_key,
            budget.CardPaymentMade.routing_key,
        ),
    ),
    # Who is on each school's roster (ids only), so the dossier and a weborder's participants
    # take only the school's own people (R-DOSSIER-1, R-ROLE-6); a removed student's dossier
    # is deleted, a removed teacher's name and address are erased where they arranged
    # something (R-AVG-2).
    EventQueue(
        "weborders",
        "roster",
        (
            roster.RosterPeopleAdded.routing_key,
            roster.PersonAdded.routing_key,
            roster.PersonRemoved.routing_key,
            roster.TeacherRemoved.routing_key,
        ),
    ),
    # issue 13: mails to a school's budget holders, whose addresses only accounts knows.
    EventQueue("accounts", "mails", (notifier.BudgetHolderMailRequested.routing_key,)),
    # Payouts (issue 13): what the budget debited for a provider, credited back, and card
    # payments, gathered into the providers' reimbursement statements.
    EventQueue(
        "invoicing",
        "spending",
        (
            budget.BudgetDebited.routing_key,
            budget.BudgetCredited.routing_key,
            budget.CardPaymentMade.routing_key,
        ),
    ),
    EventQueue(
        "budget",
        "members",
        (
            membership.MembershipActivated.routing_key,
            membership.MembershipEnded.routing_key,
            roster.PersonRemoved.routing_key,
        ),
    ),
    # --- issue 13 (weborder lifecycle) ---
    # Card number -> student (a keyed hash, never the number), so a provider can name a
    # weborder's participants by CJP card number (R-DOSSIER-1).
    EventQueue("weborders", "members", (membership.MembershipActivated.routing_key,)),
)


def queues_of(service: str) -> tuple[EventQueue, ...]:
    return tuple(q for q in EVENT_QUEUES if q.service == service)


# What each service publishes (its outbox's routing keys). The broker lets each service's user
# publish exactly these to the events exchange (topic permissions, ck_devstack.broker_access),
# and each service's AsyncAPI document lists them.
PUBLISHERS: dict[str, tuple[type[Event], ...]] = {
    "accounts": (
        accounts.SchoolRegistered,
        accounts.SchoolSettingsChanged,
        notifier.EmailRequested,
    ),
    "roster": (
        roster.RosterUploaded,
        roster.RosterPeopleAdded,
        roster.PersonAdded,
        roster.PersonRemoved,
        roster.TeacherRemoved,
        membership.InvitationsRequested,
    ),
    "membership": (
        membership.InvitationsSent,
        membership.MembershipActivated,
        membership.MembershipEnded,
        notifier.EmailsRequested,
        notifier.EmailRequested,
    ),
    "budget": (
        budget.BudgetOrderApproved,
        budget.BudgetDebited,
        budget.BudgetDebitRefused,
        budget.BudgetCredited,
        budget.CardPaymentMade,
        notifier.BudgetHolderMailRequested,  # issue 13: an order's objection period ends
    ),
    "invoicing": (
        invoicing.InvoiceCreated,
        invoicing.InvoicePaid,
        notifier.BudgetHolderMailRequested,  # issue 13: an invoice is issued
        payouts.StatementIssued,  # issue 13: payouts
        payouts.StatementPaid,
    ),
    "weborders": (
        weborders.WeborderApproved,
        weborders.WeborderApprovalCancelled,
        weborders.SchooltoerOrdered,
        weborders.WeborderSettled,
        weborders.WeborderReapproved,  # issue 13 (lifecycle)
        # issue 13: mails to providers, the daily digest to budget holders
        notifier.EmailRequested,
        notifier.BudgetHolderMailRequested,
    ),
    "notifier": (notifier.EmailsSent,),  # issue 14: counts of an invitation run's mails
}
