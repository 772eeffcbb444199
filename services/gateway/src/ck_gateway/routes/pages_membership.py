"""Inviting and activating (R-MEMBER-2..4, manual 3.3 and 3.4).

"studenten uitnodigen" / "docenten uitnodigen": the list with checkboxes and "verstuur
uitnodiging" (the roster service resolves the selection and hands it to the membership
service); "export excel": the filtered list with status and activatiecode; and the public
activation page /activeren (no log-in), whose JSON twin POST /api/v1/activations is in
api_membership.py (both call ck_gateway.usecases.membership.activate).

The activation form is protected like every other form: the signed double-submit CSRF token
of csrf.py, which binds to "anonymous" when there is no session, so it works without one.
Guessing codes is throttled by the membership service per client address and per code
prefix; the gateway sends a keyed hash of the client's address (client_address.client_key),
never the address. The personal link of the invitation mail carries a second value,
`sleutel`, which the form keeps in a hidden field: with it a throttled address still
activates (the membership service checks the pair).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from uuid import UUID

from ck_contracts.accounts import SessionInfo
from ck_contracts.bounds import CODE_MAX, clean_text
from ck_contracts.membership import MembershipReason
from ck_contracts.roles import Permission
from ck_contracts.roster import InvitationRunStatus
from ck_contracts.rpc import ErrorCode
from ck_runtime.rpc_client import RpcFailed
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from ck_gateway import backend, i18n
from ck_gateway.auth import PageSession
from ck_gateway.csrf_guard import checked_form
from ck_gateway.errors import dutch_errors, forbidden, from_rpc_error
from ck_gateway.forms import also_checked, text_field
from ck_gateway.rendering import render
from ck_gateway.roster_views import (
    GENERAL,
    PAGES,
    RosterPage,
    invite_notice,
    may_invite,
    parse_invite_form,
    parse_list_query,
)
from ck_gateway.routes.pages_roster import own_school, render_list
from ck_gateway.usecases.membership import (
    LINK_KEY,
    MAX_LINK_KEY,
    ActivationBody,
    activate,
    check_activation_code,
)
from ck_gateway.usecases.roster import export_file, get_invitation_run, send_invitations

router = APIRouter()


# --- shared by pages and API ------------------------------------------------------------------


# --- "studenten uitnodigen" -------------------------------------------------------------------
async def _invite(request: Request, session: SessionInfo, page: RosterPage) -> Response:
    form = await checked_form(request)
    school_id = own_school(session, Permission.INVITE_MEMBERS)
    if not may_invite(session.actor, school_id, page.kind):
        raise forbidden()
    query = parse_list_query(page, school_id, form)
    parsed = parse_invite_form(query, form)
    if parsed.selection is None:
        return await render_list(
            request,
            session,
            page,
            inviting=True,
            params=form,
            values={
                "keuze": text_field(form, "keuze"),
                "hele_pagina": text_field(form, "hele_pagina"),
            },
            errors={GENERAL: parsed.error},
            ticked={v for v in form.getlist("persoon") if isinstance(v, str)},
            status_code=422,
        )
    done = await send_invitations(request, session, school_id, page.kind, parsed.selection)
    # Issue 14: the answer is the run's progress page (mails queued and sent).
    return RedirectResponse(invitation_run_path(page, done.request_id), status_code=303)


# --- an invitation run's progress page (issue 14) -----------------------------------------------
def invitation_run_path(page: RosterPage, run_id: UUID) -> str:
    return f"{page.path}/uitnodigingen/{run_id}"


_RUN_NOTICES = {
    InvitationRunStatus.QUEUED: "roster.invitations.run.queued",
    InvitationRunStatus.SENDING: "roster.invitations.run.sending",
    InvitationRunStatus.DONE: "roster.invitations.run.done",
}


async def _run_page(
    request: Request, session: SessionInfo, page: RosterPage, run_id: UUID
) -> Response:
    """The run's counts (people invited, mails queued, sent, failed), refreshing itself every
    second until every mail is sent or given up (a meta refresh: the CSP allows no script).
    The state is the roster service's, so a reload or coming back later shows the same."""
    school_id = own_school(session, Permission.INVITE_MEMBERS)
    run = await get_invitation_run(request, session, school_id, page.kind, run_id)
    finished = run.status == InvitationRunStatus.DONE
    context = {
        "title": f"{page.title}: uitnodigingen",
        "page": page,
        "run": run,
        "finished": finished,
        "notice": i18n.gettext(_RUN_NOTICES[run.status]),
        "invited": invite_notice(run.requested, run.skipped_active),
        "refresh_seconds": None if finished else 1,
    }
    return render(request, "invitation_run.html", context)


def _page_routes(page: RosterPage) -> None:
    slug = page.path.strip("/").replace("-", "_")

    async def invite_list(request: Request, session: PageSession) -> Response:
        return await render_list(request, session, page, inviting=True)

    async def invite(request: Request, session: PageSession) -> Response:
        return await _invite(request, session, page)

    async def run(request: Request, run_id: UUID, session: PageSession) -> Response:
        return await _run_page(request, session, page, run_id)

    async def export(request: Request, session: PageSession) -> Response:
        school_id = own_school(session, Permission.VIEW_ROSTER)
        query = parse_list_query(page, school_id, request.query_params)
        return await export_file(request, session, school_id, page.kind, query.request.filter)

    for path, endpoint, method in (
        ("/uitnodigen", invite_list, "GET"),
        ("/uitnodigen", invite, "POST"),
        ("/export", export, "GET"),
        ("/uitnodigingen/{run_id}", run, "GET"),
    ):
        endpoint.__name__ = f"{slug}_{endpoint.__name__}"
        router.add_api_route(
            page.path + path,
            endpoint,
            methods=[method],
            response_class=HTMLResponse,
            include_in_schema=False,
        )


