"""JSON API v1 for budget orders, the ledger, allocations (R-BUDGET-2..8) and invoices with
their payments (R-INVOICE-1..4). Amounts are integer euro cents."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any
from uuid import UUID

from ck_contracts.bounds import ShortText
from ck_contracts.budget import SERVICE as BUDGET
from ck_contracts.budget import (
    Allocate,
    AllocationResult,
    ChangeOrder,
    Ledger,
    Order,
    OrderCounts,
    OrderForm,
    OrderList,
    OrderRef,
    PlaceOrder,
    Quote,
    SchoolRef,
)
from ck_contracts.budget import Ops as BudgetOps
from ck_contracts.invoicing import (
    MAX_PAYMENT_CENTS,
    Invoice,
    InvoiceList,
    RecordPayment,
    SchoolInvoices,
)
from ck_contracts.invoicing import SERVICE as INVOICING
from ck_contracts.invoicing import Ops as InvoiceOps
from ck_contracts.roles import Permission
from fastapi import APIRouter, Body, Request, Response
from pydantic import BaseModel, Field

from ck_gateway import backend
from ck_gateway.api_models import error_responses
from ck_gateway.auth import ApiSession
from ck_gateway.errors import forbidden
from ck_gateway.routes.pages_budget import invoice_pdf

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


def _check(session: ApiSession, permission: Permission, school_id: UUID) -> None:
    if not session.actor.may(permission, school_id):
        raise forbidden()


async def _budget(request: Request, session: ApiSession, op: str, payload: BaseModel) -> Any:
    return await backend.call(request, BUDGET, op, payload, actor=session.actor)


class PaymentBody(BaseModel):
    amount_cents: int = Field(gt=0, le=MAX_PAYMENT_CENTS)
    paid_on: date
    payment_reference: ShortText = ""


class AllocationBody(BaseModel):
    person_ids: list[UUID] = Field(min_length=1, max_length=50_000)
    amount_cents_each: int = Field(gt=0, le=100_000)


@router.get(
    "/schools/{school_id}/budget/order-form",
    response_model=OrderForm,
    summary="What the order form prefills: school number, DUO count, rates (R-BUDGET-2)",
)
async def order_form(request: Request, school_id: UUID, session: ApiSession) -> OrderForm:
    _check(session, Permission.ORDER_BUDGET, school_id)
    ref = SchoolRef(school_id=school_id)
    return OrderForm.model_validate(await _budget(request, session, BudgetOps.ORDER_FORM, ref))


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
    _check(session, Permission.ORDER_BUDGET, school_id)
    return Quote.model_validate(await _budget(request, session, BudgetOps.QUOTE, counts))


@router.get(
    "/schools/{school_id}/budget/orders",
    response_model=OrderList,
    summary="The school's budget orders, with their status and objection period",
)
async def list_orders(request: Request, school_id: UUID, session: ApiSession) -> OrderList:
    _check(session, Permission.VIEW_SCHOOL, school_id)
    ref = SchoolRef(school_id=school_id)
    return OrderList.model_validate(await _budget(request, session, BudgetOps.ORDER_LIST, ref))


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
    _check(session, Permission.ORDER_BUDGET, school_id)
    command = PlaceOrder(school_id=school_id, **counts.model_dump())
    return Order.model_validate(await _budget(request, session, BudgetOps.ORDER_PLACE, command))


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
    _check(session, Permission.ORDER_BUDGET, school_id)
    command = ChangeOrder(school_id=school_id, order_id=order_id, **counts.model_dump())
    return Order.model_validate(await _budget(request, session, BudgetOps.ORDER_CHANGE, command))


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
    if not (
        session.actor.may(Permission.ORDER_BUDGET, school_id)
        or session.actor.has(Permission.DECIDE_BUDGET_ORDER)
    ):
        raise forbidden()
    command = OrderRef(school_id=school_id, order_id=order_id)
    return Order.model_validate(await _budget(request, session, BudgetOps.ORDER_CANCEL, command))


@router.post(
    "/schools/{school_id}/budget/orders/{order_id}/approve",
    response_model=Order,
    summary="CJP admin: approve an order before its objection period ends",
    responses=error_responses(409),
)
async def approve_order(
    request: Request, school_id: UUID, order_id: UUID, session: ApiSession
) -> Order:
    if not session.actor.has(Permission.DECIDE_BUDGET_ORDER):
        raise forbidden()
    command = OrderRef(school_id=school_id, order_id=order_id)
    return Order.model_validate(await _budget(request, session, BudgetOps.ORDER_APPROVE, command))


@router.get(
    "/schools/{school_id}/budget/ledger",
    response_model=Ledger,
    summary="Bestellingen > Overzicht: every credit and debit with the running balance",
)
async def ledger(request: Request, school_id: UUID, session: ApiSession) -> Ledger:
    _check(session, Permission.VIEW_SCHOOL, school_id)
    ref = SchoolRef(school_id=school_id)
    return Ledger.model_validate(await _budget(request, session, BudgetOps.LEDGER, ref))


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
    _check(session, Permission.ASSIGN_BUDGET, school_id)
    command = Allocate(school_id=school_id, **body.model_dump())
    return AllocationResult.model_validate(
        await _budget(request, session, BudgetOps.ALLOCATE, command)
    )


@router.get(
    "/schools/{school_id}/invoices",
    response_model=InvoiceList,
    tags=["invoices"],
    summary="Bestellingen > Budget: the school's invoices with lines and deviations",
)
async def list_invoices(request: Request, school_id: UUID, session: ApiSession) -> InvoiceList:
    _check(session, Permission.VIEW_SCHOOL, school_id)
    result = await backend.call(
        request,
        INVOICING,
        InvoiceOps.LIST,
        SchoolInvoices(school_id=school_id),
        actor=session.actor,
    )
    return InvoiceList.model_validate(result)


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
    _check(session, Permission.VIEW_SCHOOL, school_id)
    return await invoice_pdf(request, session, school_id, invoice_id)


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
    if not session.actor.has(Permission.RECORD_PAYMENT):
        raise forbidden()
    command = RecordPayment(invoice_id=invoice_id, **payment.model_dump())
    result = await backend.call(
        request, INVOICING, InvoiceOps.RECORD_PAYMENT, command, actor=session.actor
    )
    return Invoice.model_validate(result)
