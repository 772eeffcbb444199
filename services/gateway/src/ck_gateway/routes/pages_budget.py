"""Producten (ordering the Cultuurkaart budget, R-BUDGET-2..4) and Bestellingen > Overzicht,
Budget and Budget toewijzen (R-BUDGET-5..8, R-INVOICE-1..3), plus the CJP admin's view of a
school's orders and invoices (approve early, cancel, record a payment: R-ROLE-4, R-INVOICE-4).

The budget service owns orders, the balance and allocations; the invoicing service owns
invoices and payments. Both check every rule and role again; the gateway checks the role first
and shows their answers in Dutch.
"""

from __future__ import annotations

import base64
from datetime import date
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from ck_contracts.accounts import SessionInfo
from ck_contracts.bounds import MAX_PAGE, whole_number
from ck_contracts.budget import SERVICE as BUDGET
from ck_contracts.budget import (
    Allocate,
    AllocationResult,
    ChangeOrder,
    Ledger,
    OrderCounts,
    OrderForm,
    OrderList,
    OrderRef,
    OrderStatus,
    PlaceOrder,
    Quote,
    SchoolRef,
)
from ck_contracts.budget import Ops as BudgetOps
from ck_contracts.invoicing import SERVICE as INVOICING
from ck_contracts.invoicing import (
    InvoiceList,
    InvoicePdf,
    InvoiceRef,
    RecordPayment,
    SchoolInvoices,
)
from ck_contracts.invoicing import Ops as InvoiceOps
from ck_contracts.money import format_euro, parse_euro
from ck_contracts.roles import Permission
from ck_contracts.roster import ListFilter, ListRequest, MembershipStatus, PersonPage, RosterKind
from ck_contracts.roster import Ops as RosterOps
from ck_contracts.rpc import ErrorCode
from ck_runtime.rpc_client import RpcFailed
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from ck_gateway import backend
from ck_gateway.auth import PageSession
from ck_gateway.csrf_guard import checked_form
from ck_gateway.errors import forbidden
from ck_gateway.forms import GENERAL, search_term, validated
from ck_gateway.rendering import render
from ck_gateway.usecases.schools import get_school

router = APIRouter(include_in_schema=False)

STATUS_LABELS = {
    OrderStatus.IN_OBJECTION_PERIOD: "In bezwaartermijn",
    OrderStatus.APPROVED: "Goedgekeurd",
    OrderStatus.CANCELLED: "Geannuleerd",
}
MAX_COUNT = 1_000_000
NOTICES = {
    "besteld": "Uw bestelling is geplaatst. De bezwaartermijn van 5 werkdagen is ingegaan.",
    "gewijzigd": "De bestelling is gewijzigd.",
    "geannuleerd": "De bestelling is geannuleerd.",
    "goedgekeurd": "De bestelling is goedgekeurd.",
    "betaald": "De betaling is vastgelegd.",
}


def own_school(session: SessionInfo, permission: Permission) -> UUID:
    """The user's own school, when the role holds the permission for it (else 403)."""
    school_id: UUID | None = session.actor.school_id
    if school_id is None or not session.actor.may(permission, school_id):
        raise forbidden()
    return school_id


