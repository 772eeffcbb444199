"""Menu Docenten+ (R-ROLE-2): the school's teachers with an active membership, and per teacher
whether they have Docent+ access, with "toegang geven" / "toegang intrekken".

The roster service owns the teachers (name, e-mail, status); the accounts service owns the
Docent+ accounts and checks again that the teacher's membership is active. Granting reads the
teacher's name and e-mail from the roster, so the budget holder types nothing.
"""

from __future__ import annotations

import asyncio
from uuid import UUID

from ck_contracts.accounts import SERVICE as ACCOUNTS
from ck_contracts.accounts import (
    DocentPlusAccess,
    DocentPlusGrant,
    DocentPlusList,
    DocentPlusRef,
    SessionInfo,
)
from ck_contracts.accounts import Ops as AccountsOps
from ck_contracts.bounds import MAX_PAGE, whole_number
from ck_contracts.roles import Permission
from ck_contracts.roster import (
    ListFilter,
    ListRequest,
    MembershipStatus,
    Person,
    PersonPage,
    PersonRef,
    RosterKind,
)
from ck_contracts.roster import Ops as RosterOps
from ck_contracts.rpc import ErrorCode
from ck_runtime.rpc_client import RpcFailed
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ck_gateway import backend
from ck_gateway.auth import PageSession
from ck_gateway.csrf_guard import checked_form
from ck_gateway.errors import GatewayError, forbidden
from ck_gateway.rendering import render
from ck_gateway.roster_views import page_count

router = APIRouter(include_in_schema=False)

PATH = "/docenten-plus"
PAGE_SIZE = 50
NO_EMAIL = (
    "Deze docent heeft geen e-mailadres in de docentenlijst (Beheer docenten). Docent+-toegang "
    "gaat per e-mail: zet eerst het e-mailadres van de docent in de docentenlijst."
)
NOT_A_TEACHER = "Deze persoon staat niet in de docentenlijst van uw school."
NOTICES = {
    "gegeven": "Docent+-toegang is gegeven. De docent krijgt een e-mail met een link om een "
    "wachtwoord in te stellen.",
    "ingetrokken": "Docent+-toegang is ingetrokken. De docent is direct uitgelogd en kan niet "
    "meer inloggen.",
}


# --- shared with the JSON API -----------------------------------------------------------------
def school_of(session: SessionInfo, school_id: UUID | None = None) -> UUID:
    """The school whose Docent+ access is managed (default: the user's own); 403 unless the
    role may manage Docent+ there (checked here, and again by the accounts service)."""
    school = school_id or session.actor.school_id
    if school is None or not session.actor.may(Permission.MANAGE_DOCENT_PLUS, school):
        raise forbidden()
    return school


async def docent_plus_list(
    request: Request, session: SessionInfo, school_id: UUID
) -> DocentPlusList:
    result = await backend.call(
        request,
        ACCOUNTS,
        AccountsOps.DOCENT_PLUS_LIST,
        {"school_id": str(school_id)},
        actor=session.actor,
    )
    return DocentPlusList.model_validate(result)


async def grant_access(
    request: Request, session: SessionInfo, school_id: UUID, person_id: UUID
) -> DocentPlusAccess:
    """Read the teacher from the roster, then ask accounts to grant. Raises GatewayError 422
    for a teacher without an e-mail address, RpcFailed for what the services refuse."""
    result = await backend.send(
        request,
        RosterOps.PERSON_GET,
        PersonRef(school_id=school_id, person_id=person_id),
        actor=session.actor,
    )
    person = Person.model_validate(result)
    if person.kind != RosterKind.TEACHERS:
        raise GatewayError(404, ErrorCode.NOT_FOUND, NOT_A_TEACHER)
    if not person.email:
        raise GatewayError(422, ErrorCode.INVALID, NO_EMAIL, {"email": NO_EMAIL})
    name = f"{person.voornaam} {person.achternaam}".strip() or person.email
    command = DocentPlusGrant(
        school_id=school_id, person_id=person_id, name=name[:200], email=person.email
    )
    granted = await backend.call(
        request, ACCOUNTS, AccountsOps.DOCENT_PLUS_GRANT, command, actor=session.actor
    )
    return DocentPlusAccess.model_validate(granted)


async def revoke_access(
    request: Request, session: SessionInfo, school_id: UUID, person_id: UUID
) -> None:
    await backend.call(
        request,
        ACCOUNTS,
        AccountsOps.DOCENT_PLUS_REVOKE,
        DocentPlusRef(school_id=school_id, person_id=person_id),
        actor=session.actor,
    )


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
            "notice": NOTICES.get(request.query_params.get("gedaan", ""), ""),
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
