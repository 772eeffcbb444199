"""Bestellingen > Overzicht (the ledger with the running balance, R-BUDGET-7/8) and
Bestellingen > Budget (the school's invoices, R-INVOICE-1..3, with their PDF)."""

from __future__ import annotations

from uuid import UUID

from ck_contracts.money import format_euro
from ck_contracts.roles import Permission
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ck_gateway import backend
from ck_gateway.auth import PageSession
from ck_gateway.budget_views import order_tabs, own_school
from ck_gateway.rendering import render
from ck_gateway.usecases import budget

router = APIRouter(include_in_schema=False)


@router.get("/bestellingen", response_class=HTMLResponse)
async def orders_home(session: PageSession) -> Response:
    own_school(session, Permission.VIEW_SCHOOL)
    return RedirectResponse("/bestellingen/overzicht", status_code=303)


@router.get("/bestellingen/overzicht", response_class=HTMLResponse)
async def ledger_page(request: Request, session: PageSession) -> Response:
    school_id = own_school(session, Permission.VIEW_SCHOOL)
    ledger = await budget.ledger(request, session.actor, school_id)
    return render(
        request,
        "bestellingen_overzicht.html",
        {
            "title": "Bestellingen: overzicht",
            "tabs": order_tabs(session, school_id),
            "tab": "/bestellingen/overzicht",
            "ledger": ledger,
            "entries": list(reversed(ledger.entries)),  # newest first
            "euro": format_euro,
            "expired": backend.today(request) > ledger.spending_ends_on,
        },
    )


@router.get("/bestellingen/budget", response_class=HTMLResponse)
async def invoices_page(request: Request, session: PageSession) -> Response:
    school_id = own_school(session, Permission.VIEW_SCHOOL)
    invoices = await budget.invoices(request, session.actor, school_id)
    return render(
        request,
        "bestellingen_budget.html",
        {
            "title": "Bestellingen: budget",
            "tabs": order_tabs(session, school_id),
            "tab": "/bestellingen/budget",
            "invoices": invoices.items,
            "euro": format_euro,
            "pdf_base": "/bestellingen/budget",
        },
    )


@router.get("/bestellingen/budget/{invoice_id}/factuur")
async def download_invoice(request: Request, invoice_id: UUID, session: PageSession) -> Response:
    school_id = own_school(session, Permission.VIEW_SCHOOL)
    return await budget.invoice_pdf(request, session.actor, school_id, invoice_id)
