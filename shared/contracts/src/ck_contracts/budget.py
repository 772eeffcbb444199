"""Messages of the budget service: budget orders, the school's balance, individual allocations
(R-BUDGET-1..8). Money is always integer euro cents.

The course of an order (R-BUDGET-3/5):
  school places an order -> objection period of 5 working days (change or cancel) ->
  approved (automatically after the period, or earlier by a CJP admin) -> BudgetOrderApproved
  -> invoicing makes the invoice -> a CJP admin records the payment -> InvoicePaid (invoicing)
  -> budget credits the collective budget and makes the individual budget assignable, once.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, Field

from ck_contracts.audit import audit_list_op
from ck_contracts.bounds import Page, PageSize, RequiredName, RequiredShortText, ShortText, Text
from ck_contracts.messaging import Event, register_event
from ck_contracts.operations import Audience, Operation
from ck_contracts.roles import Permission
from ck_contracts.rpc import Param, Reasons

SERVICE = "budget"


class OrderStatus(StrEnum):
    IN_OBJECTION_PERIOD = "in_bezwaartermijn"  # may still be changed or cancelled
    APPROVED = "goedgekeurd"  # locked; invoiced
    CANCELLED = "geannuleerd"


class OrderLine(BaseModel):
    """One invoice line (R-INVOICE-1): product, count, OCW's contribution, BTW, total."""

    product: str  # "Studenten met bijdrage school" / "Studenten zonder bijdrage school"
    count: int = Field(ge=0)
    unit_cents: int = Field(ge=0)  # what the school pays per student
    ocw_cents: int = Field(ge=0)  # OCW's contribution for the whole line (shown on the invoice)
    vat_cents: int = 0  # BTW is 0% (R-BUDGET-2)
    total_cents: int = Field(ge=0)


# --- events -----------------------------------------------------------------------------------
@register_event
class BudgetOrderApproved(Event):
    """An order left its objection period approved (R-BUDGET-3). school_id is set. It carries
    what the invoice needs, priced with the programme's rates at the time of ordering."""

    routing_key = "budget.order.approved"
    order_id: UUID
    school_number: int
    reference: str
    collective_students: int = Field(ge=0)
    individual_students: int = Field(ge=0)
    lines: list[OrderLine]
    total_cents: int = Field(ge=0)
    collective_budget_cents: int = Field(ge=0)  # credited on payment (R-BUDGET-5)
    individual_budget_cents: int = Field(ge=0)  # assignable on payment
    approved_at: datetime


# --- the spending saga (issue 6: weborders and Schooltoer debit the collective balance) -------
@register_event
class BudgetDebited(Event):
    """A weborder's or Schooltoer order's amount was debited (school_id set). Once per
    reference_id, however often the request is delivered."""

    routing_key = "budget.debit.succeeded"
    reference_id: UUID  # the weborder or Schooltoer order
    kind: str  # "weborder" / "schooltoer"
    amount_cents: int
    balance_cents: int  # after the debit
    # Payouts (issue 13): who is owed this money, and the ledger's description. Optional so
    # that events published before they existed still decode (provider_id None: invoicing
    # keeps the line off every statement and logs it; a Schooltoer order never has one).
    provider_id: UUID | None = None
    description: str = ""


@register_event
class BudgetDebitRefused(Event):
    """Nothing was debited: the balance is too low or the programme period is over.

    `code` is a BudgetReason (insufficient_balance {balance_cents, amount_cents,
    shortfall_cents, kind}, period_over {ends_on}) with its `params`; the gateway's catalogue
    has the Dutch. `reason` is the Dutch sentence the budget service wrote before issue 13: no
    longer sent (empty), still accepted so that a refusal published by an older budget
    service and still in flight is stored and shown as it is (weborders keeps it as legacy
    text when `code` is empty)."""

    routing_key = "budget.debit.refused"
    reference_id: UUID
    kind: str
    code: str = ""
    params: dict[str, Param] = Field(default_factory=dict)
    reason: str = ""  # legacy (before issue 13): Dutch text; new events leave it empty


@register_event
class BudgetCredited(Event):
    """A cancelled approval's amount came back to the balance (with a ledger entry)."""

    routing_key = "budget.credit.done"
    reference_id: UUID
    kind: str
    amount_cents: int
    balance_cents: int


