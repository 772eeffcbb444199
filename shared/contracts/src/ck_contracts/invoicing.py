"""Messages of the invoicing service: invoices, their numbers and PDFs, payments
(R-INVOICE-1..4). Money is always integer euro cents."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel, Field

from ck_contracts.audit import audit_list_op
from ck_contracts.bounds import ShortText
from ck_contracts.budget import OrderLine
from ck_contracts.messaging import Event, register_event
from ck_contracts.operations import Audience, Operation
from ck_contracts.payouts import (
    MarkStatementPaid,
    PayoutReason,
    ProviderStatementQuery,
    Statement,
    StatementPage,
    StatementPdf,
    StatementPdfRequest,
    StatementQuery,
    StatementRef,
)
from ck_contracts.roles import Permission
from ck_contracts.rpc import Reasons

SERVICE = "invoicing"

# Far above any invoice's total (1,000,000 students x the rates): a typing error, not a payment.
MAX_PAYMENT_CENTS = 10_000_000_000


class InvoiceStatus(StrEnum):
    OPEN = "open"
    PAID = "betaald"


# --- events -----------------------------------------------------------------------------------
@register_event
class InvoiceCreated(Event):
    routing_key = "invoicing.invoice.created"
    invoice_id: UUID
    order_id: UUID
    number: str  # 8 digits, gapless per year (R-INVOICE-1)
    total_cents: int


@register_event
class InvoicePaid(Event):
    """The payment of an invoice was recorded (once, R-INVOICE-4). school_id is set; the budget
    service credits the collective budget and makes the individual budget assignable."""

    routing_key = "invoicing.invoice.paid"
    invoice_id: UUID
    order_id: UUID
    number: str
    collective_budget_cents: int
    individual_budget_cents: int
    paid_on: date


# --- operations -------------------------------------------------------------------------------
class Deviation(BaseModel):
    """R-INVOICE-3: ordered versus uploaded; percent "" = Onbekend (nothing ordered)."""

    kind: str  # "Studenten" / "Docenten"
    ordered: int
    uploaded: int
    percent: str  # Dutch, two decimals: "98,00%", or "Onbekend"


class Invoice(BaseModel):
    invoice_id: UUID
    school_id: UUID
    order_id: UUID
    number: str
    invoice_date: datetime
    reference: str
    lines: list[OrderLine]
    total_cents: int
    status: InvoiceStatus
    paid_on: date | None = None
    deviations: list[Deviation] = Field(default_factory=list)


class InvoiceList(BaseModel):
    items: list[Invoice]


class SchoolInvoices(BaseModel):
    school_id: UUID


class InvoiceRef(BaseModel):
    school_id: UUID
    invoice_id: UUID


class InvoicePdf(BaseModel):
    filename: str  # factuur_<number>.pdf
    content_b64: str


class RecordPayment(BaseModel):
    """A CJP admin records a payment (UI and API). Idempotent: recording it again changes
    nothing and answers with the invoice as it is."""

    invoice_id: UUID
    amount_cents: int = Field(gt=0, le=MAX_PAYMENT_CENTS)
    paid_on: date
    payment_reference: ShortText = ""


class InvoicingReason(Reasons):
    INVOICE_NOT_FOUND = "invoice_not_found"
    # params: amount_cents (paid), total_cents (the invoice's)
    PAYMENT_AMOUNT_MISMATCH = "payment_amount_mismatch"
    PAYMENT_DATE_IN_FUTURE = "payment_date_in_future"


class Ops:
    """The invoicing service's operations."""

    # --- audit trail (issue 13): the same read operation in every service that records ---
    AUDIT_LIST = audit_list_op(SERVICE)

    LIST = Operation[SchoolInvoices, InvoiceList](
        SERVICE,
        "invoicing.list",
        SchoolInvoices,
        InvoiceList,
        Audience.SCHOOL,
        permission=Permission.VIEW_SCHOOL,
        school_scoped=True,
    )
    GET = Operation[InvoiceRef, Invoice](
        SERVICE,
        "invoicing.get",
        InvoiceRef,
        Invoice,
        Audience.SCHOOL,
        permission=Permission.VIEW_SCHOOL,
        school_scoped=True,
        reasons=(InvoicingReason.INVOICE_NOT_FOUND,),
    )
    PDF = Operation[InvoiceRef, InvoicePdf](
        SERVICE,
        "invoicing.pdf",
        InvoiceRef,
        InvoicePdf,
        Audience.SCHOOL,
        permission=Permission.VIEW_SCHOOL,
        school_scoped=True,
        reasons=(InvoicingReason.INVOICE_NOT_FOUND,),
    )
    # A CJP admin; the request names no school, the handler checks the invoice's own.
    RECORD_PAYMENT = Operation[RecordPayment, Invoice](
        SERVICE,
        "invoicing.payment.record",
        RecordPayment,
        Invoice,
        Audience.ADMIN,
        permission=Permission.RECORD_PAYMENT,
        reasons=(
            InvoicingReason.INVOICE_NOT_FOUND,
            InvoicingReason.PAYMENT_AMOUNT_MISMATCH,
            InvoicingReason.PAYMENT_DATE_IN_FUTURE,
        ),
    )

    # --- payouts to providers (issue 13, capability 4; models in ck_contracts.payouts) -------
    # A CJP admin: every provider's statements, one with its lines, its PDF, marking it paid.
    STATEMENT_LIST = Operation[StatementQuery, StatementPage](
        SERVICE,
        "invoicing.statement.list",
        StatementQuery,
        StatementPage,
        Audience.ADMIN,
        permission=Permission.RECORD_PAYMENT,
    )
    STATEMENT_GET = Operation[StatementRef, Statement](
        SERVICE,
        "invoicing.statement.get",
        StatementRef,
        Statement,
        Audience.ADMIN,
        permission=Permission.RECORD_PAYMENT,
        reasons=(PayoutReason.STATEMENT_NOT_FOUND,),
    )
    STATEMENT_PDF = Operation[StatementPdfRequest, StatementPdf](
        SERVICE,
        "invoicing.statement.pdf",
        StatementPdfRequest,
        StatementPdf,
        Audience.ADMIN,
        permission=Permission.RECORD_PAYMENT,
        reasons=(PayoutReason.STATEMENT_NOT_FOUND,),
    )
    STATEMENT_MARK_PAID = Operation[MarkStatementPaid, Statement](
        SERVICE,
        "invoicing.statement.mark_paid",
        MarkStatementPaid,
        Statement,
        Audience.ADMIN,
        permission=Permission.RECORD_PAYMENT,
        reasons=(PayoutReason.STATEMENT_NOT_FOUND, PayoutReason.STATEMENT_PAID_DATE_IN_FUTURE),
    )
    # The provider (API key checked by the gateway with weborders; the actor names the
    # provider): its own statements only; another provider's answers "not found".
    PROVIDER_STATEMENT_LIST = Operation[ProviderStatementQuery, StatementPage](
        SERVICE,
        "invoicing.provider.statement.list",
        ProviderStatementQuery,
        StatementPage,
        Audience.PROVIDER,
        permission=Permission.VIEW_PAYOUTS,
    )
    PROVIDER_STATEMENT_GET = Operation[StatementRef, Statement](
        SERVICE,
        "invoicing.provider.statement.get",
        StatementRef,
        Statement,
        Audience.PROVIDER,
        permission=Permission.VIEW_PAYOUTS,
        reasons=(PayoutReason.STATEMENT_NOT_FOUND,),
    )
    PROVIDER_STATEMENT_PDF = Operation[StatementPdfRequest, StatementPdf](
        SERVICE,
        "invoicing.provider.statement.pdf",
        StatementPdfRequest,
        StatementPdf,
        Audience.PROVIDER,
        permission=Permission.VIEW_PAYOUTS,
        reasons=(PayoutReason.STATEMENT_NOT_FOUND,),
    )
