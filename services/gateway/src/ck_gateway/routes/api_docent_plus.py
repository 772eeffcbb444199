"""JSON API v1 for Docent+ access (R-ROLE-2): list, grant, revoke. Only the school's budget
holder may use it; the accounts service checks the role and the active membership again."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from ck_contracts.accounts import DocentPlusAccess, DocentPlusList
from fastapi import APIRouter, Body, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from ck_gateway.api_models import error_responses
from ck_gateway.auth import ApiSession
from ck_gateway.usecases.docent_plus import (
    docent_plus_list,
    grant_access,
    revoke_access,
    school_of,
)

router = APIRouter(
    prefix="/api/v1/docent-plus",
    tags=["docent-plus"],
)

_ACCESS_EXAMPLE: dict[str, Any] = {
    "person_id": "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
    "user_id": "6f1c1d1e-8d4b-4c1e-9a53-0e7a1c2b3d4e",
    "email": "d.docent@voorbeeldcollege.nl",
    "name": "Dirk Docent",
    "granted_at": "2024-03-01T09:30:00Z",
}
SchoolQuery = Annotated[
    UUID | None,
    Query(description="The school; by default the logged-in user's own school."),
]


class DocentPlusAccessOut(DocentPlusAccess):
    model_config = ConfigDict(json_schema_extra={"examples": [_ACCESS_EXAMPLE]})


class DocentPlusListOut(DocentPlusList):
    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [_ACCESS_EXAMPLE]}]})


class GrantBody(BaseModel):
    person_id: UUID = Field(description="The teacher's person_id in the teacher roster.")
    school_id: UUID | None = Field(
        default=None, description="The school; by default the logged-in user's own school."
    )
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"person_id": "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"}]}
    )


@router.get(
    "",
    response_model=DocentPlusListOut,
    summary="The school's teachers with Docent+ access",
)
async def list_access(
    request: Request, session: ApiSession, school_id: SchoolQuery = None
) -> DocentPlusList:
    return await docent_plus_list(request, session, school_of(session, school_id))


@router.post(
    "",
    response_model=DocentPlusAccessOut,
    status_code=201,
    summary="Give a teacher with an active membership Docent+ access",
    description="Name and e-mail come from the teacher roster. The teacher gets a mail with a "
    "link to set a password. 409 when the teacher's membership is not active or the address "
    "belongs to another account; 422 when the teacher has no e-mail address. Granting a teacher "
    "who already has access returns that access and sends no second mail.",
    responses=error_responses(404, 409),
)
async def grant(
    request: Request, body: Annotated[GrantBody, Body()], session: ApiSession
) -> DocentPlusAccess:
    school_id = school_of(session, body.school_id)
    return await grant_access(request, session, school_id, body.person_id)


@router.delete(
    "/{person_id}",
    status_code=204,
    summary="Revoke a teacher's Docent+ access: every session of theirs ends at once",
    responses=error_responses(404),
)
async def revoke(
    request: Request, person_id: UUID, session: ApiSession, school_id: SchoolQuery = None
) -> Response:
    await revoke_access(request, session, school_of(session, school_id), person_id)
    return Response(status_code=204)
