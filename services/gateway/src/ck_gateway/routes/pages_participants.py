"""Issue 13 (weborder lifecycle) pages: "opnieuw goedkeuren" of a weborder the budget refused
for lack of balance, and Deelnemers: the budget holder marks which students took part in a
weborder, picked from the school's roster (R-DOSSIER-1).

The picker lists the roster's students (the roster service's list: filters on voornaam,
achternaam and klas, 50 per page, fast for 50,000) with a checkbox each, ticked for those
already marked. Saving sends that page's changes only (ticked -> add, shown and not ticked ->
remove), so the other pages' marks stay as they are and a big school works page by page.
"""

from __future__ import annotations

from urllib.parse import urlencode
from uuid import UUID

from ck_contracts.accounts import SessionInfo
from ck_contracts.roles import Permission
from ck_contracts.roster import ListFilter, ListRequest, RosterKind
from ck_contracts.roster import Ops as RosterOps
from ck_contracts.weborders import (
    MarkParticipants,
    ReapproveWeborder,
    SchoolWeborderRef,
    SchoolWeborders,
    WeborderStatus,
)
from ck_runtime.rpc_client import RpcFailed
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from ck_gateway import backend, i18n
from ck_gateway.auth import PageSession
from ck_gateway.budget_views import order_tabs, own_school
from ck_gateway.csrf_guard import checked_form
from ck_gateway.forms import GENERAL
from ck_gateway.rendering import render
from ck_gateway.routes.pages_weborders import (
    SETTLE_SECONDS,
    _weborders_page,
    refusal_status,
    service_errors,
    settled,
)
from ck_gateway.usecases import weborders as usecase
from ck_gateway.weborder_views import STATUS_LABELS, page_number, selected_ids, text

router = APIRouter(include_in_schema=False)

PICKER_PAGE_SIZE = 50
FILTERS = ("voornaam", "achternaam", "klas")
MARKABLE = {
    WeborderStatus.SUBMITTED,
    WeborderStatus.APPROVING,
    WeborderStatus.APPROVED,
    WeborderStatus.REFUSED,
}


@router.post("/bestellingen/weborders/{weborder_id}/opnieuw-goedkeuren")
async def reapprove(request: Request, weborder_id: UUID, session: PageSession) -> Response:
    """The same saga as goedkeuren, once more; the page then shows its outcome."""
    await checked_form(request)
    school_id = own_school(session, Permission.APPROVE_WEBORDERS)
    command = ReapproveWeborder(school_id=school_id, weborder_id=weborder_id)
    try:
        await usecase.reapprove(request, session.actor, command)
    except RpcFailed as exc:
        errors = service_errors(exc)
        return await _weborders_page(
            request, session, errors=errors, status_code=refusal_status(exc)
        )
    in_progress = SchoolWeborders(
        school_id=school_id, status=WeborderStatus.APPROVING, page_size=500
    )
    await settled(
        lambda: usecase.weborders(request, session.actor, in_progress),
        lambda page: any(w.weborder_id == weborder_id for w in page.items),
        SETTLE_SECONDS,
    )
    return RedirectResponse(f"/bestellingen/weborders?weborder={weborder_id}", status_code=303)


def _filters(source: FormData | dict[str, str]) -> dict[str, str]:
    return {name: str(source.get(name) or "").strip()[:100] for name in FILTERS}


def _picker_url(weborder_id: UUID, filters: dict[str, str], page: int, done: bool) -> str:
    query = {k: v for k, v in filters.items() if v}
    if page > 1:
        query["pagina"] = str(page)
    if done:
        query["gedaan"] = "deelnemers"
    tail = f"?{urlencode(query)}" if query else ""
    return f"/bestellingen/weborders/{weborder_id}/deelnemers{tail}"


async def _participants_page(
    request: Request,
    session: SessionInfo,
    weborder_id: UUID,
    filters: dict[str, str],
    page: int,
    *,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    school_id = own_school(session, Permission.APPROVE_WEBORDERS)
    weborder = await usecase.weborder(
        request, session.actor, SchoolWeborderRef(school_id=school_id, weborder_id=weborder_id)
    )
    listing = await backend.send(
        request,
        RosterOps.LIST,
        ListRequest(
            school_id=school_id,
            kind=RosterKind.STUDENTS,
            filter=ListFilter(**filters),
            page=page,
            page_size=PICKER_PAGE_SIZE,
        ),
        actor=session.actor,
    )
    pages = max(1, -(-listing.total // PICKER_PAGE_SIZE))
    marked = {str(pid) for pid in weborder.participant_ids}
    notice = ""
    if request.query_params.get("gedaan") == "deelnemers":
        notice = i18n.render("participants_page.saved", {"count": len(marked)})
    return render(
        request,
        "bestellingen_deelnemers.html",
        {
            "title": "Bestellingen: deelnemers",
            "tabs": order_tabs(session, school_id),
            "tab": "/bestellingen/weborders",
            "weborder": weborder,
            "status_labels": STATUS_LABELS,
            "markable": weborder.status in MARKABLE,
            "people": listing.items,
            "total": listing.total,
            "marked": marked,
            "filters": filters,
            "page": page,
            "pages": pages,
            "query": urlencode({k: v for k, v in filters.items() if v}),
            "notice": notice,
            "errors": errors or {},
        },
        status_code=status_code,
    )


@router.get("/bestellingen/weborders/{weborder_id}/deelnemers", response_class=HTMLResponse)
async def participants_page(request: Request, weborder_id: UUID, session: PageSession) -> Response:
    filters = _filters(dict(request.query_params))
    page = page_number(request.query_params.get("pagina"))
    return await _participants_page(request, session, weborder_id, filters, page)


@router.post("/bestellingen/weborders/{weborder_id}/deelnemers", response_class=HTMLResponse)
async def save_participants(request: Request, weborder_id: UUID, session: PageSession) -> Response:
    form = await checked_form(request)
    school_id = own_school(session, Permission.APPROVE_WEBORDERS)
    filters = _filters(form)
    page = page_number(text(form, "pagina"))
    shown = selected_ids([v for v in form.getlist("getoond") if isinstance(v, str)])
    ticked = selected_ids([v for v in form.getlist("deelnemer") if isinstance(v, str)])
    if shown is None or ticked is None:
        errors = {GENERAL: i18n.render("participants_page.tampered")}
        return await _participants_page(
            request, session, weborder_id, filters, page, errors=errors, status_code=422
        )
    command = MarkParticipants(
        school_id=school_id,
        weborder_id=weborder_id,
        add=ticked,
        remove=[pid for pid in shown if pid not in set(ticked)],
    )
    try:
        await usecase.mark_participants(request, session.actor, command)
    except RpcFailed as exc:
        errors = {GENERAL: exc.error.message}
        service_errors(exc)  # anything but a refusal goes to the error page
        return await _participants_page(
            request,
            session,
            weborder_id,
            filters,
            page,
            errors=errors,
            status_code=422 if exc.error.code == "invalid" else refusal_status(exc),
        )
    return RedirectResponse(_picker_url(weborder_id, filters, page, done=True), status_code=303)
