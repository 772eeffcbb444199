"""JSON API v1: log-in with a bearer token, the current user, schools and their settings."""

from __future__ import annotations

from uuid import UUID

from ck_contracts.accounts import SERVICE as ACCOUNTS
from ck_contracts.accounts import Ops
from ck_contracts.roles import Permission
from fastapi import APIRouter, Request, Response

from ck_gateway import backend
from ck_gateway.api_models import (
    LoginRequest,
    LoginResponse,
    Me,
    RegisteredSchoolOut,
    RegisterSchoolRequest,
    SchoolOut,
    SchoolSettingsBody,
    error_responses,
)
from ck_gateway.auth import ApiSession, BearerToken
from ck_gateway.client_address import client_key
from ck_gateway.errors import forbidden

router = APIRouter(prefix="/api/v1")


@router.post(
    "/auth/login",
    response_model=LoginResponse,
    tags=["auth"],
    summary="Log in; returns a bearer token",
    responses=error_responses(401, 429),  # public: its 401 is a wrong password
)
async def login(request: Request, body: LoginRequest) -> LoginResponse:
    # Throttled per account and per client address (a keyed hash of it, never the address).
    command = {**body.model_dump(), "client": client_key(request)}
    result = await backend.call(request, ACCOUNTS, Ops.LOGIN, command)
    return LoginResponse.model_validate(result)


@router.post(
    "/auth/logout",
    status_code=204,
    tags=["auth"],
    summary="End the session of the bearer token",
)
async def logout(request: Request, session: ApiSession, token: BearerToken) -> Response:
    await backend.call(request, ACCOUNTS, Ops.LOGOUT, {"token": token})
    return Response(status_code=204)


@router.get(
    "/me",
    response_model=Me,
    tags=["auth"],
    summary="Who is logged in",
)
async def me(session: ApiSession) -> Me:
    return Me.model_validate(session.model_dump())


@router.get(
    "/schools",
    response_model=list[SchoolOut],
    tags=["schools"],
    summary="Every school (CJP admins)",
)
async def list_schools(request: Request, session: ApiSession) -> list[SchoolOut]:
    if not session.actor.has(Permission.REGISTER_SCHOOL):
        raise forbidden()
    result = await backend.call(request, ACCOUNTS, Ops.SCHOOL_LIST, actor=session.actor)
    return [SchoolOut.model_validate(item) for item in result]


@router.post(
    "/schools",
    response_model=RegisteredSchoolOut,
    status_code=201,
    tags=["schools"],
    summary="Register a school and its budget holder (CJP admins); sends the welcome mail",
    responses=error_responses(409),
)
async def register_school(
    request: Request, body: RegisterSchoolRequest, session: ApiSession
) -> RegisteredSchoolOut:
    if not session.actor.has(Permission.REGISTER_SCHOOL):
        raise forbidden()
    result = await backend.call(
        request, ACCOUNTS, Ops.SCHOOL_REGISTER, body.model_dump(mode="json"), actor=session.actor
    )
    return RegisteredSchoolOut.model_validate(result)


@router.get(
    "/schools/{school_id}",
    response_model=SchoolOut,
    tags=["schools"],
    summary="One school with its settings (its own users and CJP admins)",
    responses=error_responses(404),
)
async def get_school(request: Request, school_id: UUID, session: ApiSession) -> SchoolOut:
    if not session.actor.may(Permission.VIEW_SCHOOL, school_id):
        raise forbidden()
    result = await backend.call(
        request, ACCOUNTS, Ops.SCHOOL_GET, {"school_id": str(school_id)}, actor=session.actor
    )
    return SchoolOut.model_validate(result)


@router.put(
    "/schools/{school_id}/settings",
    response_model=SchoolOut,
    tags=["schools"],
    summary="Replace a school's settings (Instellingen)",
    responses=error_responses(404),
)
async def update_settings(
    request: Request, school_id: UUID, body: SchoolSettingsBody, session: ApiSession
) -> SchoolOut:
    if not session.actor.may(Permission.EDIT_SETTINGS, school_id):
        raise forbidden()
    result = await backend.call(
        request,
        ACCOUNTS,
        Ops.SCHOOL_UPDATE,
        {"school_id": str(school_id), "settings": body.model_dump(mode="json")},
        actor=session.actor,
    )
    return SchoolOut.model_validate(result)