@register_event
class CardPaymentMade(Event):
    """A student paid a provider with the CJP card from their individual budget (R-WEB-6);
    for the spending export and the student's dossier. school_id set; ids and amounts."""

    routing_key = "budget.card_payment.made"
    payment_id: UUID
    person_id: UUID
    provider_id: UUID
    amount_cents: int
    description: str
    paid_at: datetime


# --- operations -------------------------------------------------------------------------------
class CardCharge(BaseModel):
    """A provider charges a CJP card (the gateway has authenticated the provider's API key and
    sends the provider as the actor). provider_reference makes a retried charge harmless."""

    card_number: Annotated[str, Text(32, min_length=8)]
    amount_cents: int = Field(gt=0, le=100_000)
    description: RequiredName
    provider_reference: RequiredShortText


class CardCharged(BaseModel):
    payment_id: UUID
    amount_cents: int
    remaining_cents: int  # the student's individual budget left


class SchoolRef(BaseModel):
    school_id: UUID


# --- provider portal (issue 13) ---
class OwnCardPayments(BaseModel):
    """The logged-in provider's card payments, newest first (the provider is the actor)."""

    page: Page = 1
    page_size: PageSize = 50


class ProviderCardPayment(BaseModel):
    payment_id: UUID
    school_number: int | None  # None while the school is unknown here (never in practice)
    school_name: str
    amount_cents: int
    description: str
    provider_reference: str
    paid_at: datetime


class ProviderCardPaymentPage(BaseModel):
    total: int
    total_cents: int  # of all the provider's card payments, not only this page
    items: list[ProviderCardPayment]


class Rates(BaseModel):
    """The programme's amounts (configuration of the budget service, R-BUDGET-1)."""

    collective_budget_per_student_cents: int  # 2100: spendable per student with school share
    collective_invoice_per_student_cents: int  # 1050: the school's share
    individual_budget_per_student_cents: int  # 1050: reaches the student through the CJP
    individual_invoice_per_student_cents: int  # 250: administration
    ocw_per_student_cents: int  # 1050: OCW's contribution
    spending_ends_on: date  # R-BUDGET-8


class OrderForm(BaseModel):
    """What Producten > Cultuurkaart-budget prefills (R-BUDGET-2)."""

    school_number: int
    duo_student_count: int | None
    default_reference: str
    rates: Rates
    first_order: bool  # False: the form is "Bijbestellen" (R-BUDGET-4)


# The order form's and the API's bounds (the gateway's form checks the same numbers).
MAX_STUDENTS = 1_000_000
MAX_ALLOCATION_CENTS = 100_000  # per student, per allocation: EUR 1.000,00
MAX_ALLOCATION_STUDENTS = 50_000


class OrderCounts(BaseModel):
    collective_students: int = Field(ge=0, le=MAX_STUDENTS)  # "met bijdrage school"
    individual_students: int = Field(ge=0, le=MAX_STUDENTS)  # "zonder bijdrage school"
    reference: ShortText = ""


class PlaceOrder(OrderCounts):
    school_id: UUID


class ChangeOrder(OrderCounts):
    school_id: UUID
    order_id: UUID


class OrderRef(BaseModel):
    school_id: UUID
    order_id: UUID


class Quote(BaseModel):
    """The yellow block (R-BUDGET-2)."""

    collective_budget_cents: int
    individual_budget_cents: int
    invoice_total_cents: int
    lines: list[OrderLine]


class Order(BaseModel):
    order_id: UUID
    school_id: UUID
    status: OrderStatus
    reference: str
    collective_students: int
    individual_students: int
    quote: Quote
    placed_at: datetime
    objection_ends_at: datetime  # the moment automatic approval happens
    decided_at: datetime | None = None


class OrderList(BaseModel):
    items: list[Order]


class LedgerEntry(BaseModel):
    """Bestellingen > Overzicht (R-BUDGET-7)."""

    at: datetime
    description: str  # Dutch
    amount_cents: int  # + credit, - debit
    balance_cents: int  # running balance after this entry


class Ledger(BaseModel):
    entries: list[LedgerEntry]
    balance_cents: int
    assignable_individual_cents: int  # individual budget not yet assigned to students
    expired_cents: int  # R-BUDGET-8: what remained after the end date (0 before it)
    spending_ends_on: date


