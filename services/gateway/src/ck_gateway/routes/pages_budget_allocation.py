"""Bestellingen > Budget toewijzen (R-BUDGET-6): the school's students with, per student, the
individual budget assigned, spent with the CJP card and left (issue 14); filters like the
people list (every column and the status); the same amount of individual budget to each of
those chosen (or to all who match the filter), after a confirmation that shows the totals of
the selection; and the allocations as an Excel export.

Names stay in the roster and amounts in the budget service: the page joins them by person id
(a page of the list at a time; the export and "everyone matching" page through the list).
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from ck_contracts.accounts import SessionInfo
from ck_contracts.budget import MAX_ALLOCATION_CENTS, MAX_ALLOCATION_STUDENTS, StudentBudget
from ck_contracts.money import format_euro, parse_euro
from ck_contracts.roles import Permission
from ck_contracts.roster import MembershipStatus, Person
from ck_contracts.roster import Ops as RosterOps
from ck_runtime.rpc_client import RpcFailed
from ck_runtime.spreadsheets import cell_text
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from starlette.datastructures import FormData

from ck_gateway import backend, i18n
from ck_gateway.auth import PageSession
from ck_gateway.budget_views import order_tabs, own_school
from ck_gateway.csrf_guard import checked_form
from ck_gateway.forms import GENERAL
from ck_gateway.rendering import render
from ck_gateway.roster_views import STATUS_LABELS, STUDENTS, ListQuery, parse_list_query
from ck_gateway.routes.pages_budget_orders import service_errors
from ck_gateway.usecases import budget

router = APIRouter(include_in_schema=False)

PATH = "/bestellingen/toewijzen"
PAGE_SIZE = 100
LIST_BATCH = 500  # the roster's largest page
EVERYONE = "ja"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
NOTHING = StudentBudget(person_id=UUID(int=0), allocated_cents=0, spent_cents=0, left_cents=0)


def allocation_query(school_id: UUID, params: Any, page_size: int = PAGE_SIZE) -> ListQuery:
    """The people list's filters (every column, the status, sort, page) over the students.
    Without any status asked for, the list shows students with an active membership: the
    only ones budget can be assigned to (others are shown when their status is chosen, for
    what they were assigned and spent)."""
    query = parse_list_query(STUDENTS, school_id, params, page_size=page_size)
    if not query.statuses and not params.getlist("status"):
        query.statuses = [MembershipStatus.ACTIVE.value]
        query.request.filter.statuses = [MembershipStatus.ACTIVE]
    return query


def _hidden_query(query: ListQuery) -> list[tuple[str, str]]:
    """The list's filter as hidden fields of the allocation forms ("everyone matching")."""
    pairs = [(k, v) for k, v in query.values.items() if v]
    return pairs + [("status", s) for s in query.statuses]


async def _matching(
    request: Request, session: SessionInfo, query: ListQuery, limit: int
) -> list[Person]:
    """Everyone matching the filter, however many pages: the roster's list, 500 at a time."""
    people: list[Person] = []
    page = 1
    while len(people) < limit:
        listing = query.request.model_copy(update={"page": page, "page_size": LIST_BATCH})
        found = await backend.send(request, RosterOps.LIST, listing, actor=session.actor)
        people.extend(found.items)
        if len(found.items) < LIST_BATCH:
            break
        page += 1
    return people[:limit]


async def _figures(
    request: Request, session: SessionInfo, school_id: UUID, ids: list[UUID]
) -> dict[UUID, StudentBudget]:
    if not ids:
        return {}
    found = await budget.student_budgets(request, session.actor, school_id, ids)
    return {item.person_id: item for item in found.items}


@dataclass
class Totals:
    students: int = 0
    allocated_cents: int = 0
    spent_cents: int = 0
    left_cents: int = 0


def totals(figures: Mapping[UUID, StudentBudget], ids: list[UUID]) -> Totals:
    out = Totals(students=len(ids))
    for person_id in ids:
        item = figures.get(person_id, NOTHING)
        out.allocated_cents += item.allocated_cents
        out.spent_cents += item.spent_cents
        out.left_cents += item.left_cents
    return out


