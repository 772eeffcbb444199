"""Menu Docenten+ (R-ROLE-2): the school's teachers with an active membership, and per teacher
whether they have Docent+ access, with "toegang geven" / "toegang intrekken". The use cases
(shared with the JSON API) are in ck_gateway.usecases.docent_plus.
"""

from __future__ import annotations

import asyncio
from uuid import UUID

from ck_contracts.accounts import AccountsReason, SessionInfo
from ck_contracts.bounds import MAX_PAGE, whole_number
from ck_contracts.roster import (
    ListFilter,
    ListRequest,
    MembershipStatus,
    PersonPage,
    RosterKind,
)
from ck_contracts.roster import Ops as RosterOps
from ck_contracts.rpc import ErrorCode
from ck_runtime.rpc_client import RpcFailed
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ck_gateway import backend, i18n
from ck_gateway.auth import PageSession
from ck_gateway.confirm import confirm_page
from ck_gateway.csrf_guard import checked_form
from ck_gateway.errors import GatewayError
from ck_gateway.rendering import render
from ck_gateway.roster_views import page_count
from ck_gateway.usecases.docent_plus import (
    docent_plus_list,
    grant_access,
    revoke_access,
    school_of,
)

router = APIRouter(include_in_schema=False)

PATH = "/docenten-plus"
PAGE_SIZE = 50
# ?gedaan=... after a change: the catalogue's notice for it ("# === gateway pages and forms").
NOTICES = {
    "gegeven": "docent_plus.notice.granted",
    "ingetrokken": "docent_plus.notice.revoked",
}


def _notice(request: Request) -> str:
    msgid = NOTICES.get(request.query_params.get("gedaan", ""))
    return i18n.render(msgid) if msgid else ""


# --- the page ---------------------------------------------------------------------------------
def _page_number(request: Request) -> int:
    raw = request.query_params.get("pagina", "1")
    return whole_number(raw, low=1, high=MAX_PAGE) or 1


async def _show(
    request: Request,
    session: SessionInfo,
    *,
    page: int = 1,
    error: str = "",
    status_code: int = 200,
) -> Response:
    school_id = school_of(session)
    teachers_query = ListRequest(
        school_id=school_id,
        kind=RosterKind.TEACHERS,
        filter=ListFilter(statuses=[MembershipStatus.ACTIVE]),
        sort="achternaam",
        page=page,
        page_size=PAGE_SIZE,
    )
    listed, accesses = await asyncio.gather(
        backend.send(request, RosterOps.LIST, teachers_query, actor=session.actor),
        docent_plus_list(request, session, school_id),
    )
    teachers = PersonPage.model_validate(listed)
    granted = {str(a.person_id): a.granted_at.strftime("%d-%m-%Y") for a in accesses.items}
    pages = page_count(teachers.total, teachers.page_size)
    return render(
        request,
        "docent_plus.html",
        {
            "title": "Docenten+",
            "teachers": teachers,
            "granted": granted,
            "granted_count": len(accesses.items),
            "pages": pages,
            "previous_link": f"{PATH}?pagina={page - 1}" if page > 1 else "",
            "next_link": f"{PATH}?pagina={page + 1}" if page < pages else "",
            "notice": _notice(request),
            "error": error,
            "path": PATH,
        },
        status_code=status_code,
    )


@router.get(PATH, response_class=HTMLResponse)
async def docent_plus_page(request: Request, session: PageSession) -> Response:
    return await _show(request, session, page=_page_number(request))


@router.post(PATH + "/{person_id}/toegang-geven", response_class=HTMLResponse)
async def grant_page(request: Request, person_id: UUID, session: PageSession) -> Response:
    await checked_form(request)
    school_id = school_of(session)
    try:
        await grant_access(request, session, school_id, person_id)
    except GatewayError as exc:
        if exc.status not in (404, 422):
            raise
        return await _show(request, session, error=exc.message, status_code=exc.status)
    except RpcFailed as exc:
        if exc.error.code not in (ErrorCode.CONFLICT, ErrorCode.INVALID, ErrorCode.NOT_FOUND):
            raise
        status = 409 if exc.error.code == ErrorCode.CONFLICT else 422
        if exc.error.code == ErrorCode.NOT_FOUND:
            status = 404
        return await _show(request, session, error=exc.error.message, status_code=status)
    return RedirectResponse(f"{PATH}?gedaan=gegeven", status_code=303)


@router.get(PATH + "/{person_id}/toegang-intrekken", response_class=HTMLResponse)
async def confirm_revoke_page(request: Request, person_id: UUID, session: PageSession) -> Response:
    """ "Weet u het zeker?" naming the teacher (issue 14); the page's form posts the revocation."""
    school_id = school_of(session)
    accesses = await docent_plus_list(request, session, school_id)
    access = next((a for a in accesses.items if a.person_id == person_id), None)
    if access is None:  # nothing to revoke (already revoked, or not this school's teacher)
        message = i18n.render(AccountsReason.NO_DOCENT_PLUS_ACCESS)
        return await _show(request, session, error=message, status_code=404)
    return confirm_page(
        request,
        consequences=[i18n.render("confirm.revoke_docent_plus", {"name": access.name})],
        confirm_label=i18n.gettext("confirm.revoke_docent_plus.button"),
        back=PATH,
    )


@router.post(PATH + "/{person_id}/toegang-intrekken", response_class=HTMLResponse)
async def revoke_page(request: Request, person_id: UUID, session: PageSession) -> Response:
    await checked_form(request)
    school_id = school_of(session)
    try:
        await revoke_access(request, session, school_id, person_id)
    except RpcFailed as exc:
        # Nothing matched: no Docent+ account of this teacher at this school (another school's
        # person id, or already revoked by a second click or the membership's end). The page
        # says so with 404 and never that access was revoked.
        if exc.error.code != ErrorCode.NOT_FOUND:
            raise
        return await _show(request, session, error=exc.error.message, status_code=404)
    return RedirectResponse(f"{PATH}?gedaan=ingetrokken", status_code=303)
