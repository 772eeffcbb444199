"""JSON API v1: log-in with a bearer token, the current user, schools and their settings."""

from __future__ import annotations

from uuid import UUID

from ck_contracts.accounts import RegisterSchool, SchoolSettings
from fastapi import APIRouter, Request, Response

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
from ck_gateway.usecases import schools, sessions

router = APIRouter(prefix="/api/v1")


@router.post(
    "/auth/login",
    response_model=LoginResponse,
    tags=["auth"],
    summary="Log in; returns a bearer token",
    responses=error_responses(401, 429),  # public: its 401 is a wrong password
)
async def login(request: Request, body: LoginRequest) -> LoginResponse:
    result = await sessions.log_in(request, body.email, body.password)
    return LoginResponse.model_validate(result.model_dump())


@router.post(
    "/auth/logout",
    status_code=204,
    tags=["auth"],
    summary="End the session of the bearer token",
)
async def logout(request: Request, session: ApiSession, token: BearerToken) -> Response:
    await sessions.log_out(request, token)
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
    result = await schools.list_schools(request, session)
    return [SchoolOut.model_validate(school.model_dump()) for school in result]


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
    command = RegisterSchool.model_validate(body.model_dump())
    result = await schools.register_school(request, session, command)
    return RegisteredSchoolOut.model_validate(result.model_dump())


@router.get(
    "/schools/{school_id}",
    response_model=SchoolOut,
    tags=["schools"],
    summary="One school with its settings (its own users and CJP admins)",
    responses=error_responses(404),
)
async def get_school(request: Request, school_id: UUID, session: ApiSession) -> SchoolOut:
    result = await schools.get_school(request, session, school_id)
    return SchoolOut.model_validate(result.model_dump())


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
    settings = SchoolSettings.model_validate(body.model_dump())
    result = await schools.update_settings(request, session, school_id, settings)
    return SchoolOut.model_validate(result.model_dump())