for _page in PAGES.values():
    _page_routes(_page)


# --- /activeren (public) ----------------------------------------------------------------------
ACTIVATION_FIELDS = ("code", "voornaam", "achternaam", "email", "geboortedatum")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_DUTCH_DATE = re.compile(r"^(\d{1,2})[-/. ](\d{1,2})[-/. ](\d{4})$")


def parse_birth_date(text: str) -> date | None:
    """2006-12-31 (a date field) or 31-12-2006, 31/12/2006, 31.12.2006 (typed by hand)."""
    text = text.strip()
    try:
        return date.fromisoformat(text)
    except ValueError:
        pass
    if match := _DUTCH_DATE.match(text):
        try:
            return date(int(match[3]), int(match[2]), int(match[1]))
        except ValueError:
            return None
    return None


@dataclass
class ParsedActivation:
    values: dict[str, str]
    payload: dict[str, Any] | None = None
    errors: dict[str, str] = field(default_factory=dict)


def _activation_field(path: str) -> str:
    name = path.rsplit(".", 1)[-1] if path else GENERAL
    return name if name in ACTIVATION_FIELDS else GENERAL


def activation_errors(fields: Mapping[str, str]) -> dict[str, str]:
    errors: dict[str, str] = {}
    for path, message in fields.items():
        errors.setdefault(_activation_field(path), message)
    return errors


def parse_activation_form(form: Mapping[str, Any], today: date) -> ParsedActivation:
    """The form -> Activate's fields (without the client); what was typed always comes back."""
    values = {name: text_field(form, name).strip() for name in ACTIVATION_FIELDS}
    values[LINK_KEY] = text_field(form, LINK_KEY).strip()[:MAX_LINK_KEY]
    parsed = ParsedActivation(values)
    for name in ACTIVATION_FIELDS:
        if not values[name]:
            parsed.errors[name] = i18n.gettext(f"activation.required.{name}")
    # The membership service checks the e-mail address and the birth date with these reasons
    # too (so the API gets them as well); here they come before a round trip.
    if values["email"] and not _EMAIL.match(values["email"]):
        parsed.errors["email"] = i18n.render(MembershipReason.EMAIL_INVALID)
    born: date | None = None
    if values["geboortedatum"]:
        born = parse_birth_date(values["geboortedatum"])
        if born is None or born.year < 1900:
            parsed.errors["geboortedatum"] = i18n.gettext("activation.bad_date")
        elif born > today:
            parsed.errors["geboortedatum"] = i18n.render(MembershipReason.BIRTH_DATE_FUTURE)
    # The contract's limits too, in the same round (issue 14): never stop at the first group.
    data = {**values, "geboortedatum": born or today}
    try:
        ActivationBody.model_validate(data)
    except ValidationError as exc:
        for name, message in activation_errors(dutch_errors(exc)).items():
            parsed.errors.setdefault(name, message)
    if parsed.errors:
        return parsed
    parsed.payload = {**values, "geboortedatum": born.isoformat() if born else ""}
    return parsed


def _activation_page(
    request: Request,
    values: dict[str, str],
    errors: dict[str, str] | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    return render(
        request,
        "activate.html",
        {"title": "Activeer je CJP", "values": values, "errors": errors or {}},
        status_code=status_code,
        headers=headers,
    )


@router.get("/activeren", response_class=HTMLResponse, include_in_schema=False)
async def activation_form(request: Request, code: str = "", sleutel: str = "") -> Response:
    values = {
        "code": clean_text(code, max_length=CODE_MAX),
        LINK_KEY: clean_text(sleutel, max_length=MAX_LINK_KEY),
    }
    return _activation_page(request, values)


@router.post("/activeren", response_class=HTMLResponse, include_in_schema=False)
async def activation(request: Request) -> Response:
    form = await checked_form(request)
    parsed = parse_activation_form(form, backend.today(request))
    if parsed.payload is None:  # refused here: the code's format too, in the same round
        check = check_activation_code(request, parsed.values["code"])
        errors = await also_checked(parsed.errors, check, activation_errors)
        return _activation_page(request, parsed.values, errors, status_code=422)
    try:
        done = await activate(request, parsed.payload)
    except RpcFailed as exc:
        error = from_rpc_error(exc.error)
        if exc.error.code == ErrorCode.THROTTLED:
            errors = {GENERAL: exc.error.message}
            return _activation_page(request, parsed.values, errors, 429, error.headers())
        if exc.error.code not in (ErrorCode.INVALID, ErrorCode.NOT_FOUND, ErrorCode.CONFLICT):
            raise
        errors = activation_errors(exc.error.fields)
        if not errors:
            # A wrong, used or revoked code: the message belongs next to the code.
            key = GENERAL if exc.error.code == ErrorCode.INVALID else "code"
            errors[key] = exc.error.message
        elif GENERAL not in errors and "code" not in errors:
            errors[GENERAL] = exc.error.message
        return _activation_page(request, parsed.values, errors, status_code=error.status)
    context = {
        "title": "Je CJP is geactiveerd",
        "done": done,
        "voornaam": parsed.values["voornaam"],
    }
    return render(request, "activate_done.html", context)
