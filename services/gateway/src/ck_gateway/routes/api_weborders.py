"""JSON API v1 for a school's spending (R-WEB-2..5, R-DOSSIER-1): the same operations as the
Bestellingen pages (Weborders, Schooltoer, Exports), the offer and the Cultuurkaart-dossier, for
schools that work with their own tools. Amounts are integer euro cents."""

from __future__ import annotations

import base64
from typing import Annotated, Any
from uuid import UUID

from ck_contracts.bounds import (
    Page,
    PageSize,
    Reason,
    RequiredLongText,
    RequiredMessage,
    RequiredReason,
    SearchText,
)
from ck_contracts.roles import Permission
from ck_contracts.weborders import SERVICE as WEBORDERS
from ck_contracts.weborders import (
    AddNote,
    CancelApproval,
    DecideWeborder,
    Dossier,
    DossierEntry,
    DossierRef,
    ExportFile,
    Offering,
    OfferRequest,
    Ops,
    OrderSchooltoer,
    RequestOffering,
    SchoolRef,
    SchooltoerFields,
    SchooltoerOrder,
    SchoolWeborders,
    SearchOffer,
    Weborder,
    WeborderPage,
    WeborderStatus,
)
from fastapi import APIRouter, Body, Query, Request, Response
from pydantic import BaseModel, Field

from ck_gateway import backend
from ck_gateway.api_models import error_responses
from ck_gateway.auth import ApiSession
from ck_gateway.errors import forbidden

router = APIRouter(
    prefix="/api/v1/schools/{school_id}",
    tags=["spending"],
    responses=error_responses(404),
)

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _check(session: ApiSession, permission: Permission, school_id: UUID) -> None:
    if not session.actor.may(permission, school_id):
        raise forbidden()


async def _call(request: Request, session: ApiSession, op: str, payload: BaseModel) -> Any:
    return await backend.call(request, WEBORDERS, op, payload, actor=session.actor)


class Decision(BaseModel):
    approve: bool
    reason: Reason = Field(default="", description="Required when rejecting.")


class Cancellation(BaseModel):
    reason: RequiredReason


class OfferRequestBody(BaseModel):
    offering_id: UUID
    message: RequiredMessage


class NoteBody(BaseModel):
    text: RequiredLongText


@router.get(
    "/weborders",
    response_model=WeborderPage,
    summary="Bestellingen > Weborders: every weborder, newest first (R-WEB-2)",
)
async def list_weborders(
    request: Request,
    school_id: UUID,
    session: ApiSession,
    status: WeborderStatus | None = None,
    page: Annotated[Page, Query()] = 1,
    page_size: Annotated[PageSize, Query()] = 50,
) -> WeborderPage:
    _check(session, Permission.VIEW_SCHOOL, school_id)
    query = SchoolWeborders(school_id=school_id, status=status, page=page, page_size=page_size)
    return WeborderPage.model_validate(await _call(request, session, Ops.WEBORDER_LIST, query))


@router.post(
    "/weborders/{weborder_id}/decision",
    response_model=Weborder,
    summary="Approve or reject a weborder (R-WEB-2)",
    description="Approving starts the debit: the answer's status is `in_behandeling`; the "
    "budget service's answer makes it `goedgekeurd`, or `geweigerd` with the Dutch reason in "
    "`reason` (balance too low: nothing is debited). Rejecting needs a reason.",
    responses=error_responses(409),
)
async def decide(
    request: Request,
    school_id: UUID,
    weborder_id: UUID,
    session: ApiSession,
    body: Annotated[Decision, Body(examples=[{"approve": True, "reason": ""}])],
) -> Weborder:
    _check(session, Permission.APPROVE_WEBORDERS, school_id)
    command = DecideWeborder(school_id=school_id, weborder_id=weborder_id, **body.model_dump())
    return Weborder.model_validate(await _call(request, session, Ops.WEBORDER_DECIDE, command))


@router.post(
    "/weborders/{weborder_id}/cancel-approval",
    response_model=Weborder,
    summary="Cancel an approved weborder: the amount is credited back with a ledger entry",
    responses=error_responses(409),
)
async def cancel_approval(
    request: Request, school_id: UUID, weborder_id: UUID, session: ApiSession, body: Cancellation
) -> Weborder:
    _check(session, Permission.APPROVE_WEBORDERS, school_id)
    command = CancelApproval(school_id=school_id, weborder_id=weborder_id, reason=body.reason)
    result = await _call(request, session, Ops.WEBORDER_CANCEL_APPROVAL, command)
    return Weborder.model_validate(result)


