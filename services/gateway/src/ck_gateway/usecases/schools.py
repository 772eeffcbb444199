"""A school and its settings (R-SCHOOL-1): the Instellingen page and the JSON API, and the CJP
admins' list and registration. The role is checked here first (403 without asking accounts)
and again by the accounts service."""

from __future__ import annotations

from uuid import UUID

from ck_contracts.accounts import (
    CheckSchoolInput,
    Ops,
    RegisteredSchool,
    RegisterSchool,
    School,
    SchoolRef,
    SchoolSettings,
    SessionInfo,
    UpdateSchool,
)
from ck_contracts.roles import Permission
from ck_contracts.rpc import Empty, FieldProblems
from fastapi import Request

from ck_gateway import backend
from ck_gateway.errors import forbidden


async def get_school(request: Request, session: SessionInfo, school_id: UUID) -> School:
    if not session.actor.may(Permission.VIEW_SCHOOL, school_id):
        raise forbidden()
    ref = SchoolRef(school_id=school_id)
    return await backend.send(request, Ops.SCHOOL_GET, ref, actor=session.actor)


async def update_settings(
    request: Request, session: SessionInfo, school_id: UUID, settings: SchoolSettings
) -> School:
    if not session.actor.may(Permission.EDIT_SETTINGS, school_id):
        raise forbidden()
    command = UpdateSchool(school_id=school_id, settings=settings)
    return await backend.send(request, Ops.SCHOOL_UPDATE, command, actor=session.actor)


async def check_school_input(
    request: Request, session: SessionInfo, query: CheckSchoolInput
) -> FieldProblems:
    """Accounts' format rules over a settings or registration form as typed (issue 14)."""
    return await backend.send(request, Ops.CHECK_SCHOOL_INPUT, query, actor=session.actor)


def require_admin(session: SessionInfo) -> None:
    if not session.actor.has(Permission.REGISTER_SCHOOL):
        raise forbidden()


async def list_schools(request: Request, session: SessionInfo) -> list[School]:
    require_admin(session)
    return await backend.send(request, Ops.SCHOOL_LIST, Empty(), actor=session.actor)


async def register_school(
    request: Request, session: SessionInfo, command: RegisterSchool
) -> RegisteredSchool:
    """The school and its budget holder, who gets the welcome mail."""
    require_admin(session)
    return await backend.send(request, Ops.SCHOOL_REGISTER, command, actor=session.actor)
