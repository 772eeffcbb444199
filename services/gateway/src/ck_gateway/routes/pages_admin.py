"""CJP admin pages (R-ROLE-4): every school, and registering a new one."""

from __future__ import annotations

from ck_contracts.accounts import RegisterSchool
from ck_contracts.rpc import ErrorCode
from ck_runtime.rpc_client import RpcFailed
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from ck_gateway.auth import PageSession
from ck_gateway.csrf_guard import checked_form
from ck_gateway.forms import (
    GENERAL,
    also_checked,
    form_errors,
    parse_register_form,
    school_input_check,
)
from ck_gateway.rendering import render
from ck_gateway.usecases import schools as usecases

router = APIRouter(prefix="/beheer/scholen", include_in_schema=False)


@router.get("", response_class=HTMLResponse)
async def schools(request: Request, session: PageSession) -> Response:
    rows = await usecases.list_schools(request, session)
    return render(request, "admin_schools.html", {"title": "Scholen", "schools": rows})


@router.get("/nieuw", response_class=HTMLResponse)
async def new_school_form(request: Request, session: PageSession) -> Response:
    usecases.require_admin(session)
    return render(request, "admin_register.html", {"title": "School registreren"})


@router.post("/nieuw", response_class=HTMLResponse)
async def register_school(request: Request, session: PageSession) -> Response:
    form = await checked_form(request)
    usecases.require_admin(session)
    parsed = parse_register_form(form)
    status = 422
    if not parsed.ok:  # refused here: accounts' format rules too, in the same round
        check = usecases.check_school_input(request, session, school_input_check(parsed))
        parsed.errors = await also_checked(parsed.errors, check, form_errors)
    else:
        try:
            command = RegisterSchool.model_validate(parsed.payload)
            registered = await usecases.register_school(request, session, command)
            return render(
                request,
                "admin_registered.html",
                {
                    "title": "School geregistreerd",
                    "registered": registered,
                    "school_name": parsed.values["name"].strip(),
                    "budget_holder_email": parsed.values["budget_holder_email"].strip(),
                },
                status_code=201,
            )
        except RpcFailed as exc:
            if exc.error.code not in (ErrorCode.INVALID, ErrorCode.CONFLICT):
                raise
            status = 409 if exc.error.code == ErrorCode.CONFLICT else 422
            parsed.errors = form_errors(exc.error.fields)
            if exc.error.code == ErrorCode.CONFLICT or not parsed.errors:
                parsed.errors[GENERAL] = exc.error.message  # e.g. "account already exists"
    return render(
        request,
        "admin_register.html",
        {"title": "School registreren", "values": parsed.values, "errors": parsed.errors},
        status_code=status,
    )