@router.get(
    "/schooltoer",
    response_model=list[SchooltoerOrder],
    summary="Bestellingen > Schooltoer: the transport tickets ordered (R-WEB-4)",
)
async def list_schooltoer(
    request: Request, school_id: UUID, session: ApiSession
) -> list[SchooltoerOrder]:
    _check(session, Permission.VIEW_SCHOOL, school_id)
    result = await _call(request, session, Ops.SCHOOLTOER_LIST, SchoolRef(school_id=school_id))
    items = result["items"] if isinstance(result, dict) else result
    return [SchooltoerOrder.model_validate(item) for item in items]


@router.post(
    "/schooltoer",
    response_model=SchooltoerOrder,
    status_code=201,
    summary="Order transport tickets; debited like a weborder (R-WEB-4)",
)
async def order_schooltoer(
    request: Request,
    school_id: UUID,
    session: ApiSession,
    body: Annotated[
        SchooltoerFields,
        Body(
            examples=[
                {
                    "travel_date": "2026-03-12",
                    "from_place": "Zwolle",
                    "to_place": "Amsterdam Centraal",
                    "travellers": 28,
                    "amount_cents": 42000,
                }
            ]
        ),
    ],
) -> SchooltoerOrder:
    _check(session, Permission.APPROVE_WEBORDERS, school_id)
    command = OrderSchooltoer(school_id=school_id, **body.model_dump())
    result = await _call(request, session, Ops.SCHOOLTOER_ORDER, command)
    return SchooltoerOrder.model_validate(result)


@router.get(
    "/spending.xlsx",
    summary="Exports: all spending as an Excel file (R-WEB-5)",
    response_class=Response,
    responses={200: {"content": {XLSX: {}}, "description": "The export as an attachment."}},
)
async def export_spending(request: Request, school_id: UUID, session: ApiSession) -> Response:
    _check(session, Permission.VIEW_SCHOOL, school_id)
    result = await backend.call(
        request,
        WEBORDERS,
        Ops.EXPORT,
        SchoolRef(school_id=school_id),
        actor=session.actor,
        timeout=backend.file_timeout(request),
    )
    export = ExportFile.model_validate(result)
    return Response(
        base64.b64decode(export.content_b64),
        media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="{export.filename}"'},
    )


@router.get(
    "/offer",
    response_model=list[Offering],
    tags=["offer"],
    summary="Aanbod: search the providers' offer (R-WEB-3)",
)
async def search_offer(
    request: Request,
    school_id: UUID,
    session: ApiSession,
    text: Annotated[SearchText, Query()] = "",
    discipline: Annotated[SearchText, Query()] = "",
    city: Annotated[SearchText, Query()] = "",
    page: Annotated[Page, Query()] = 1,
) -> list[Offering]:
    _check(session, Permission.BROWSE_OFFER, school_id)
    query = SearchOffer(text=text, discipline=discipline, city=city, page=page)
    result = await _call(request, session, Ops.OFFER_SEARCH, query)
    items = result["items"] if isinstance(result, dict) else result
    return [Offering.model_validate(item) for item in items]


@router.post(
    "/offer-requests",
    response_model=OfferRequest,
    status_code=201,
    tags=["offer"],
    summary="Ask a provider for an offering; it answers with a weborder (R-WEB-3)",
)
async def request_offering(
    request: Request, school_id: UUID, session: ApiSession, body: OfferRequestBody
) -> OfferRequest:
    _check(session, Permission.REQUEST_OFFER, school_id)
    command = RequestOffering(
        school_id=school_id,
        offering_id=body.offering_id,
        message=body.message,
        requested_by=session.user_name,
    )
    return OfferRequest.model_validate(await _call(request, session, Ops.OFFER_REQUEST, command))


@router.get(
    "/dossier/{person_id}",
    response_model=Dossier,
    tags=["dossier"],
    summary="A student's Cultuurkaart-dossier: activities, card payments, notes (R-DOSSIER-1)",
    description="404 unless the person is a student on the school's roster.",
    responses=error_responses(404),
)
async def dossier(
    request: Request, school_id: UUID, person_id: UUID, session: ApiSession
) -> Dossier:
    _check(session, Permission.VIEW_DOSSIER, school_id)
    ref = DossierRef(school_id=school_id, person_id=person_id)
    return Dossier.model_validate(await _call(request, session, Ops.DOSSIER_GET, ref))


@router.post(
    "/dossier/{person_id}/notes",
    response_model=DossierEntry,
    status_code=201,
    tags=["dossier"],
    summary="Add a teacher's note to a student's dossier",
    description="404 unless the person is a student on the school's roster.",
)
async def add_note(
    request: Request, school_id: UUID, person_id: UUID, session: ApiSession, body: NoteBody
) -> DossierEntry:
    _check(session, Permission.WRITE_DOSSIER_NOTE, school_id)
    command = AddNote(
        school_id=school_id, person_id=person_id, text=body.text, author=session.user_name
    )
    return DossierEntry.model_validate(await _call(request, session, Ops.DOSSIER_NOTE, command))