async def _allocation_page(
    request: Request,
    session: SessionInfo,
    *,
    params: Any = None,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    ticked: list[str] | None = None,
    notice: str = "",
    status_code: int = 200,
) -> Response:
    school_id = own_school(session, Permission.ASSIGN_BUDGET)
    query = allocation_query(school_id, params if params is not None else request.query_params)
    people = await backend.send(request, RosterOps.LIST, query.request, actor=session.actor)
    figures = await _figures(request, session, school_id, [p.person_id for p in people.items])
    ledger = await budget.ledger(request, session.actor, school_id)
    pages = max(1, -(-people.total // PAGE_SIZE))
    return render(
        request,
        "bestellingen_toewijzen.html",
        {
            "title": "Bestellingen: budget toewijzen",
            "tabs": order_tabs(session, school_id),
            "tab": PATH,
            "page": STUDENTS,
            "query": query,
            "list_path": PATH,
            "hidden_query": _hidden_query(query),
            "export_link": f"{PATH}/export.xlsx?{urlencode(_hidden_query(query))}",
            "status_labels": STATUS_LABELS,
            "people": people,
            "pages": pages,
            "figures": figures,
            "nothing": NOTHING,
            "page_totals": totals(figures, [p.person_id for p in people.items]),
            "ledger": ledger,
            "values": values or {"bedrag": "10,50"},
            "errors": errors or {},
            "ticked": set(ticked or []),
            "notice": notice,
            "euro": format_euro,
        },
        status_code=status_code,
    )


@router.get(PATH, response_class=HTMLResponse)
async def allocation_form(request: Request, session: PageSession) -> Response:
    return await _allocation_page(request, session)


@dataclass
class Selection:
    """What the allocation form asks for: the amount and whom, or its errors (all at once)."""

    values: dict[str, str]
    amount: int | None
    ids: list[UUID]
    everyone: bool
    ticked: list[str]
    errors: dict[str, str]


async def _selection(
    request: Request, session: SessionInfo, school_id: UUID, form: FormData
) -> Selection:
    values = {"bedrag": str(form.get("bedrag", "") or "")}
    errors: dict[str, str] = {}
    amount = parse_euro(values["bedrag"])
    if amount is None or amount <= 0 or amount > MAX_ALLOCATION_CENTS:
        errors["bedrag"] = i18n.gettext("budget.form.amount")
        amount = None
    everyone = form.get("iedereen") == EVERYONE
    ids: list[UUID] = []
    ticked: list[str] = []
    if everyone:
        query = allocation_query(school_id, form)
        ids = [
            p.person_id for p in await _matching(request, session, query, MAX_ALLOCATION_STUDENTS)
        ]
    else:
        for raw in form.getlist("persoon"):
            try:
                ids.append(UUID(str(raw)))
            except ValueError:
                continue
        ids = list(dict.fromkeys(ids))[:MAX_ALLOCATION_STUDENTS]
        ticked = [str(i) for i in ids]
    if not ids:
        errors[GENERAL] = i18n.gettext("budget.form.no_students")
    return Selection(values, amount, ids, everyone, ticked, errors)


def _form_params(form: FormData) -> list[tuple[str, str]]:
    """The list's filter as the form carried it (hidden fields), to show the list again."""
    names = set(STUDENTS.filter_names) | {"status", "sort", "richting", "pagina"}
    return [(k, str(v)) for k, v in form.multi_items() if k in names and isinstance(v, str)]


class _Params:
    """A list of pairs with the getlist/get of a query string (what parse_list_query reads)."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.pairs = pairs

    def get(self, name: str, default: str = "") -> str:
        return next((v for k, v in self.pairs if k == name), default)

    def getlist(self, name: str) -> list[str]:
        return [v for k, v in self.pairs if k == name]


@router.post(PATH, response_class=HTMLResponse)
async def check_allocation(request: Request, session: PageSession) -> Response:
    """Step one: the totals of the selection (students, amount each, total, what they have
    now, what is assignable before and after) before anything is assigned."""
    form = await checked_form(request)
    school_id = own_school(session, Permission.ASSIGN_BUDGET)
    chosen = await _selection(request, session, school_id, form)
    params = _Params(_form_params(form))
    if chosen.errors or chosen.amount is None:
        return await _allocation_page(
            request,
            session,
            params=params,
            values=chosen.values,
            errors=chosen.errors,
            ticked=chosen.ticked,
            status_code=422,
        )
    figures = await _figures(request, session, school_id, chosen.ids)
    ledger = await budget.ledger(request, session.actor, school_id)
    total = chosen.amount * len(chosen.ids)
    query = allocation_query(school_id, params)
    return render(
        request,
        "bestellingen_toewijzen_controleren.html",
        {
            "title": "Bestellingen: budget toewijzen controleren",
            "tabs": order_tabs(session, school_id),
            "tab": PATH,
            "values": chosen.values,
            "everyone": chosen.everyone,
            "ticked": chosen.ticked,
            "hidden_query": _hidden_query(query),
            "selection": totals(figures, chosen.ids),
            "amount_cents": chosen.amount,
            "total_cents": total,
            "assignable_cents": ledger.assignable_individual_cents,
            "after_cents": ledger.assignable_individual_cents - total,
            "euro": format_euro,
        },
    )


@router.post(f"{PATH}/bevestigen", response_class=HTMLResponse)
async def allocate(request: Request, session: PageSession) -> Response:
    """Step two: the confirmed allocation. "Everyone matching" is looked up again: the list
    may have changed in between, and the service checks every student once more."""
    form = await checked_form(request)
    school_id = own_school(session, Permission.ASSIGN_BUDGET)
    chosen = await _selection(request, session, school_id, form)
    params = _Params(_form_params(form))
    if chosen.errors or chosen.amount is None:
        return await _allocation_page(
            request,
            session,
            params=params,
            values=chosen.values,
            errors=chosen.errors,
            ticked=chosen.ticked,
            status_code=422,
        )
    try:
        result = await budget.allocate(request, session.actor, school_id, chosen.ids, chosen.amount)
    except RpcFailed as exc:
        return await _allocation_page(
            request,
            session,
            params=params,
            values=chosen.values,
            errors=service_errors(exc),
            ticked=chosen.ticked,
            status_code=409,
        )
    notice = i18n.render(
        "budget.allocated",
        {
            "allocated_cents": result.allocated_cents,
            "students": result.allocated_students,
            "assignable_cents": result.assignable_individual_cents,
        },
    )
    return await _allocation_page(
        request, session, params=params, values=chosen.values, notice=notice
    )


# --- the export -----------------------------------------------------------------------------------
EXPORT_COLUMNS = (
    ("voornaam", "Voornaam"),
    ("achternaam", "Achternaam"),
    ("email", "E-mail"),
    ("studiejaar", "Leerjaar"),
    ("klas", "Klas"),
    ("opleiding", "Opleiding"),
    ("locatienaam", "Locatie"),
    ("status", "Status"),
)
MONEY_COLUMNS = ("Toegewezen", "Besteed", "Over")
EURO_FORMAT = '"€" #,##0.00'


def allocations_xlsx(people: list[Person], figures: Mapping[UUID, StudentBudget]) -> bytes:
    """The students with their figures in euros (numbers, formatted as money: a school can
    add them up), a total row at the bottom; text cells made safe (cell_text)."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet("Budget toewijzen")
    sheet.freeze_panes = "A2"
    sheet.append([label for _, label in EXPORT_COLUMNS] + list(MONEY_COLUMNS))
    sums = [0, 0, 0]
    for person in people:
        item = figures.get(person.person_id, NOTHING)
        row: list[Any] = []
        for name, _ in EXPORT_COLUMNS:
            value = getattr(person, name)
            if name == "status":
                value = STATUS_LABELS.get(MembershipStatus(value), str(value))
            row.append(cell_text(value) if isinstance(value, str) else value)
        cents = (item.allocated_cents, item.spent_cents, item.left_cents)
        sums = [a + b for a, b in zip(sums, cents, strict=True)]
        sheet.append(row + [_euro_cell(sheet, c) for c in cents])
    total_row: list[Any] = ["Totaal"] + [None] * (len(EXPORT_COLUMNS) - 1)
    sheet.append(total_row + [_euro_cell(sheet, c) for c in sums])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _euro_cell(sheet: Any, cents: int) -> Any:
    cell = WriteOnlyCell(sheet, value=cents / 100)
    cell.number_format = EURO_FORMAT
    return cell


@router.get(f"{PATH}/export.xlsx")
async def export_allocations(request: Request, session: PageSession) -> Response:
    """Every student matching the page's filter (all pages) with assigned, spent and left."""
    school_id = own_school(session, Permission.ASSIGN_BUDGET)
    query = allocation_query(school_id, request.query_params)
    people = await _matching(request, session, query, MAX_ALLOCATION_STUDENTS)
    figures = await _figures(request, session, school_id, [p.person_id for p in people])
    content = allocations_xlsx(people, figures)
    day = backend.today(request)
    filename = f"budget_toewijzingen_{session.school_number or 'school'}_{day:%Y-%m-%d}.xlsx"
    return Response(
        content,
        media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
