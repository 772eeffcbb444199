"""Inviting and activating (R-MEMBER-2..4, manual 3.3 and 3.4).

"studenten uitnodigen" / "docenten uitnodigen": the list with checkboxes and "verstuur
uitnodiging" (the roster service resolves the selection and hands it to the membership
service); "export excel": the filtered list with status and activatiecode; and the public
activation page /activeren (no log-in) with its JSON twin POST /api/v1/activations.

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
from typing import Annotated, Any
from uuid import UUID

from ck_contracts.accounts import SessionInfo
from ck_contracts.bounds import CODE_MAX, RequiredEmail, Text, clean_text
from ck_contracts.membership import SERVICE as MEMBERSHIP
from ck_contracts.membership import Activate, Activated, EndMembership, MemberName
from ck_contracts.membership import Ops as MembershipOps
from ck_contracts.roles import Permission
from ck_contracts.rpc import ErrorCode
from ck_runtime.rpc_client import RpcFailed
from ck_runtime.validation import dutch_errors
from fastapi import APIRouter, Body, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ck_gateway import backend
from ck_gateway.api_models import error_responses
from ck_gateway.auth import ApiSession, PageSession
from ck_gateway.client_address import client_key
from ck_gateway.csrf_guard import checked_form
from ck_gateway.errors import forbidden, from_rpc_error
from ck_gateway.forms import text_field
from ck_gateway.rendering import render
from ck_gateway.roster_views import (
    GENERAL,
    PAGES,
    RosterPage,
    invite_notice_seal,
    may_invite,
    parse_invite_form,
    parse_list_query,
)
from ck_gateway.routes.pages_roster import own_school, render_list
from ck_gateway.usecases.roster import export_file, send_invitations

router = APIRouter()


# --- shared by pages and API ------------------------------------------------------------------
async def activate(request: Request, payload: dict[str, Any]) -> Activated:
    """payload: the member's fields, and `sleutel` when they came by the personal link."""
    fields = dict(payload)
    link_key = fields.pop(LINK_KEY, "") or ""
    command = Activate.model_validate(
        {**fields, "link_key": link_key, "client": client_key(request)}
    )
    result = await backend.call(request, MEMBERSHIP, MembershipOps.ACTIVATE, command)
    return Activated.model_validate(result)


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
    secret: str = request.app.state.secret_key
    target = query.link(
        f"{page.path}/uitnodigen",
        gedaan="uitgenodigd",
        aantal=done.requested,
        al_actief=done.skipped_active,
        teken=invite_notice_seal(secret, school_id, done.requested, done.skipped_active),
    )
    return RedirectResponse(target, status_code=303)


