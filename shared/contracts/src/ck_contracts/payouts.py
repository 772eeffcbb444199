"""Payouts to providers (issue 13, capability 4): reimbursement statements
("uitbetalingsoverzichten"), owned by the invoicing service.

What a school's budget paid for a provider (weborder debits, card payments, Schooltoer orders
when a payee is configured) is gathered per provider per period into a statement with a
gapless number of its own series (U + 2 digits of the year + a 6-digit counter), lines and a
total. A cancelled approval is a negative correction line on the provider's next statement.
A CJP admin marks a statement paid; the provider reads its own through the provider API.
Money is integer euro cents; the operations are declared in ck_contracts.invoicing.Ops.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel

from ck_contracts.bounds import Name, Page, PageSize, ShortText
from ck_contracts.messaging import Event, register_event
from ck_contracts.rpc import Reasons


class StatementStatus(StrEnum):
    OPEN = "open"  # issued, not yet paid out
    PAID = "betaald"


class LineKind(StrEnum):
    """Where a line's money comes from."""

    WEBORDER = "weborder"
    SCHOOLTOER = "schooltoer"
    CARD_PAYMENT = "card_payment"


# --- events -----------------------------------------------------------------------------------
@register_event
class StatementIssued(Event):
    """A provider's statement for a period was made (school_id None). Ids and figures only."""

    routing_key = "invoicing.statement.issued"
    statement_id: UUID
    provider_id: UUID
    number: str
    period_end: datetime
    total_cents: int


@register_event
class StatementPaid(Event):
    """A CJP admin marked a statement paid (once). For the audit trail and the provider."""

    routing_key = "invoicing.statement.paid"
    statement_id: UUID
    provider_id: UUID
    number: str
    total_cents: int
    paid_on: date
    paid_by: UUID  # the admin's user id


# --- shapes -----------------------------------------------------------------------------------
class StatementLine(BaseModel):
    booked_at: datetime  # when the budget debited (or credited) it
    school_id: UUID | None
    school_name: str  # as accounts announced it; "" when not known
    kind: LineKind
    reference_id: UUID  # the weborder, Schooltoer order or card payment
    description: str
    amount_cents: int  # negative for a correction
    correction: bool = False  # a cancelled approval credited back
    corrects_number: str | None = None  # the statement the cancelled line was on, if any


class StatementSummary(BaseModel):
    statement_id: UUID
    provider_id: UUID
    number: str
    period_start: datetime
    period_end: datetime  # exclusive: lines booked before it
    issued_at: datetime
    line_count: int
    total_cents: int
    status: StatementStatus
    paid_on: date | None = None
    payment_reference: str = ""


class Statement(StatementSummary):
    lines: list[StatementLine]


class StatementPage(BaseModel):
    total: int
    items: list[StatementSummary]


class StatementQuery(BaseModel):
    """A CJP admin's list: any provider, or one; statements whose period's last day lies
    within [period_from, period_to] (dates in Europe/Amsterdam); paid or not."""

    provider_id: UUID | None = None
    period_from: date | None = None
    period_to: date | None = None
    paid: bool | None = None
    page: Page = 1
    page_size: PageSize = 50


class ProviderStatementQuery(BaseModel):
    """A provider's own statements (the provider comes from the actor)."""

    paid: bool | None = None
    page: Page = 1
    page_size: PageSize = 50


class StatementRef(BaseModel):
    statement_id: UUID


class StatementPdfRequest(BaseModel):
    statement_id: UUID
    # The provider's name and KvK number for the document's heading. Invoicing does not keep
    # providers (weborders does); the gateway, which has just read them there, passes them.
    provider_name: Name = ""
    provider_kvk: ShortText = ""


class StatementPdf(BaseModel):
    filename: str  # uitbetalingsoverzicht_<number>.pdf
    content_b64: str


class MarkStatementPaid(BaseModel):
    statement_id: UUID
    paid_on: date
    payment_reference: ShortText = ""


class PayoutReason(Reasons):
    STATEMENT_NOT_FOUND = "statement_not_found"
    STATEMENT_PAID_DATE_IN_FUTURE = "statement_paid_date_in_future"  # {paid_on}
