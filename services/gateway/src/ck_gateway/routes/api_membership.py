"""JSON API v1 for memberships: activating a CJP with a code (public, R-MEMBER-4) and a CJP
admin ending a membership (R-MEMBER-1). The same use cases as the activation page
(ck_gateway.usecases.membership)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from ck_contracts.membership import Activated
from fastapi import APIRouter, Body, Request, Response

from ck_gateway.api_models import error_responses
from ck_gateway.auth import ApiSession
from ck_gateway.usecases.membership import ActivationBody, activate, end_membership

router = APIRouter(prefix="/api/v1", tags=["membership"])

_ACTIVATION_EXAMPLE = {
    "code": "K7QX-3MPA-9TZD",
    "voornaam": "Sanne",
    "achternaam": "de Boer",
    "email": "sanne@voorbeeld.nl",
    "geboortedatum": "2006-05-17",
}


@router.post(
    "/activations",
    response_model=Activated,
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


@router.post(
    "/schools/{school_id}/memberships/{person_id}/end",
    status_code=204,
    summary="CJP admin: end an active membership (the list then shows Inactief lidmaatschap)",
    description="For a member who stops (R-MEMBER-1). The person stays on the school's roster "
    "and may be invited again; a new activation gives a new card number.",
    responses=error_responses(404),
)
async def api_end_membership(
    request: Request, school_id: UUID, person_id: UUID, session: ApiSession
) -> Response:
    await end_membership(request, session.actor, school_id, person_id)
    return Response(status_code=204)
