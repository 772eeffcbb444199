"""Bestellingen > Weborders, Schooltoer and Exports (R-WEB-2, R-WEB-4, R-WEB-5).

The weborders service owns weborders and Schooltoer orders; the budget service debits the
balance. Approving is a saga: the weborder is "in behandeling" until the budget has debited it
(goedgekeurd) or refused the debit (geweigerd, with the budget's Dutch reason). The approve and
order routes wait a moment for that outcome, so the budget holder usually sees it at once; the
list always shows it. Docent+ users see the lists but may not approve, reject, cancel or order
(R-ROLE-2): the gateway checks the role first, the services check again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

from ck_contracts.accounts import SessionInfo
from ck_contracts.bounds import MAX_PAGE_SIZE
from ck_contracts.money import format_euro
from ck_contracts.roles import Permission
from ck_contracts.rpc import ErrorCode
from ck_contracts.weborders import (
    CancelApproval,
    DecideWeborder,
    SchooltoerOrder,
    SchoolWeborders,
    Weborder,
    WeborderPage,
    WeborderStatus,
)
from ck_runtime.rpc_client import RpcFailed
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ck_gateway import backend, i18n
from ck_gateway.auth import PageSession
from ck_gateway.budget_views import order_tabs, own_school
from ck_gateway.confirm import confirm_page
from ck_gateway.csrf_guard import checked_form
from ck_gateway.forms import GENERAL, validated
from ck_gateway.rendering import render
from ck_gateway.usecases import weborders as usecase
from ck_gateway.usecases.weborders import XLSX
from ck_gateway.weborder_views import (
    SCHOOLTOER_FIELDS,
    STATUS_LABELS,
    page_number,
    parse_schooltoer,
    reason_error,
    rename_fields,
    status_filter,
    text,
)

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
SETTLE_SECONDS = 3.0  # how long an approval waits for the budget's answer before redirecting
DONE = ("afgekeurd", "geannuleerd", "besteld")  # ?gedaan=...: msgid weborders_page.done.<it>


def service_errors(exc: RpcFailed, names: dict[str, str] | None = None) -> dict[str, str]:
    """The service's refusal as form errors; other failures go to the error page."""
    if exc.error.code not in (ErrorCode.INVALID, ErrorCode.CONFLICT, ErrorCode.NOT_FOUND):
        raise exc
    errors = rename_fields(exc.error.fields or {}, names or {})
    if not errors or exc.error.code != ErrorCode.INVALID:
        errors[GENERAL] = exc.error.message
    return errors


def refusal_status(exc: RpcFailed) -> int:
    """404 when nothing matched (another school's weborder or order: never a success message),
    else 409 (the service refused what it found)."""
    return 404 if exc.error.code == ErrorCode.NOT_FOUND else 409


async def settled(
    fetch: Callable[[], Awaitable[Any]], pending: Callable[[Any], bool], seconds: float
) -> Any:
    """Ask again until the saga has an outcome, or the time is up: the last answer."""
    end = time.monotonic() + seconds
    found = await fetch()
    delay = 0.05
    while pending(found) and time.monotonic() < end:
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.4)
        found = await fetch()
    return found


# --- Weborders (R-WEB-2) -----------------------------------------------------------------------
async def _weborders(
    request: Request, session: SessionInfo, query: SchoolWeborders
) -> WeborderPage:
    return await usecase.weborders(request, session.actor, query)


def _outcome(weborder: Weborder | None) -> tuple[str, str]:
    """(notice, error) for the weborder the budget holder just approved."""
    if weborder is None:
        return "", ""
    params = {
        "activity": weborder.activity,
        "amount_cents": weborder.amount_cents,
        "reason": weborder.reason,
    }
    if weborder.status == WeborderStatus.APPROVED:
        return i18n.render("weborders_page.approved", params), ""
    if weborder.status == WeborderStatus.REFUSED:
        refused = i18n.render("weborders_page.refused", params)
        if weborder.reapprovable:  # issue 13: after a top-up the school may approve again
            refused += " " + i18n.render("weborders_page.refused.reapprovable")
        return "", refused
    if weborder.status == WeborderStatus.APPROVING:
        return i18n.render("weborders_page.approving", params), ""
    return "", ""


