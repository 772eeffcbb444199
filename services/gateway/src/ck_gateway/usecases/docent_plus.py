"""Docent+ access (R-ROLE-2): list, grant, revoke; the Docenten+ page and the JSON API.

The roster service owns the teachers (name, e-mail, status); the accounts service owns the
Docent+ accounts and checks again that the teacher's membership is active. Granting reads the
teacher's name and e-mail from the roster, so the budget holder types nothing.
"""

from __future__ import annotations

from uuid import UUID

from ck_contracts.accounts import (
    DocentPlusAccess,
    DocentPlusGrant,
    DocentPlusList,
    DocentPlusRef,
    Ops,
    SchoolRef,
    SessionInfo,
)
from ck_contracts.roles import Permission
from ck_contracts.roster import SERVICE as ROSTER
from ck_contracts.roster import Ops as RosterOps
from ck_contracts.roster import Person, PersonRef, RosterKind
from fastapi import Request

from ck_gateway import backend, i18n
from ck_gateway.errors import GatewayError, forbidden
from ck_gateway.usecases.requests import request_of

# The gateway's own reasons (catalogue: "# === gateway pages and forms").
NOT_A_TEACHER = "docent_plus.not_a_teacher"
NO_EMAIL = "docent_plus.teacher_without_email"


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
    ref = SchoolRef(school_id=school_id)
    return await backend.send(request, Ops.DOCENT_PLUS_LIST, ref, actor=session.actor)


async def grant_access(
    request: Request, session: SessionInfo, school_id: UUID, person_id: UUID
) -> DocentPlusAccess:
    """Read the teacher from the roster, then ask accounts to grant. Raises GatewayError 404
    for someone not in the teacher roster, 422 for a teacher without an e-mail address, and
    RpcFailed for what the services refuse."""
    result = await backend.call(
        request,
        ROSTER,
        RosterOps.PERSON_GET,
        PersonRef(school_id=school_id, person_id=person_id),
        actor=session.actor,
    )
    person = Person.model_validate(result)
    if person.kind != RosterKind.TEACHERS:
        raise GatewayError(404, NOT_A_TEACHER, i18n.render(NOT_A_TEACHER))
    if not person.email:
        message = i18n.render(NO_EMAIL)
        raise GatewayError(422, NO_EMAIL, message, {"email": message})
    name = f"{person.voornaam} {person.achternaam}".strip() or person.email
    command = request_of(
        DocentPlusGrant,
        school_id=school_id,
        person_id=person_id,
        name=name[:200],
        email=person.email,
    )
    return await backend.send(request, Ops.DOCENT_PLUS_GRANT, command, actor=session.actor)


async def revoke_access(
    request: Request, session: SessionInfo, school_id: UUID, person_id: UUID
) -> None:
    command = DocentPlusRef(school_id=school_id, person_id=person_id)
    await backend.send(request, Ops.DOCENT_PLUS_REVOKE, command, actor=session.actor)
