"""JSON API v1 for budget orders, the ledger, allocations (R-BUDGET-2..8) and invoices with
their payments (R-INVOICE-1..4). Amounts are integer euro cents. The same use cases as the
pages (ck_gateway.usecases.budget)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any
from uuid import UUID

from ck_contracts.bounds import ShortText
from ck_contracts.budget import (
    MAX_ALLOCATION_CENTS,
    MAX_ALLOCATION_STUDENTS,
    AllocationResult,
    Ledger,
    Order,
    OrderCounts,
    OrderForm,
    OrderList,
    Quote,
    StudentBudgets,
)
from ck_contracts.invoicing import (
    MAX_PAYMENT_CENTS,
    Invoice,
    InvoiceList,
    RecordPayment,
)
from ck_contracts.roles import Permission
from fastapi import APIRouter, Body, Request, Response
from pydantic import BaseModel, Field

from ck_gateway.api_models import error_responses
from ck_gateway.auth import ApiSession
from ck_gateway.usecases import budget

router = APIRouter(
    prefix="/api/v1",
    tags=["budget"],
    responses=error_responses(404),
)

_COUNTS_EXAMPLE: dict[str, Any] = {
    "collective_students": 10,
    "individual_students": 10,
    "reference": "PO-2024-017",
}


class PaymentBody(BaseModel):
    amount_cents: int = Field(gt=0, le=MAX_PAYMENT_CENTS)
    paid_on: date
    payment_reference: ShortText = ""


class AllocationBody(BaseModel):
    person_ids: list[UUID] = Field(min_length=1, max_length=MAX_ALLOCATION_STUDENTS)
    amount_cents_each: int = Field(gt=0, le=MAX_ALLOCATION_CENTS)


@router.get(
    "/schools/{school_id}/budget/order-form",
    response_model=OrderForm,
    summary="What the order form prefills: school number, DUO count, rates (R-BUDGET-2)",
)
async def order_form(request: Request, school_id: UUID, session: ApiSession) -> OrderForm:
    return await budget.order_form(request, session.actor, school_id)


@router.post(
    "/schools/{school_id}/budget/quote",
    response_model=Quote,
    summary="The yellow block for these counts: budgets and invoice total (R-BUDGET-2)",
)
async def quote(
    request: Request,
    school_id: UUID,
    session: ApiSession,
    counts: Annotated[OrderCounts, Body(examples=[_COUNTS_EXAMPLE])],
) -> Quote:
    return await budget.quote(request, session.actor, school_id, counts)


@router.get(
    "/schools/{school_id}/budget/orders",
    response_model=OrderList,
    summary="The school's budget orders, with their status and objection period",
)
async def list_orders(request: Request, school_id: UUID, session: ApiSession) -> OrderList:
    return await budget.orders(request, session.actor, school_id)


@router.post(
    "/schools/{school_id}/budget/orders",
    response_model=Order,
    status_code=201,
    summary="Place a budget order (or Bijbestellen): 5 working days of objection period follow",
    responses=error_responses(409),
)
async def place_order(
    request: Request,
    school_id: UUID,
    session: ApiSession,
    counts: Annotated[OrderCounts, Body(examples=[_COUNTS_EXAMPLE])],
) -> Order:
    return await budget.place_order(request, session.actor, school_id, counts)


@router.put(
    "/schools/{school_id}/budget/orders/{order_id}",
    response_model=Order,
    summary="Change an order within its objection period",
    responses=error_responses(409),
)
async def change_order(
    request: Request,
    school_id: UUID,
    order_id: UUID,
    session: ApiSession,
    counts: Annotated[OrderCounts, Body(examples=[_COUNTS_EXAMPLE])],
) -> Order:
    return await budget.change_order(request, session.actor, school_id, order_id, counts)


@router.post(
    "/schools/{school_id}/budget/orders/{order_id}/cancel",
    response_model=Order,
    summary="Cancel an order: the school within its objection period, a CJP admin any time "
    "before approval",
    responses=error_responses(409),
)
async def cancel_order(
    request: Request, school_id: UUID, order_id: UUID, session: ApiSession
) -> Order:
    return await budget.cancel_order(request, session.actor, school_id, order_id)


@router.post(
    "/schools/{school_id}/budget/orders/{order_id}/approve",
    response_model=Order,
    summary="CJP admin: approve an order before its objection period ends",
    responses=error_responses(409),
)
async def approve_order(
    request: Request, school_id: UUID, order_id: UUID, session: ApiSession
) -> Order:
    return await budget.approve_order(request, session.actor, school_id, order_id)


@router.get(
    "/schools/{school_id}/budget/ledger",
    response_model=Ledger,
    summary="Bestellingen > Overzicht: every credit and debit with the running balance",
)
async def ledger(request: Request, school_id: UUID, session: ApiSession) -> Ledger:
    return await budget.ledger(request, session.actor, school_id)


@router.post(
    "/schools/{school_id}/budget/allocations",
    response_model=AllocationResult,
    summary="Budget toewijzen: the same amount of individual budget to each of these students "
    "with an active membership; all or nothing, never beyond what is assignable",
    responses=error_responses(409),
)
async def allocate(
    request: Request, school_id: UUID, session: ApiSession, body: AllocationBody
) -> AllocationResult:
    return await budget.allocate(
        request, session.actor, school_id, body.person_ids, body.amount_cents_each
    )


@router.get(
    "/schools/{school_id}/budget/allocations",
    response_model=StudentBudgets,
    summary="Budget toewijzen: per student with individual budget the amount assigned, spent "
    "with the CJP card and left (euro cents), with the totals; names are in the people list",
)
async def student_budgets(request: Request, school_id: UUID, session: ApiSession) -> StudentBudgets:
    return await budget.student_budgets(request, session.actor, school_id, None)


@router.get(
    "/schools/{school_id}/invoices",
    response_model=InvoiceList,
    tags=["invoices"],
    summary="Bestellingen > Budget: the school's invoices with lines and deviations",
)
async def list_invoices(request: Request, school_id: UUID, session: ApiSession) -> InvoiceList:
    return await budget.invoices(request, session.actor, school_id)


@router.get(
    "/schools/{school_id}/invoices/{invoice_id}/pdf",
    tags=["invoices"],
    summary="Download factuur (PDF)",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}, "description": "The invoice."}},
)
async def invoice_pdf_file(
    request: Request, school_id: UUID, invoice_id: UUID, session: ApiSession
) -> Response:
    budget.check(session.actor, Permission.VIEW_SCHOOL, school_id)
    return await budget.invoice_pdf(request, session.actor, school_id, invoice_id)


@router.post(
    "/invoices/{invoice_id}/payments",
    response_model=Invoice,
    tags=["invoices"],
    summary="CJP admin: record the payment of an invoice (idempotent; R-INVOICE-4)",
    responses=error_responses(409),
)
async def record_payment(
    request: Request,
    invoice_id: UUID,
    session: ApiSession,
    payment: Annotated[
        PaymentBody,
        Body(examples=[{"amount_cents": 13000, "paid_on": "2024-01-15", "payment_reference": ""}]),
    ],
) -> Invoice:
    command = RecordPayment(invoice_id=invoice_id, **payment.model_dump())
    return await budget.record_payment(request, session.actor, command)
