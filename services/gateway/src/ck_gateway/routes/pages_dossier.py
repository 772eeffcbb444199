"""The Cultuurkaart-dossier of a student (R-DOSSIER-1): the cultural activities they took part
in (approved weborders, CJP card payments) and teachers' notes, for Docent+ users and the
budget holder. Reached from beheer studenten (the student's voornaam links here) or as
/dossier/{person_id}. The roster service owns the student, the weborders service the dossier.
"""

from __future__ import annotations

import asyncio
from uuid import UUID

from ck_contracts.accounts import SessionInfo
from ck_contracts.roles import Permission
from ck_contracts.roster import Ops as RosterOps
from ck_contracts.roster import PersonRef, RosterKind
from ck_contracts.weborders import AddNote, DossierRef
from ck_runtime.rpc_client import RpcFailed
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ck_gateway import backend, i18n
from ck_gateway.auth import PageSession
from ck_gateway.budget_views import own_school
from ck_gateway.csrf_guard import checked_form
from ck_gateway.errors import from_http_status
from ck_gateway.forms import validated
from ck_gateway.rendering import render
from ck_gateway.routes.pages_weborders import refusal_status, service_errors
from ck_gateway.usecases import weborders as usecase
from ck_gateway.weborder_views import DOSSIER_KINDS, MAX_NOTE, message_error, text

router = APIRouter(include_in_schema=False)


async def _dossier_page(
    request: Request,
    person_id: UUID,
    session: SessionInfo,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    school_id = own_school(session, Permission.VIEW_DOSSIER)
    ref = {"school_id": school_id, "person_id": person_id}
    person, dossier = await asyncio.gather(
        backend.send(request, RosterOps.PERSON_GET, PersonRef(**ref), actor=session.actor),
        usecase.dossier(request, session.actor, DossierRef(**ref)),
    )
    if person.kind != RosterKind.STUDENTS:
        raise from_http_status(404)  # a dossier is kept per student
    return render(
        request,
        "dossier.html",
        {
            "title": f"Cultuurkaart-dossier van {person.voornaam} {person.achternaam}",
            "person": person,
            "entries": sorted(dossier.entries, key=lambda e: e.at, reverse=True),
            "kinds": DOSSIER_KINDS,
            "may_write": session.actor.may(Permission.WRITE_DOSSIER_NOTE, school_id),
            "values": values or {},
            "errors": errors or {},
            "notice": (
                i18n.render("dossier_page.note_saved") if request.query_params.get("gedaan") else ""
            ),
        },
        status_code=status_code,
    )


@router.get("/dossier/{person_id}", response_class=HTMLResponse)
async def dossier_page(request: Request, person_id: UUID, session: PageSession) -> Response:
    return await _dossier_page(request, person_id, session)


@router.post("/dossier/{person_id}/notities", response_class=HTMLResponse)
async def add_note(request: Request, person_id: UUID, session: PageSession) -> Response:
    form = await checked_form(request)
    school_id = own_school(session, Permission.WRITE_DOSSIER_NOTE)
    note = text(form, "notitie")
    values = {"notitie": note}
    command, errors = validated(
        AddNote,
        {
            "school_id": school_id,
            "person_id": person_id,
            "text": note,
            "author": session.user_name[:200] or session.email[:200],
        },
        {"text": "notitie"},
    )
    if problem := message_error(note, MAX_NOTE, what="notitie"):
        errors = {"notitie": problem}
    if command is None or errors:
        return await _dossier_page(
            request, person_id, session, values=values, errors=errors, status_code=422
        )
    try:
        await usecase.add_note(request, session.actor, command)
    except RpcFailed as exc:
        # Not the school's student (another school's person id, or one nobody has): 404, and
        # the page below is refused too (the roster does not know the person either).
        errors = service_errors(exc, {"text": "notitie"})
        return await _dossier_page(
            request,
            person_id,
            session,
            values=values,
            errors=errors,
            status_code=refusal_status(exc),
        )
    return RedirectResponse(f"/dossier/{person_id}?gedaan=notitie", status_code=303)