def _page_routes(page: RosterPage) -> None:
    slug = page.path.strip("/").replace("-", "_")

    async def invite_list(request: Request, session: PageSession) -> Response:
        return await render_list(request, session, page, inviting=True)

    async def invite(request: Request, session: PageSession) -> Response:
        return await _invite(request, session, page)

    async def export(request: Request, session: PageSession) -> Response:
        school_id = own_school(session, Permission.VIEW_ROSTER)
        query = parse_list_query(page, school_id, request.query_params)
        return await export_file(request, session, school_id, page.kind, query.request.filter)

    for path, endpoint, method in (
        ("/uitnodigen", invite_list, "GET"),
        ("/uitnodigen", invite, "POST"),
        ("/export", export, "GET"),
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
# The personal link's second value (/activeren?code=...&sleutel=...): a hidden form field.
LINK_KEY = "sleutel"
MAX_LINK_KEY = 64
REQUIRED = {
    "code": "Vul de activatiecode in.",
    "voornaam": "Vul je voornaam in.",
    "achternaam": "Vul je achternaam in.",
    "email": "Vul je e-mailadres in.",
    "geboortedatum": "Vul je geboortedatum in.",
}
BAD_EMAIL = "Vul een geldig e-mailadres in, bijvoorbeeld naam@voorbeeld.nl."
BAD_DATE = "Vul je geboortedatum in als dag-maand-jaar, bijvoorbeeld 31-12-2006."
FUTURE_DATE = "Deze geboortedatum ligt in de toekomst."
THROTTLED_TEXT = (
    "Je hebt te vaak een verkeerde code geprobeerd. Wacht even en probeer het dan opnieuw."
)
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
    for name, message in REQUIRED.items():
        if not values[name]:
            parsed.errors[name] = message
    if values["email"] and not _EMAIL.match(values["email"]):
        parsed.errors["email"] = BAD_EMAIL
    born: date | None = None
    if values["geboortedatum"]:
        born = parse_birth_date(values["geboortedatum"])
        if born is None or born.year < 1900:
            parsed.errors["geboortedatum"] = BAD_DATE
        elif born > today:
            parsed.errors["geboortedatum"] = FUTURE_DATE
    if parsed.errors:
        return parsed
    data = {**values, "geboortedatum": born}
    try:
        ActivationBody.model_validate(data)
    except ValidationError as exc:
        parsed.errors = activation_errors(dutch_errors(exc))
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
    if parsed.payload is None:
        return _activation_page(request, parsed.values, parsed.errors, status_code=422)
    try:
        done = await activate(request, parsed.payload)
    except RpcFailed as exc:
        error = from_rpc_error(exc.error)
        if exc.error.code == ErrorCode.THROTTLED:
            errors = {GENERAL: exc.error.message or THROTTLED_TEXT}
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


# --- JSON: POST /api/v1/activations (public) --------------------------------------------------
class ActivationBody(BaseModel):
    """What the member fills in on the activation page (R-MEMBER-4)."""

    model_config = ConfigDict(str_strip_whitespace=True)

    code: Annotated[str, Text(CODE_MAX, min_length=1)] = Field(description="The activation code")
    voornaam: MemberName
    achternaam: MemberName
    email: RequiredEmail
    geboortedatum: date
    sleutel: str = Field(
        default="",
        max_length=MAX_LINK_KEY,
        description="The `sleutel` of the personal link in the invitation mail, if the member "
        "came by it: with the right pair of code and sleutel the activation is never throttled.",
    )


_ACTIVATION_EXAMPLE = {
    "code": "K7QX-3MPA-9TZD",
    "voornaam": "Sanne",
    "achternaam": "de Boer",
    "email": "sanne@voorbeeld.nl",
    "geboortedatum": "2006-05-17",
}


@router.post(
    "/api/v1/activations",
    response_model=Activated,
    tags=["membership"],
    summary="Activate a CJP with an activation code (public, no log-in; R-MEMBER-4)",
    description="The member's own details and the code from the invitation mail or from the "
    "school. A code works once; a wrong, used or revoked code gets a Dutch message (404 or 409, "
    "`fields.code`). Wrong guesses are throttled per client address and per code prefix: 429 "
    "with `Retry-After`; the code with the `sleutel` of the mail's personal link is not.",
    responses={
        200: {
            "content": {
                "application/json": {
                    "example": {
                        "card_number": "CJP-2024-0001-2345",
                        "school_name": "Voorbeeldcollege",
                        "kind": "students",
                    }
                }
            }
        },
        **error_responses(404, 409, 429),
    },
)
async def api_activate(
    request: Request,
    body: Annotated[
        ActivationBody,
        Body(
            openapi_examples={"student": {"summary": "Een student", "value": _ACTIVATION_EXAMPLE}}
        ),
    ],
) -> Activated:
    return await activate(request, body.model_dump(mode="json"))


# --- JSON: a CJP admin ends a membership (R-MEMBER-1: Inactief lidmaatschap) ----------------------
@router.post(
    "/api/v1/schools/{school_id}/memberships/{person_id}/end",
    status_code=204,
    tags=["membership"],
    summary="CJP admin: end an active membership (the list then shows Inactief lidmaatschap)",
    description="For a member who stops (R-MEMBER-1). The person stays on the school's roster "
    "and may be invited again; a new activation gives a new card number.",
    responses=error_responses(404),
)
async def api_end_membership(
    request: Request, school_id: UUID, person_id: UUID, session: ApiSession
) -> Response:
    if not session.actor.may(Permission.END_MEMBERSHIP, school_id):
        raise forbidden()
    command = EndMembership(school_id=school_id, person_id=person_id)
    await backend.call(request, MEMBERSHIP, MembershipOps.END, command, actor=session.actor)
    return Response(status_code=204)
