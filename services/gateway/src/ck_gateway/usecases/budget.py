"""The budget use cases the pages (routes/pages_budget_*.py) and the JSON API
(routes/api_budget.py) share: ordering, the ledger, Budget toewijzen and the CJP admin's
decisions (R-BUDGET-2..8, R-ROLE-4), and an invoice's PDF.

Each checks the actor first (a 403 without a round trip), then sends the declared operation;
the budget service checks every rule and the tenant again.
"""

from __future__ import annotations

import base64
from uuid import UUID

from ck_contracts.budget import (
    Allocate,
    AllocationResult,
    AllocationsQuery,
    ChangeOrder,
    Ledger,
    Ops,
    Order,
    OrderCounts,
    OrderForm,
    OrderList,
    OrderRef,
    PlaceOrder,
    Quote,
    SchoolRef,
    StudentBudgets,
)
from ck_contracts.invoicing import Invoice, InvoiceList, InvoiceRef, RecordPayment, SchoolInvoices
from ck_contracts.invoicing import Ops as InvoiceOps
from ck_contracts.roles import Actor, Permission
from fastapi import Request, Response

from ck_gateway import backend
from ck_gateway.errors import forbidden


def check(actor: Actor, permission: Permission, school_id: UUID) -> None:
    """The actor holds the permission for this school (else 403)."""
    if not actor.may(permission, school_id):
        raise forbidden()


# --- ordering (R-BUDGET-2..4) --------------------------------------------------------------------
async def order_form(request: Request, actor: Actor, school_id: UUID) -> OrderForm:
    check(actor, Permission.ORDER_BUDGET, school_id)
    return await backend.send(request, Ops.ORDER_FORM, SchoolRef(school_id=school_id), actor=actor)


async def quote(request: Request, actor: Actor, school_id: UUID, counts: OrderCounts) -> Quote:
    check(actor, Permission.ORDER_BUDGET, school_id)
    return await backend.send(request, Ops.QUOTE, counts, actor=actor)


async def orders(request: Request, actor: Actor, school_id: UUID) -> OrderList:
    check(actor, Permission.VIEW_SCHOOL, school_id)
    return await backend.send(request, Ops.ORDER_LIST, SchoolRef(school_id=school_id), actor=actor)


async def place_order(
    request: Request, actor: Actor, school_id: UUID, counts: OrderCounts
) -> Order:
    check(actor, Permission.ORDER_BUDGET, school_id)
    command = PlaceOrder(school_id=school_id, **counts.model_dump())
    return await backend.send(request, Ops.ORDER_PLACE, command, actor=actor)


async def change_order(
    request: Request, actor: Actor, school_id: UUID, order_id: UUID, counts: OrderCounts
) -> Order:
    check(actor, Permission.ORDER_BUDGET, school_id)
    command = ChangeOrder(school_id=school_id, order_id=order_id, **counts.model_dump())
    return await backend.send(request, Ops.ORDER_CHANGE, command, actor=actor)


async def cancel_order(request: Request, actor: Actor, school_id: UUID, order_id: UUID) -> Order:
    """The school within the objection period, a CJP admin any time before approval."""
    may_cancel = actor.may(Permission.ORDER_BUDGET, school_id)
    if not (may_cancel or actor.has(Permission.DECIDE_BUDGET_ORDER)):
        raise forbidden()
    command = OrderRef(school_id=school_id, order_id=order_id)
    return await backend.send(request, Ops.ORDER_CANCEL, command, actor=actor)


async def approve_order(request: Request, actor: Actor, school_id: UUID, order_id: UUID) -> Order:
    """A CJP admin, before the objection period ends."""
    if not actor.has(Permission.DECIDE_BUDGET_ORDER):
        raise forbidden()
    command = OrderRef(school_id=school_id, order_id=order_id)
    return await backend.send(request, Ops.ORDER_APPROVE, command, actor=actor)


# --- the balance and Budget toewijzen (R-BUDGET-6..8) --------------------------------------------
async def ledger(request: Request, actor: Actor, school_id: UUID) -> Ledger:
    check(actor, Permission.VIEW_SCHOOL, school_id)
    return await backend.send(request, Ops.LEDGER, SchoolRef(school_id=school_id), actor=actor)


async def allocate(
    request: Request, actor: Actor, school_id: UUID, person_ids: list[UUID], amount_cents_each: int
) -> AllocationResult:
    check(actor, Permission.ASSIGN_BUDGET, school_id)
    command = Allocate(
        school_id=school_id, person_ids=person_ids, amount_cents_each=amount_cents_each
    )
    return await backend.send(request, Ops.ALLOCATE, command, actor=actor)


async def student_budgets(
    request: Request, actor: Actor, school_id: UUID, person_ids: list[UUID] | None
) -> StudentBudgets:
    """Assigned, spent and left per student (issue 14); None: every student with budget."""
    check(actor, Permission.ASSIGN_BUDGET, school_id)
    query = AllocationsQuery(school_id=school_id, person_ids=person_ids)
    return await backend.send(request, Ops.ALLOCATIONS, query, actor=actor)


# --- invoices (Bestellingen > Budget) ------------------------------------------------------------
async def invoices(request: Request, actor: Actor, school_id: UUID) -> InvoiceList:
    """The school's invoices with their lines and deviations (the invoicing service's)."""
    check(actor, Permission.VIEW_SCHOOL, school_id)
    ref = SchoolInvoices(school_id=school_id)
    return await backend.send(request, InvoiceOps.LIST, ref, actor=actor)


async def invoice_pdf(
    request: Request, actor: Actor, school_id: UUID, invoice_id: UUID
) -> Response:
    """The invoice as a PDF download (the invoicing service makes it)."""
    pdf = await backend.send(
        request,
        InvoiceOps.PDF,
        InvoiceRef(school_id=school_id, invoice_id=invoice_id),
        actor=actor,
        timeout=backend.file_timeout(request),
    )
    return Response(
        base64.b64decode(pdf.content_b64),
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{pdf.filename}"'},
    )


async def record_payment(request: Request, actor: Actor, command: RecordPayment) -> Invoice:
    """A CJP admin records an invoice's payment (R-INVOICE-4; idempotent)."""
    if not actor.has(Permission.RECORD_PAYMENT):
        raise forbidden()
    return await backend.send(request, InvoiceOps.RECORD_PAYMENT, command, actor=actor)
