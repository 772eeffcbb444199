"""The CJP admin's page of a school's budget orders and invoices (R-ROLE-4): approve an order
before its objection period ends, cancel it, record an invoice's payment (R-INVOICE-4) and
download the invoice."""

from __future__ import annotations

from datetime import date
from urllib.parse import urlencode
from uuid import UUID

from ck_contracts.accounts import SessionInfo
from ck_contracts.invoicing import RecordPayment
from ck_contracts.money import format_euro, parse_euro
from ck_contracts.roles import Permission
from ck_contracts.rpc import ErrorCode
from ck_runtime.rpc_client import RpcFailed
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ck_gateway import backend
from ck_gateway.auth import PageSession
from ck_gateway.budget_views import STATUS_LABELS, notice
from ck_gateway.csrf_guard import checked_form
from ck_gateway.errors import forbidden
from ck_gateway.forms import GENERAL, validated
from ck_gateway.rendering import render
from ck_gateway.routes.pages_budget_orders import confirm_cancel
from ck_gateway.usecases import budget

router = APIRouter(include_in_schema=False)


def _require(session: SessionInfo, permission: Permission) -> None:
    if not session.actor.has(permission):
        raise forbidden()


@router.get("/beheer/scholen/{school_id}/bestellingen", response_class=HTMLResponse)
async def admin_orders(request: Request, school_id: UUID, session: PageSession) -> Response:
    _require(session, Permission.DECIDE_BUDGET_ORDER)
    return await _admin_orders_page(request, session, school_id)


async def _admin_orders_page(
    request: Request,
    session: SessionInfo,
    school_id: UUID,
    *,
    error: str = "",
    status_code: int = 200,
) -> Response:
    """The admin's page of a school's orders and invoices. A success notice comes from a fixed
    code (?gedaan=); an error is shown only on the answer to the action that failed, never read
    from the address, so a link cannot put text of its own on the page."""
    orders = await budget.orders(request, session.actor, school_id)
    invoices = await budget.invoices(request, session.actor, school_id)
    return render(
        request,
        "admin_school_orders.html",
        {
            "title": "Bestellingen en facturen",
            "school_id": school_id,
            "orders": orders.items,
            "invoices": invoices.items,
            "status_labels": STATUS_LABELS,
            "euro": format_euro,
            "today": backend.today(request).isoformat(),
            "notice": "" if error else notice(request.query_params.get("gedaan", "")),
            "error": error,
        },
        status_code=status_code,
    )


def _admin_back(school_id: UUID, done: str) -> RedirectResponse:
    query = urlencode({"gedaan": done})
    return RedirectResponse(f"/beheer/scholen/{school_id}/bestellingen?{query}", status_code=303)


async def _admin_refused(
    request: Request, session: SessionInfo, school_id: UUID, message: str, status_code: int
) -> Response:
    return await _admin_orders_page(
        request, session, school_id, error=message, status_code=status_code
    )


def _refusal(exc: RpcFailed) -> int:
    """The status of a refusal the page shows (anything else is raised again)."""
    if exc.error.code not in (ErrorCode.INVALID, ErrorCode.CONFLICT):
        raise exc
    return 409 if exc.error.code == ErrorCode.CONFLICT else 422


@router.post("/beheer/scholen/{school_id}/bestellingen/{order_id}/goedkeuren")
async def admin_approve(
    request: Request, school_id: UUID, order_id: UUID, session: PageSession
) -> Response:
    """Approve early: the budget service's refusal comes back as the page's message."""
    await checked_form(request)
    _require(session, Permission.DECIDE_BUDGET_ORDER)
    try:
        await budget.approve_order(request, session.actor, school_id, order_id)
    except RpcFailed as exc:
        status = _refusal(exc)
        return await _admin_refused(request, session, school_id, exc.error.message, status)
    return _admin_back(school_id, "goedgekeurd")


@router.get("/beheer/scholen/{school_id}/bestellingen/{order_id}/annuleren")
async def admin_confirm_cancel(
    request: Request, school_id: UUID, order_id: UUID, session: PageSession
) -> Response:
    """ "Weet u het zeker?" before the admin cancels a school's order (issue 14)."""
    _require(session, Permission.DECIDE_BUDGET_ORDER)
    orders = await budget.orders(request, session.actor, school_id)
    order = next((o for o in orders.items if o.order_id == order_id), None)
    return confirm_cancel(request, order, f"/beheer/scholen/{school_id}/bestellingen")


@router.post("/beheer/scholen/{school_id}/bestellingen/{order_id}/annuleren")
async def admin_cancel(
    request: Request, school_id: UUID, order_id: UUID, session: PageSession
) -> Response:
    await checked_form(request)
    _require(session, Permission.DECIDE_BUDGET_ORDER)
    try:
        await budget.cancel_order(request, session.actor, school_id, order_id)
    except RpcFailed as exc:
        status = _refusal(exc)
        return await _admin_refused(request, session, school_id, exc.error.message, status)
    return _admin_back(school_id, "geannuleerd")


@router.post("/beheer/scholen/{school_id}/facturen/{invoice_id}/betaling")
async def admin_record_payment(
    request: Request, school_id: UUID, invoice_id: UUID, session: PageSession
) -> Response:
    form = await checked_form(request)
    _require(session, Permission.RECORD_PAYMENT)
    amount = parse_euro(str(form.get("bedrag", "") or ""))
    try:
        paid_on = date.fromisoformat(str(form.get("datum", "") or ""))
    except ValueError:
        return await _admin_refused(
            request, session, school_id, "Vul de betaaldatum in als jjjj-mm-dd.", 422
        )
    if amount is None or amount <= 0:
        return await _admin_refused(
            request, session, school_id, "Vul het betaalde bedrag in, bijvoorbeeld 130,00.", 422
        )
    command, errors = validated(
        RecordPayment,
        {
            "invoice_id": invoice_id,
            "amount_cents": amount,
            "paid_on": paid_on,
            "payment_reference": str(form.get("kenmerk", "") or ""),
        },
        {"payment_reference": "Kenmerk", "amount_cents": "Bedrag"},
    )
    if command is None:
        label, message = next(iter(errors.items()))
        refusal = message if label == GENERAL else f"{label}: {message}"
        return await _admin_refused(request, session, school_id, refusal, 422)
    try:
        await budget.record_payment(request, session.actor, command)
    except RpcFailed as exc:
        status = _refusal(exc)
        return await _admin_refused(request, session, school_id, exc.error.message, status)
    return _admin_back(school_id, "betaald")


@router.get("/beheer/scholen/{school_id}/facturen/{invoice_id}/factuur")
async def admin_download_invoice(
    request: Request, school_id: UUID, invoice_id: UUID, session: PageSession
) -> Response:
    _require(session, Permission.RECORD_PAYMENT)
    return await budget.invoice_pdf(request, session.actor, school_id, invoice_id)