def parse_counts(form: FormData | dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The order form's fields -> (OrderCounts fields, Dutch errors by field)."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name in ("collectief", "individueel"):
        number = whole_number(str(form.get(name, "") or "0"), low=0, high=MAX_COUNT)
        if number is None:
            errors[name] = "Vul een heel aantal in van 0 tot en met 1.000.000."
        else:
            values[name] = number
    if not errors and values["collectief"] == 0 and values["individueel"] == 0:
        errors[GENERAL] = "Vul bij minstens één van de twee aantallen meer dan 0 in."
    reference = str(form.get("referentie", "") or "").strip()
    counts = {
        "collective_students": values.get("collectief", 0),
        "individual_students": values.get("individueel", 0),
        "reference": reference,
    }
    # The contract's own rules for the reference (length, control characters).
    checked, problems = validated(OrderCounts, counts, {"reference": "referentie"})
    if "referentie" in problems:
        errors["referentie"] = problems["referentie"]
    elif checked is not None:
        counts["reference"] = checked.reference
    return counts, errors


def _form_values(form: FormData | dict[str, str]) -> dict[str, str]:
    return {k: str(form.get(k, "") or "") for k in ("collectief", "individueel", "referentie")}


def _service_errors(exc: RpcFailed) -> dict[str, str]:
    if exc.error.code not in (ErrorCode.INVALID, ErrorCode.CONFLICT):
        raise exc
    names = {"collective_students": "collectief", "individual_students": "individueel"}
    errors = {names.get(k, k): v for k, v in (exc.error.fields or {}).items()}
    if not errors or exc.error.code == ErrorCode.CONFLICT:
        errors[GENERAL] = exc.error.message
    return errors


# --- reads the pages share --------------------------------------------------------------------
async def _order_form(request: Request, session: SessionInfo, school_id: UUID) -> OrderForm:
    ref = SchoolRef(school_id=school_id)
    result = await backend.call(request, BUDGET, BudgetOps.ORDER_FORM, ref, actor=session.actor)
    return OrderForm.model_validate(result)


async def _orders(request: Request, session: SessionInfo, school_id: UUID) -> OrderList:
    ref = SchoolRef(school_id=school_id)
    result = await backend.call(request, BUDGET, BudgetOps.ORDER_LIST, ref, actor=session.actor)
    return OrderList.model_validate(result)


async def _ledger(request: Request, session: SessionInfo, school_id: UUID) -> Ledger:
    ref = SchoolRef(school_id=school_id)
    result = await backend.call(request, BUDGET, BudgetOps.LEDGER, ref, actor=session.actor)
    return Ledger.model_validate(result)


async def _invoices(request: Request, session: SessionInfo, school_id: UUID) -> InvoiceList:
    ref = SchoolInvoices(school_id=school_id)
    result = await backend.call(request, INVOICING, InvoiceOps.LIST, ref, actor=session.actor)
    return InvoiceList.model_validate(result)


# --- Producten: the order form ---------------------------------------------------------------
async def _order_page(
    request: Request,
    session: SessionInfo,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    school_id = own_school(session, Permission.ORDER_BUDGET)
    form = await _order_form(request, session, school_id)
    orders = await _orders(request, session, school_id)
    if values is None:
        # The default reference is a school setting (Instellingen), kept by accounts.
        school = await get_school(request, session, school_id)
        reference = form.default_reference or school.default_order_reference
        values = {"collectief": "0", "individueel": "0", "referentie": reference}
    return render(
        request,
        "producten.html",
        {
            "title": "Bijbestellen" if not form.first_order else "Cultuurkaart-budget bestellen",
            "form": form,
            "orders": orders.items,
            "values": values,
            "errors": errors or {},
            "status_labels": STATUS_LABELS,
            "euro": format_euro,
            "notice": NOTICES.get(request.query_params.get("gedaan", ""), ""),
        },
        status_code=status_code,
    )


@router.get("/producten", response_class=HTMLResponse)
async def order_form(request: Request, session: PageSession) -> Response:
    return await _order_page(request, session)


async def _quote(request: Request, session: SessionInfo, counts: dict[str, Any]) -> Quote:
    payload = {k: counts[k] for k in ("collective_students", "individual_students")}
    return Quote.model_validate(
        await backend.call(request, BUDGET, BudgetOps.QUOTE, payload, actor=session.actor)
    )


@router.post("/producten/controleren", response_class=HTMLResponse)
async def check_order(request: Request, session: PageSession) -> Response:
    """Step 4 of the manual: the school checks the counts and the amounts, then confirms."""
    form = await checked_form(request)
    own_school(session, Permission.ORDER_BUDGET)
    counts, errors = parse_counts(form)
    values = _form_values(form)
    if errors:
        return await _order_page(request, session, values=values, errors=errors, status_code=422)
    quote = await _quote(request, session, counts)
    return render(
        request,
        "producten_controleren.html",
        {
            "title": "Controleer uw bestelling",
            "counts": counts,
            "values": values,
            "quote": quote,
            "euro": format_euro,
            "order_id": str(form.get("bestelling", "") or ""),
        },
    )


@router.post("/producten/bestellen", response_class=HTMLResponse)
async def place_order(request: Request, session: PageSession) -> Response:
    form = await checked_form(request)
    school_id = own_school(session, Permission.ORDER_BUDGET)
    counts, errors = parse_counts(form)
    values = _form_values(form)
    if not errors:
        try:
            order_id = str(form.get("bestelling", "") or "")
            if order_id:
                command: Any = ChangeOrder(school_id=school_id, order_id=UUID(order_id), **counts)
                op, done = BudgetOps.ORDER_CHANGE, "gewijzigd"
            else:
                command = PlaceOrder(school_id=school_id, **counts)
                op, done = BudgetOps.ORDER_PLACE, "besteld"
            await backend.call(request, BUDGET, op, command, actor=session.actor)
            return RedirectResponse(f"/producten?gedaan={done}", status_code=303)
        except ValueError:
            errors[GENERAL] = "Deze bestelling bestaat niet."
        except RpcFailed as exc:
            errors = _service_errors(exc)
    return await _order_page(request, session, values=values, errors=errors, status_code=422)


@router.get("/producten/bestellingen/{order_id}/wijzigen", response_class=HTMLResponse)
async def change_order_form(request: Request, order_id: UUID, session: PageSession) -> Response:
    school_id = own_school(session, Permission.ORDER_BUDGET)
    orders = await _orders(request, session, school_id)
    order = next((o for o in orders.items if o.order_id == order_id), None)
    if order is None or order.status != OrderStatus.IN_OBJECTION_PERIOD:
        return RedirectResponse("/producten", status_code=303)
    form = await _order_form(request, session, school_id)
    return render(
        request,
        "producten_wijzigen.html",
        {
            "title": "Bestelling wijzigen",
            "form": form,
            "order": order,
            "values": {
                "collectief": str(order.collective_students),
                "individueel": str(order.individual_students),
                "referentie": order.reference,
            },
            "errors": {},
            "euro": format_euro,
        },
    )


@router.post("/producten/bestellingen/{order_id}/annuleren", response_class=HTMLResponse)
async def cancel_order(request: Request, order_id: UUID, session: PageSession) -> Response:
    await checked_form(request)
    school_id = own_school(session, Permission.ORDER_BUDGET)
    command = OrderRef(school_id=school_id, order_id=order_id)
    try:
        await backend.call(request, BUDGET, BudgetOps.ORDER_CANCEL, command, actor=session.actor)
    except RpcFailed as exc:
        errors = _service_errors(exc)
        return await _order_page(request, session, errors=errors, status_code=409)
    return RedirectResponse("/producten?gedaan=geannuleerd", status_code=303)


# --- Bestellingen ------------------------------------------------------------------------------
def _tabs(session: SessionInfo, school_id: UUID) -> list[tuple[str, str]]:
    # The manual's submenus (2.1.1): overzicht, weborders, budget, schooltoer, exports.
    tabs = [
        ("Overzicht", "/bestellingen/overzicht"),
        ("Weborders", "/bestellingen/weborders"),
        ("Budget", "/bestellingen/budget"),
        ("Schooltoer", "/bestellingen/schooltoer"),
        ("Exports", "/bestellingen/exports"),
    ]
    if session.actor.may(Permission.ASSIGN_BUDGET, school_id):
        tabs.append(("Budget toewijzen", "/bestellingen/toewijzen"))
    return tabs


@router.get("/bestellingen", response_class=HTMLResponse)
async def orders_home(session: PageSession) -> Response:
    own_school(session, Permission.VIEW_SCHOOL)
    return RedirectResponse("/bestellingen/overzicht", status_code=303)


@router.get("/bestellingen/overzicht", response_class=HTMLResponse)
async def ledger_page(request: Request, session: PageSession) -> Response:
    school_id = own_school(session, Permission.VIEW_SCHOOL)
    ledger = await _ledger(request, session, school_id)
    return render(
        request,
        "bestellingen_overzicht.html",
        {
            "title": "Bestellingen: overzicht",
            "tabs": _tabs(session, school_id),
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
    invoices = await _invoices(request, session, school_id)
    return render(
        request,
        "bestellingen_budget.html",
        {
            "title": "Bestellingen: budget",
            "tabs": _tabs(session, school_id),
            "tab": "/bestellingen/budget",
            "invoices": invoices.items,
            "euro": format_euro,
            "pdf_base": "/bestellingen/budget",
        },
    )


async def invoice_pdf(
    request: Request, session: SessionInfo, school_id: UUID, invoice_id: UUID
) -> Response:
    result = await backend.call(
        request,
        INVOICING,
        InvoiceOps.PDF,
        InvoiceRef(school_id=school_id, invoice_id=invoice_id),
        actor=session.actor,
        timeout=backend.file_timeout(request),
    )
    pdf = InvoicePdf.model_validate(result)
    return Response(
        base64.b64decode(pdf.content_b64),
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{pdf.filename}"'},
    )


@router.get("/bestellingen/budget/{invoice_id}/factuur")
async def download_invoice(request: Request, invoice_id: UUID, session: PageSession) -> Response:
    school_id = own_school(session, Permission.VIEW_SCHOOL)
    return await invoice_pdf(request, session, school_id, invoice_id)


# --- Budget toewijzen (R-BUDGET-6) -------------------------------------------------------------
def _active_students(achternaam: str) -> ListFilter:
    """Who may get individual budget (R-BUDGET-6): active members, optionally by achternaam."""
    return ListFilter(statuses=[MembershipStatus.ACTIVE], achternaam=search_term(achternaam))


async def _everyone_matching(
    request: Request, session: SessionInfo, school_id: UUID, achternaam: str
) -> list[UUID]:
    """ "Alle studenten die aan het filter voldoen", however many pages: the roster's list,
    500 at a time (at most 50,000, what one allocation takes)."""
    ids: list[UUID] = []
    page = 1
    while len(ids) < 50_000:
        listing = ListRequest(
            school_id=school_id,
            kind=RosterKind.STUDENTS,
            filter=_active_students(achternaam),
            page=page,
            page_size=500,
        )
        found = PersonPage.model_validate(
            await backend.send(request, RosterOps.LIST, listing, actor=session.actor)
        )
        ids.extend(p.person_id for p in found.items)
        if len(found.items) < 500:
            break
        page += 1
    return ids[:50_000]


async def _allocation_page(
    request: Request,
    session: SessionInfo,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    notice: str = "",
    status_code: int = 200,
) -> Response:
    school_id = own_school(session, Permission.ASSIGN_BUDGET)
    page_number = request.query_params.get("pagina", "1")
    listing = ListRequest(
        school_id=school_id,
        kind=RosterKind.STUDENTS,
        filter=_active_students(request.query_params.get("achternaam", "")),
        page=whole_number(page_number, low=1, high=MAX_PAGE) or 1,
        page_size=100,
    )
    people = PersonPage.model_validate(
        await backend.send(request, RosterOps.LIST, listing, actor=session.actor)
    )
    ledger = await _ledger(request, session, school_id)
    return render(
        request,
        "bestellingen_toewijzen.html",
        {
            "title": "Bestellingen: budget toewijzen",
            "tabs": _tabs(session, school_id),
            "tab": "/bestellingen/toewijzen",
            "people": people,
            "ledger": ledger,
            "values": values or {"bedrag": "10,50"},
            "errors": errors or {},
            "notice": notice,
            "euro": format_euro,
        },
        status_code=status_code,
    )


@router.get("/bestellingen/toewijzen", response_class=HTMLResponse)
async def allocation_form(request: Request, session: PageSession) -> Response:
    return await _allocation_page(request, session)


@router.post("/bestellingen/toewijzen", response_class=HTMLResponse)
async def allocate(request: Request, session: PageSession) -> Response:
    form = await checked_form(request)
    school_id = own_school(session, Permission.ASSIGN_BUDGET)
    values = {"bedrag": str(form.get("bedrag", "") or "")}
    errors: dict[str, str] = {}
    amount = parse_euro(values["bedrag"])
    if amount is None or amount <= 0 or amount > 100_000:
        errors["bedrag"] = "Vul een bedrag in van € 0,01 tot en met € 1.000,00, bijvoorbeeld 10,50."
    ids: list[UUID] = []
    if form.get("iedereen") == "ja":
        achternaam = str(form.get("achternaam", "") or "")
        ids = await _everyone_matching(request, session, school_id, achternaam)
    else:
        for raw in form.getlist("persoon"):
            try:
                ids.append(UUID(str(raw)))
            except ValueError:
                continue
    if not ids:
        errors[GENERAL] = "Kies minstens één student."
    if errors or amount is None:
        return await _allocation_page(
            request, session, values=values, errors=errors, status_code=422
        )
    command = Allocate(school_id=school_id, person_ids=ids, amount_cents_each=amount)
    try:
        result = AllocationResult.model_validate(
            await backend.call(request, BUDGET, BudgetOps.ALLOCATE, command, actor=session.actor)
        )
    except RpcFailed as exc:
        errors = _service_errors(exc)
        return await _allocation_page(
            request, session, values=values, errors=errors, status_code=409
        )
    notice = (
        f"{format_euro(result.allocated_cents)} toegewezen aan {result.allocated_students} "
        f"student(en). Nog toe te wijzen: {format_euro(result.assignable_individual_cents)}."
    )
    return await _allocation_page(request, session, values=values, notice=notice)


# --- CJP admin: a school's orders and invoices -----------------------------------------------
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
    orders = await _orders(request, session, school_id)
    invoices = await _invoices(request, session, school_id)
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
            "notice": "" if error else NOTICES.get(request.query_params.get("gedaan", ""), ""),
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


def _refusal_status(exc: RpcFailed) -> int:
    return 409 if exc.error.code == ErrorCode.CONFLICT else 422


async def _admin_decide(
    request: Request, session: SessionInfo, school_id: UUID, order_id: UUID, op: str, done: str
) -> Response:
    """Approve early or cancel: the budget service's refusal comes back as the page's message."""
    await checked_form(request)
    _require(session, Permission.DECIDE_BUDGET_ORDER)
    command = OrderRef(school_id=school_id, order_id=order_id)
    try:
        await backend.call(request, BUDGET, op, command, actor=session.actor)
    except RpcFailed as exc:
        if exc.error.code not in (ErrorCode.INVALID, ErrorCode.CONFLICT):
            raise
        return await _admin_refused(
            request, session, school_id, exc.error.message, _refusal_status(exc)
        )
    return _admin_back(school_id, done)


@router.post("/beheer/scholen/{school_id}/bestellingen/{order_id}/goedkeuren")
async def admin_approve(
    request: Request, school_id: UUID, order_id: UUID, session: PageSession
) -> Response:
    return await _admin_decide(
        request, session, school_id, order_id, BudgetOps.ORDER_APPROVE, "goedgekeurd"
    )


@router.post("/beheer/scholen/{school_id}/bestellingen/{order_id}/annuleren")
async def admin_cancel(
    request: Request, school_id: UUID, order_id: UUID, session: PageSession
) -> Response:
    return await _admin_decide(
        request, session, school_id, order_id, BudgetOps.ORDER_CANCEL, "geannuleerd"
    )


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
        await backend.call(
            request, INVOICING, InvoiceOps.RECORD_PAYMENT, command, actor=session.actor
        )
    except RpcFailed as exc:
        if exc.error.code not in (ErrorCode.INVALID, ErrorCode.CONFLICT):
            raise
        return await _admin_refused(
            request, session, school_id, exc.error.message, _refusal_status(exc)
        )
    return _admin_back(school_id, "betaald")


@router.get("/beheer/scholen/{school_id}/facturen/{invoice_id}/factuur")
async def admin_download_invoice(
    request: Request, school_id: UUID, invoice_id: UUID, session: PageSession
) -> Response:
    _require(session, Permission.RECORD_PAYMENT)
    return await invoice_pdf(request, session, school_id, invoice_id)