class Allocate(BaseModel):
    """Budget toewijzen (R-BUDGET-6): the same amount to each of these students."""

    school_id: UUID
    person_ids: list[UUID] = Field(min_length=1, max_length=MAX_ALLOCATION_STUDENTS)
    amount_cents_each: int = Field(gt=0, le=MAX_ALLOCATION_CENTS)


class AllocationResult(BaseModel):
    allocated_students: int
    allocated_cents: int
    assignable_individual_cents: int


class AllocationsQuery(BaseModel):
    """Issue 14 (Budget toewijzen shows the money): each student's individual budget. person_ids:
    these students (those on a page of the list, or a selection); None: every student of the
    school who was ever assigned budget (the export)."""

    school_id: UUID
    person_ids: list[UUID] | None = Field(default=None, max_length=MAX_ALLOCATION_STUDENTS)


class StudentBudget(BaseModel):
    """One student's individual budget: assigned in total, spent with the CJP card, left."""

    person_id: UUID
    allocated_cents: int
    spent_cents: int
    left_cents: int


class StudentBudgets(BaseModel):
    """Only students with an allocation are listed (the others have 0 of everything); the
    totals are over the listed ones."""

    items: list[StudentBudget]
    allocated_cents: int = 0
    spent_cents: int = 0
    left_cents: int = 0


class BudgetReason(Reasons):
    """Why the budget service says no; params in the comments (the gateway has the Dutch)."""

    ORDER_EMPTY = "budget_order_empty"  # both counts 0 (the order form checks it too)
    UNKNOWN_SCHOOL = "budget_unknown_school"  # the service has not heard of the school yet
    UNKNOWN_ORDER = "unknown_budget_order"
    ORDER_CANCELLED = "budget_order_cancelled"  # it cannot be changed or cancelled any more
    ORDER_APPROVED_NO_CHANGE = "budget_order_approved.change"
    ORDER_APPROVED_NO_CANCEL = "budget_order_approved.cancel"
    # {last_day_on}: the last day of the objection period (Amsterdam)
    OBJECTION_PERIOD_OVER_CHANGE = "objection_period_over.change"
    OBJECTION_PERIOD_OVER_CANCEL = "objection_period_over.cancel"
    CANCELLED_NOT_APPROVABLE = "budget_order_cancelled.approve"
    ALREADY_APPROVED = "budget_order_already_approved"
    PERIOD_OVER = "period_over"  # {ends_on}: the programme period's last day (R-BUDGET-8)
    # {balance_cents, amount_cents, shortfall_cents}
    INSUFFICIENT_BALANCE = "insufficient_balance"
    # {students, each_cents, needed_cents, assignable_cents, shortfall_cents}
    INSUFFICIENT_ASSIGNABLE = "insufficient_assignable"
    # {inactive, chosen}: chosen students without an active membership (one / several)
    STUDENT_NOT_ACTIVE = "students_not_active.one"
    STUDENTS_NOT_ACTIVE = "students_not_active"
    UNKNOWN_CARD = "unknown_card"
    CARD_NOT_ACTIVE = "card_not_active"
    INSUFFICIENT_CARD_BUDGET = "insufficient_card_budget"  # {left_cents, amount_cents}
    PAYMENT_REFERENCE_REUSED = "payment_reference_reused"


_R = BudgetReason
_ORDER_CHANGE_REFUSED = (
    _R.UNKNOWN_ORDER,
    _R.ORDER_CANCELLED,
    _R.ORDER_APPROVED_NO_CHANGE,
    _R.OBJECTION_PERIOD_OVER_CHANGE,
)
_ORDER_CANCEL_REFUSED = (
    _R.UNKNOWN_ORDER,
    _R.ORDER_CANCELLED,
    _R.ORDER_APPROVED_NO_CANCEL,
    _R.OBJECTION_PERIOD_OVER_CANCEL,
)


