"""The school's pages: home, Instellingen (R-SCHOOL-1), Support, and the menu's other parts."""

from __future__ import annotations

import contextlib
from uuid import UUID

from ck_contracts.accounts import School, SchoolSettings, SessionInfo
from ck_contracts.roles import Role
from ck_contracts.rpc import ErrorCode
from ck_runtime.rpc_client import RpcFailed, ServiceUnavailable
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ck_gateway.auth import PageSession, page_session
from ck_gateway.csrf_guard import checked_form
from ck_gateway.errors import forbidden
from ck_gateway.forms import (
    GENERAL,
    also_checked,
    form_errors,
    parse_settings_form,
    school_input_check,
    settings_values,
)
from ck_gateway.menu import settings_editable
from ck_gateway.rendering import render
from ck_gateway.usecases.schools import check_school_input, get_school, update_settings

router = APIRouter(include_in_schema=False)

HELP_URL = "https://www.cjp.nl/mbo-cultuurkaart"
SUPPORT_URL = "https://support.cjp.nl"


@router.get("/", response_class=HTMLResponse)
async def home(request: Request, session: PageSession) -> Response:
    if session.actor.role is Role.PROVIDER:  # issue 13: a provider user's home is its portal
        return RedirectResponse("/aanbieder", status_code=303)
    return render(request, "home.html", {"title": "Home"})


@router.get("/support", response_class=HTMLResponse)
async def support(request: Request) -> Response:
    # Support stays readable while accounts is down; logged in, it shows the school number.
    with contextlib.suppress(ServiceUnavailable):
        await page_session(request)
    return render(
        request,
        "support.html",
        {"title": "Support", "help_url": HELP_URL, "support_url": SUPPORT_URL},
    )


# --- Instellingen ------------------------------------------------------------------------------
def _settings_path(session: SessionInfo, school_id: UUID) -> str:
    if session.actor.school_id == school_id:
        return "/instellingen"
    return f"/scholen/{school_id}/instellingen"


async def _show_settings(request: Request, session: SessionInfo, school_id: UUID) -> Response:
    school: School = await get_school(request, session, school_id)
    return render(
        request,
        "settings.html",
        {
            "title": "Instellingen",
            "school": school,
            "values": settings_values(school.model_dump(mode="json")),
            "editable": settings_editable(session.actor, school_id),
            "saved": request.query_params.get("opgeslagen") == "1",
            "action": _settings_path(session, school_id),
        },
    )


async def _save_settings(request: Request, session: SessionInfo, school_id: UUID) -> Response:
    form = await checked_form(request)
    # Checked here before the command goes out; accounts checks again.
    if not settings_editable(session.actor, school_id):
        raise forbidden()
    parsed = parse_settings_form(form)
    action = _settings_path(session, school_id)
    if not parsed.ok:  # refused here: accounts' format rules too, in the same round
        rows = parsed.contact_rows
        parsed.errors = await also_checked(
            parsed.errors,
            check_school_input(request, session, school_input_check(parsed)),
            lambda fields: form_errors(fields, rows),
        )
    else:
        try:
            settings = SchoolSettings.model_validate(parsed.payload)
            await update_settings(request, session, school_id, settings)
            return RedirectResponse(f"{action}?opgeslagen=1", status_code=303)
        except RpcFailed as exc:
            if exc.error.code != ErrorCode.INVALID:
                raise
            parsed.errors = form_errors(exc.error.fields, parsed.contact_rows)
            if not parsed.errors:  # field messages say it all; otherwise the general one
                parsed.errors[GENERAL] = exc.error.message
    school = await get_school(request, session, school_id)
    return render(
        request,
        "settings.html",
        {
            "title": "Instellingen",
            "school": school,
            "values": parsed.values,
            "errors": parsed.errors,
            "editable": True,
            "action": action,
        },
        status_code=422,
    )


def _own_school(session: SessionInfo) -> UUID | None:
    return session.actor.school_id


@router.get("/instellingen", response_class=HTMLResponse)
async def own_settings(request: Request, session: PageSession) -> Response:
    if (school_id := _own_school(session)) is None:
        if session.actor.role is Role.PROVIDER:  # issue 13: no school of its own, not an admin
            raise forbidden()
        return RedirectResponse("/beheer/scholen", status_code=303)  # CJP admins: every school
    return await _show_settings(request, session, school_id)


@router.post("/instellingen", response_class=HTMLResponse)
async def save_own_settings(request: Request, session: PageSession) -> Response:
    if (school_id := _own_school(session)) is None:
        raise forbidden()
    return await _save_settings(request, session, school_id)


@router.get("/scholen/{school_id}/instellingen", response_class=HTMLResponse)
async def school_settings(request: Request, school_id: UUID, session: PageSession) -> Response:
    return await _show_settings(request, session, school_id)


@router.post("/scholen/{school_id}/instellingen", response_class=HTMLResponse)
async def save_school_settings(request: Request, school_id: UUID, session: PageSession) -> Response:
    return await _save_settings(request, session, school_id)
