"""Bestellingen > Budget toewijzen (R-BUDGET-6): the school's students with an active
membership, and the same amount of individual budget to each of those chosen (or to all
who match the filter)."""

from __future__ import annotations

from uuid import UUID

from ck_contracts.accounts import SessionInfo
from ck_contracts.bounds import MAX_PAGE, whole_number
from ck_contracts.budget import MAX_ALLOCATION_CENTS, MAX_ALLOCATION_STUDENTS
from ck_contracts.money import format_euro, parse_euro
from ck_contracts.roles import Permission
from ck_contracts.roster import ListFilter, ListRequest, MembershipStatus, RosterKind
from ck_contracts.roster import Ops as RosterOps
from ck_runtime.rpc_client import RpcFailed
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from ck_gateway import backend, i18n
from ck_gateway.auth import PageSession
from ck_gateway.budget_views import order_tabs, own_school
from ck_gateway.csrf_guard import checked_form
from ck_gateway.forms import GENERAL, search_term
from ck_gateway.rendering import render
from ck_gateway.routes.pages_budget_orders import service_errors
from ck_gateway.usecases import budget

router = APIRouter(include_in_schema=False)


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
    while len(ids) < MAX_ALLOCATION_STUDENTS:
        listing = ListRequest(
            school_id=school_id,
            kind=RosterKind.STUDENTS,
            filter=_active_students(achternaam),
            page=page,
            page_size=500,
        )
        found = await backend.send(request, RosterOps.LIST, listing, actor=session.actor)
        ids.extend(p.person_id for p in found.items)
        if len(found.items) < 500:
            break
        page += 1
    return ids[:MAX_ALLOCATION_STUDENTS]


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
    people = await backend.send(request, RosterOps.LIST, listing, actor=session.actor)
    ledger = await budget.ledger(request, session.actor, school_id)
    return render(
        request,
        "bestellingen_toewijzen.html",
        {
            "title": "Bestellingen: budget toewijzen",
            "tabs": order_tabs(session, school_id),
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
    if amount is None or amount <= 0 or amount > MAX_ALLOCATION_CENTS:
        errors["bedrag"] = i18n.gettext("budget.form.amount")
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
        errors[GENERAL] = i18n.gettext("budget.form.no_students")
    if errors or amount is None:
        return await _allocation_page(
            request, session, values=values, errors=errors, status_code=422
        )
    try:
        result = await budget.allocate(request, session.actor, school_id, ids, amount)
    except RpcFailed as exc:
        errors = service_errors(exc)
        return await _allocation_page(
            request, session, values=values, errors=errors, status_code=409
        )
    notice = i18n.render(
        "budget.allocated",
        {
            "allocated_cents": result.allocated_cents,
            "students": result.allocated_students,
            "assignable_cents": result.assignable_individual_cents,
        },
    )
    return await _allocation_page(request, session, values=values, notice=notice)