class Ops:
    """The budget service's operations."""

    # --- audit trail (issue 13): the same read operation in every service that records ---
    AUDIT_LIST = audit_list_op(SERVICE)

    ORDER_FORM = Operation[SchoolRef, OrderForm](
        SERVICE,
        "budget.order_form",
        SchoolRef,
        OrderForm,
        Audience.SCHOOL,
        permission=Permission.ORDER_BUDGET,
        school_scoped=True,
        reasons=(_R.UNKNOWN_SCHOOL,),
    )
    # The yellow block for these counts (no school needed: the rates only).
    QUOTE = Operation[OrderCounts, Quote](
        SERVICE,
        "budget.quote",
        OrderCounts,
        Quote,
        Audience.SCHOOL,
        permission=Permission.ORDER_BUDGET,
    )
    ORDER_PLACE = Operation[PlaceOrder, Order](
        SERVICE,
        "budget.order.place",
        PlaceOrder,
        Order,
        Audience.SCHOOL,
        permission=Permission.ORDER_BUDGET,
        school_scoped=True,
        reasons=(_R.ORDER_EMPTY, _R.PERIOD_OVER, _R.UNKNOWN_SCHOOL),
    )
    ORDER_CHANGE = Operation[ChangeOrder, Order](
        SERVICE,
        "budget.order.change",
        ChangeOrder,
        Order,
        Audience.SCHOOL,
        permission=Permission.ORDER_BUDGET,
        school_scoped=True,
        reasons=(_R.ORDER_EMPTY, *_ORDER_CHANGE_REFUSED),
    )
    # The school within the objection period, or a CJP admin (R-BUDGET-3, R-ROLE-4): either
    # permission will do, so the handler checks the actor against the school itself.
    ORDER_CANCEL = Operation[OrderRef, Order](
        SERVICE,
        "budget.order.cancel",
        OrderRef,
        Order,
        Audience.SCHOOL,
        reasons=_ORDER_CANCEL_REFUSED,
    )
    ORDER_LIST = Operation[SchoolRef, OrderList](
        SERVICE,
        "budget.order.list",
        SchoolRef,
        OrderList,
        Audience.SCHOOL,
        permission=Permission.VIEW_SCHOOL,
        school_scoped=True,
    )
    # A CJP admin approves before the period ends.
    ORDER_APPROVE = Operation[OrderRef, Order](
        SERVICE,
        "budget.order.approve",
        OrderRef,
        Order,
        Audience.ADMIN,
        permission=Permission.DECIDE_BUDGET_ORDER,
        school_scoped=True,
        reasons=(_R.UNKNOWN_ORDER, _R.CANCELLED_NOT_APPROVABLE, _R.ALREADY_APPROVED),
    )
    LEDGER = Operation[SchoolRef, Ledger](
        SERVICE,
        "budget.ledger",
        SchoolRef,
        Ledger,
        Audience.SCHOOL,
        permission=Permission.VIEW_SCHOOL,
        school_scoped=True,
    )
    ALLOCATE = Operation[Allocate, AllocationResult](
        SERVICE,
        "budget.allocate",
        Allocate,
        AllocationResult,
        Audience.SCHOOL,
        permission=Permission.ASSIGN_BUDGET,
        school_scoped=True,
        reasons=(
            _R.UNKNOWN_SCHOOL,
            _R.PERIOD_OVER,
            _R.STUDENT_NOT_ACTIVE,
            _R.STUDENTS_NOT_ACTIVE,
            _R.INSUFFICIENT_ASSIGNABLE,
        ),
    )
    # Provider portal (issue 13): the provider's own card payments (the actor's provider_id).
    CARD_PAYMENTS_OWN = Operation[OwnCardPayments, ProviderCardPaymentPage](
        SERVICE,
        "budget.card.list_own",
        OwnCardPayments,
        ProviderCardPaymentPage,
        Audience.PROVIDER,
        permission=Permission.CHARGE_CARD,
    )
    # A provider charges a CJP card (R-WEB-6), refused beyond the student's budget.
    CARD_CHARGE = Operation[CardCharge, CardCharged](
        SERVICE,
        "budget.card.charge",
        CardCharge,
        CardCharged,
        Audience.PROVIDER,
        permission=Permission.CHARGE_CARD,
        reasons=(
            _R.UNKNOWN_CARD,
            _R.CARD_NOT_ACTIVE,
            _R.INSUFFICIENT_CARD_BUDGET,
            _R.PAYMENT_REFERENCE_REUSED,
            _R.PERIOD_OVER,
        ),
    )
    # --- issue 14: Budget toewijzen shows the money --------------------------------------------
    ALLOCATIONS = Operation[AllocationsQuery, StudentBudgets](
        SERVICE,
        "budget.allocations",
        AllocationsQuery,
        StudentBudgets,
        Audience.SCHOOL,
        permission=Permission.ASSIGN_BUDGET,
        school_scoped=True,
    )
