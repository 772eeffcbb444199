"""Producten: ordering the Cultuurkaart budget (R-BUDGET-2..4): the order form with its
yellow block, checking and placing an order (or Bijbestellen), changing and cancelling it
within the objection period.

The budget service checks every rule again (the counts with the same reason as this form);
the gateway checks the role first and shows the service's answers in Dutch.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from ck_contracts.accounts import School, SessionInfo
from ck_contracts.bounds import whole_number
from ck_contracts.budget import MAX_STUDENTS, BudgetReason, Order, OrderCounts, OrderStatus
from ck_contracts.money import format_euro
from ck_contracts.roles import Permission
from ck_contracts.rpc import ErrorCode
from ck_runtime.rpc_client import RpcFailed
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from ck_gateway import i18n
from ck_gateway.auth import PageSession
from ck_gateway.budget_views import STATUS_LABELS, notice, own_school
from ck_gateway.confirm import confirm_page
from ck_gateway.csrf_guard import checked_form
from ck_gateway.forms import GENERAL, validated
from ck_gateway.rendering import amsterdam, render
from ck_gateway.usecases import budget
from ck_gateway.usecases.schools import get_school

router = APIRouter(include_in_schema=False)


def parse_counts(form: FormData | dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The order form's fields -> (OrderCounts fields, Dutch errors by field)."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name in ("collectief", "individueel"):
        number = whole_number(str(form.get(name, "") or "0"), low=0, high=MAX_STUDENTS)
        if number is None:
            errors[name] = i18n.gettext("budget.form.count")
        else:
            values[name] = number
    if not errors and values["collectief"] == 0 and values["individueel"] == 0:
        errors[GENERAL] = i18n.render(BudgetReason.ORDER_EMPTY)  # the service's rule too
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


def service_errors(exc: RpcFailed) -> dict[str, str]:
    """The budget service's refusal by form field (a conflict as the form's general message)."""
    if exc.error.code not in (ErrorCode.INVALID, ErrorCode.CONFLICT):
        raise exc
    names = {"collective_students": "collectief", "individual_students": "individueel"}
    errors = {names.get(k, k): v for k, v in (exc.error.fields or {}).items()}
    if not errors or exc.error.code == ErrorCode.CONFLICT:
        errors[GENERAL] = exc.error.message
    return errors


def starting_collective(first_order: bool, budget_duo: int | None, school: School) -> int:
    """The collective count the form starts with: on the first order the school's DUO student
    count (as budget last heard it, else as accounts has it); a Bijbestellen starts at 0 (the
    DUO count is already ordered, offering it again would order it twice)."""
    if not first_order:
        return 0
    count = budget_duo if budget_duo is not None else school.duo_student_count
    return min(max(count, 0), MAX_STUDENTS)


async def _order_page(
    request: Request,
    session: SessionInfo,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    school_id = own_school(session, Permission.ORDER_BUDGET)
    form = await budget.order_form(request, session.actor, school_id)
    orders = await budget.orders(request, session.actor, school_id)
    if values is None:
        # The default reference is a school setting (Instellingen), kept by accounts.
        school = await get_school(request, session, school_id)
        reference = form.default_reference or school.default_order_reference
        values = {
            "collectief": str(
                starting_collective(form.first_order, form.duo_student_count, school)
            ),
            "individueel": "0",
            "referentie": reference,
        }
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
            "notice": notice(request.query_params.get("gedaan", "")),
        },
        status_code=status_code,
    )


@router.get("/producten", response_class=HTMLResponse)
async def order_form(request: Request, session: PageSession) -> Response:
    return await _order_page(request, session)


@router.post("/producten/controleren", response_class=HTMLResponse)
async def check_order(request: Request, session: PageSession) -> Response:
    """Step 4 of the manual: the school checks the counts and the amounts, then confirms."""
    form = await checked_form(request)
    school_id = own_school(session, Permission.ORDER_BUDGET)
    counts, errors = parse_counts(form)
    values = _form_values(form)
    if errors:
        return await _order_page(request, session, values=values, errors=errors, status_code=422)
    quote = await budget.quote(
        request,
        session.actor,
        school_id,
        OrderCounts(
            collective_students=counts["collective_students"],
            individual_students=counts["individual_students"],
        ),
    )
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
            command = OrderCounts.model_validate(counts)
            if order_id:
                await budget.change_order(
                    request, session.actor, school_id, UUID(order_id), command
                )
                done = "gewijzigd"
            else:
                await budget.place_order(request, session.actor, school_id, command)
                done = "besteld"
            return RedirectResponse(f"/producten?gedaan={done}", status_code=303)
        except ValueError:
            errors[GENERAL] = i18n.render(BudgetReason.UNKNOWN_ORDER)
        except RpcFailed as exc:
            errors = service_errors(exc)
    return await _order_page(request, session, values=values, errors=errors, status_code=422)


@router.get("/producten/bestellingen/{order_id}/wijzigen", response_class=HTMLResponse)
async def change_order_form(request: Request, order_id: UUID, session: PageSession) -> Response:
    school_id = own_school(session, Permission.ORDER_BUDGET)
    orders = await budget.orders(request, session.actor, school_id)
    order = next((o for o in orders.items if o.order_id == order_id), None)
    if order is None or order.status != OrderStatus.IN_OBJECTION_PERIOD:
        return RedirectResponse("/producten", status_code=303)
    form = await budget.order_form(request, session.actor, school_id)
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


def confirm_cancel(request: Request, order: Order | None, back: str) -> Response:
    """ "Weet u het zeker?" for cancelling a budget order (issue 14), naming the order; an order
    that is gone or past its objection period goes back to the list (the POST would refuse)."""
    if order is None or order.status != OrderStatus.IN_OBJECTION_PERIOD:
        return RedirectResponse(back, status_code=303)
    params = {
        "placed": amsterdam(order.placed_at),
        "reference": order.reference or "-",
        "collective": order.collective_students,
        "individual": order.individual_students,
        "amount_cents": order.quote.invoice_total_cents,
    }
    return confirm_page(
        request,
        consequences=[i18n.render("confirm.cancel_order", params)],
        confirm_label=i18n.gettext("confirm.cancel_order.button"),
        back=back,
    )


@router.get("/producten/bestellingen/{order_id}/annuleren", response_class=HTMLResponse)
async def confirm_cancel_order(request: Request, order_id: UUID, session: PageSession) -> Response:
    school_id = own_school(session, Permission.ORDER_BUDGET)
    orders = await budget.orders(request, session.actor, school_id)
    order = next((o for o in orders.items if o.order_id == order_id), None)
    return confirm_cancel(request, order, "/producten")


@router.post("/producten/bestellingen/{order_id}/annuleren", response_class=HTMLResponse)
async def cancel_order(request: Request, order_id: UUID, session: PageSession) -> Response:
    await checked_form(request)
    school_id = own_school(session, Permission.ORDER_BUDGET)
    try:
        await budget.cancel_order(request, session.actor, school_id, order_id)
    except RpcFailed as exc:
        errors = service_errors(exc)
        return await _order_page(request, session, errors=errors, status_code=409)
    return RedirectResponse("/producten?gedaan=geannuleerd", status_code=303)