async def _weborders_page(
    request: Request,
    session: SessionInfo,
    *,
    errors: dict[str, str] | None = None,
    failed_id: str = "",
    status_code: int = 200,
) -> Response:
    school_id = own_school(session, Permission.VIEW_SCHOOL)
    status = status_filter(request.query_params.get("status"))
    page = page_number(request.query_params.get("pagina"))
    query = SchoolWeborders(school_id=school_id, status=status, page=page, page_size=PAGE_SIZE)
    listing = await _weborders(request, session, query)
    notice, error = "", ""
    if just := request.query_params.get("weborder"):
        found = next((w for w in listing.items if str(w.weborder_id) == just), None)
        notice, error = _outcome(found)
    if not notice and (done := request.query_params.get("gedaan", "")) in DONE:
        notice = i18n.render(f"weborders_page.done.{done}")
    pages = max(1, -(-listing.total // PAGE_SIZE))
    return render(
        request,
        "bestellingen_weborders.html",
        {
            "title": "Bestellingen: weborders",
            "tabs": order_tabs(session, school_id),
            "tab": "/bestellingen/weborders",
            "listing": listing,
            "status": status.value if status else "",
            "page": page,
            "pages": pages,
            "status_labels": STATUS_LABELS,
            "may_decide": session.actor.may(Permission.APPROVE_WEBORDERS, school_id),
            "euro": format_euro,
            "notice": notice,
            "error": error,
            "errors": errors or {},
            "failed_id": failed_id,
        },
        status_code=status_code,
    )


@router.get("/bestellingen/weborders", response_class=HTMLResponse)
async def weborders_page(request: Request, session: PageSession) -> Response:
    return await _weborders_page(request, session)


@router.post("/bestellingen/weborders/{weborder_id}/goedkeuren")
async def approve(request: Request, weborder_id: UUID, session: PageSession) -> Response:
    await checked_form(request)
    school_id = own_school(session, Permission.APPROVE_WEBORDERS)
    command = DecideWeborder(school_id=school_id, weborder_id=weborder_id, approve=True)
    try:
        await usecase.decide(request, session.actor, command)
    except RpcFailed as exc:
        errors = service_errors(exc)
        return await _weborders_page(
            request, session, errors=errors, status_code=refusal_status(exc)
        )
    # The budget debits it (or refuses) through the broker: wait a moment for the outcome.
    in_progress = SchoolWeborders(
        school_id=school_id, status=WeborderStatus.APPROVING, page_size=500
    )
    await settled(
        lambda: _weborders(request, session, in_progress),
        lambda page: any(w.weborder_id == weborder_id for w in page.items),
        SETTLE_SECONDS,
    )
    return RedirectResponse(f"/bestellingen/weborders?weborder={weborder_id}", status_code=303)


async def _submitted(request: Request, session: SessionInfo, weborder_id: UUID) -> Weborder | None:
    """The school's submitted weborder with this id, or None."""
    school_id = own_school(session, Permission.APPROVE_WEBORDERS)
    page = 1
    while True:
        query = SchoolWeborders(
            school_id=school_id,
            status=WeborderStatus.SUBMITTED,
            page=page,
            page_size=MAX_PAGE_SIZE,
        )
        listing = await _weborders(request, session, query)
        found = next((w for w in listing.items if w.weborder_id == weborder_id), None)
        if found is not None or page * MAX_PAGE_SIZE >= listing.total:
            return found
        page += 1


@router.get("/bestellingen/weborders/{weborder_id}/afkeuren", response_class=HTMLResponse)
async def confirm_reject(request: Request, weborder_id: UUID, session: PageSession) -> Response:
    """The row's "afkeuren" form GETs here with the reason: "Weet u het zeker?" naming the
    weborder and the reason (issue 14); this page's form posts the rejection."""
    own_school(session, Permission.APPROVE_WEBORDERS)
    reason = text(request.query_params, "reden")
    if problem := reason_error(reason, what="afkeuren"):
        return await _weborders_page(
            request,
            session,
            errors={"reden": problem},
            failed_id=str(weborder_id),
            status_code=422,
        )
    weborder = await _submitted(request, session, weborder_id)
    if weborder is None:  # decided meanwhile, or not this school's: the list shows its state
        return RedirectResponse("/bestellingen/weborders", status_code=303)
    params = {
        "activity": weborder.activity,
        "provider": weborder.provider_name,
        "amount_cents": weborder.amount_cents,
        "activity_date": weborder.activity_date.isoformat(),
        "reason": reason,
    }
    return confirm_page(
        request,
        consequences=[
            i18n.render("confirm.reject_weborder", params),
            i18n.render("confirm.reject_weborder.reason", params),
        ],
        confirm_label=i18n.gettext("confirm.reject_weborder.button"),
        back="/bestellingen/weborders",
        hidden={"reden": reason},
    )


@router.post("/bestellingen/weborders/{weborder_id}/afkeuren", response_class=HTMLResponse)
async def reject(request: Request, weborder_id: UUID, session: PageSession) -> Response:
    form = await checked_form(request)
    school_id = own_school(session, Permission.APPROVE_WEBORDERS)
    reason = text(form, "reden")
    command, errors = validated(
        DecideWeborder,
        {"school_id": school_id, "weborder_id": weborder_id, "approve": False, "reason": reason},
        {"reason": "reden"},
    )
    if problem := reason_error(reason, what="afkeuren"):
        errors = {"reden": problem}
    if command is None or errors:
        return await _weborders_page(
            request, session, errors=errors, failed_id=str(weborder_id), status_code=422
        )
    try:
        await usecase.decide(request, session.actor, command)
    except RpcFailed as exc:
        errors = service_errors(exc, {"reason": "reden"})
        return await _weborders_page(
            request,
            session,
            errors=errors,
            failed_id=str(weborder_id),
            status_code=refusal_status(exc),
        )
    return RedirectResponse("/bestellingen/weborders?gedaan=afgekeurd", status_code=303)


@router.post("/bestellingen/weborders/{weborder_id}/annuleren", response_class=HTMLResponse)
async def cancel_approval(request: Request, weborder_id: UUID, session: PageSession) -> Response:
    form = await checked_form(request)
    school_id = own_school(session, Permission.APPROVE_WEBORDERS)
    reason = text(form, "reden")
    command, errors = validated(
        CancelApproval,
        {"school_id": school_id, "weborder_id": weborder_id, "reason": reason},
        {"reason": "reden"},
    )
    if problem := reason_error(reason, what="annuleren"):
        errors = {"reden": problem}
    if command is None or errors:
        return await _weborders_page(
            request, session, errors=errors, failed_id=str(weborder_id), status_code=422
        )
    try:
        await usecase.cancel_approval(request, session.actor, command)
    except RpcFailed as exc:
        errors = service_errors(exc, {"reason": "reden"})
        return await _weborders_page(
            request,
            session,
            errors=errors,
            failed_id=str(weborder_id),
            status_code=refusal_status(exc),
        )
    return RedirectResponse("/bestellingen/weborders?gedaan=geannuleerd", status_code=303)


# --- Schooltoer (R-WEB-4) ----------------------------------------------------------------------
async def _schooltoer_orders(
    request: Request, session: SessionInfo, school_id: UUID
) -> list[SchooltoerOrder]:
    return await usecase.schooltoer_orders(request, session.actor, school_id)


def _schooltoer_outcome(order: SchooltoerOrder | None) -> tuple[str, str]:
    if order is None:
        return "", ""
    params = {
        "from_place": order.from_place,
        "to_place": order.to_place,
        "amount_cents": order.amount_cents,
        "reason": order.reason,
    }
    if order.status == WeborderStatus.APPROVED:
        return i18n.render("schooltoer_page.approved", params), ""
    if order.status == WeborderStatus.REFUSED:
        return "", i18n.render("schooltoer_page.refused", params)
    return i18n.render("schooltoer_page.approving", params), ""


async def _schooltoer_page(
    request: Request,
    session: SessionInfo,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    school_id = own_school(session, Permission.VIEW_SCHOOL)
    orders = await _schooltoer_orders(request, session, school_id)
    orders.sort(key=lambda o: o.created_at, reverse=True)
    notice, error = "", ""
    if just := request.query_params.get("bestelling"):
        notice, error = _schooltoer_outcome(
            next((o for o in orders if str(o.order_id) == just), None)
        )
    return render(
        request,
        "bestellingen_schooltoer.html",
        {
            "title": "Bestellingen: Schooltoer",
            "tabs": order_tabs(session, school_id),
            "tab": "/bestellingen/schooltoer",
            "orders": orders,
            "status_labels": STATUS_LABELS,
            "may_order": session.actor.may(Permission.APPROVE_WEBORDERS, school_id),
            "values": values or {"reizigers": "1"},
            "errors": errors or {},
            "euro": format_euro,
            "notice": notice,
            "error": error,
        },
        status_code=status_code,
    )


@router.get("/bestellingen/schooltoer", response_class=HTMLResponse)
async def schooltoer_page(request: Request, session: PageSession) -> Response:
    return await _schooltoer_page(request, session)


@router.post("/bestellingen/schooltoer", response_class=HTMLResponse)
async def order_schooltoer(request: Request, session: PageSession) -> Response:
    form = await checked_form(request)
    # Ordering tickets spends the collective balance: the budget holder only (R-ROLE-2).
    school_id = own_school(session, Permission.APPROVE_WEBORDERS)
    values = {name: text(form, name) for name in SCHOOLTOER_FIELDS.values()}
    command, errors = parse_schooltoer(form, school_id, backend.today(request))
    if command is None:
        return await _schooltoer_page(
            request, session, values=values, errors=errors, status_code=422
        )
    try:
        order = await usecase.order_schooltoer(request, session.actor, command)
    except RpcFailed as exc:
        errors = service_errors(exc, SCHOOLTOER_FIELDS)
        status = 422 if exc.error.code == ErrorCode.INVALID else 409
        return await _schooltoer_page(
            request, session, values=values, errors=errors, status_code=status
        )

    def pending(orders: list[SchooltoerOrder]) -> bool:
        return any(o.order_id == order.order_id and o.status == "in_behandeling" for o in orders)

    await settled(lambda: _schooltoer_orders(request, session, school_id), pending, SETTLE_SECONDS)
    return RedirectResponse(
        f"/bestellingen/schooltoer?bestelling={order.order_id}", status_code=303
    )


# --- Exports (R-WEB-5) -------------------------------------------------------------------------
@router.get("/bestellingen/exports", response_class=HTMLResponse)
async def exports_page(request: Request, session: PageSession) -> Response:
    school_id = own_school(session, Permission.VIEW_SCHOOL)
    return render(
        request,
        "bestellingen_exports.html",
        {
            "title": "Bestellingen: exports",
            "tabs": order_tabs(session, school_id),
            "tab": "/bestellingen/exports",
        },
    )


@router.get("/bestellingen/exports/bestedingen.xlsx")
async def download_export(request: Request, session: PageSession) -> Response:
    school_id = own_school(session, Permission.VIEW_SCHOOL)
    export = await usecase.spending_export(request, session.actor, school_id)
    return Response(
        export.content, media_type=XLSX, headers={"Content-Disposition": export.disposition()}
    )
