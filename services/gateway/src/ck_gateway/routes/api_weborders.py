"""JSON API v1 for a school's spending (R-WEB-2..5, R-DOSSIER-1): the same operations as the
Bestellingen pages (Weborders, Schooltoer, Exports), the offer and the Cultuurkaart-dossier, for
schools that work with their own tools. Amounts are integer euro cents."""

from __future__ import annotations

from typing import Annotated
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
from ck_contracts.weborders import (
    MAX_MARK,
    AddNote,
    CancelApproval,
    DecideWeborder,
    Dossier,
    DossierEntry,
    DossierRef,
    MarkParticipants,
    Offering,
    OfferRequest,
    OrderSchooltoer,
    ReapproveWeborder,
    RequestOffering,
    SchooltoerFields,
    SchooltoerOrder,
    SchoolWeborderRef,
    SchoolWeborders,
    SearchOffer,
    Weborder,
    WeborderPage,
    WeborderStatus,
)
from fastapi import APIRouter, Body, Query, Request, Response
from pydantic import BaseModel, Field

from ck_gateway.api_models import error_responses
from ck_gateway.auth import ApiSession
from ck_gateway.errors import forbidden
from ck_gateway.usecases import weborders as usecase
from ck_gateway.usecases.weborders import XLSX

router = APIRouter(
    prefix="/api/v1/schools/{school_id}",
    tags=["spending"],
    responses=error_responses(404),
)


def _check(session: ApiSession, permission: Permission, school_id: UUID) -> None:
    if not session.actor.may(permission, school_id):
        raise forbidden()


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
    return await usecase.weborders(request, session.actor, query)


@router.post(
    "/weborders/{weborder_id}/decision",
    response_model=Weborder,
    summary="Approve or reject a weborder (R-WEB-2)",
    description="Approving starts the debit: the answer's status is `in_behandeling`; the "
    "budget service's answer makes it `goedgekeurd`, or `geweigerd` with the Dutch reason in "
    "`reason` (balance too low: nothing is debited; `refusal_code` and `refusal_params` say "
    "the same for programs, and `reapprovable` whether it may be approved again, see "
    "`/reapproval`). Rejecting needs a reason.",
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
    return await usecase.decide(request, session.actor, command)


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
    return await usecase.cancel_approval(request, session.actor, command)


# --- issue 13: weborder lifecycle --------------------------------------------------------------
class ParticipantChanges(BaseModel):
    add: list[UUID] = Field(default_factory=list, max_length=MAX_MARK)
    remove: list[UUID] = Field(default_factory=list, max_length=MAX_MARK)


@router.get(
    "/weborders/{weborder_id}",
    response_model=Weborder,
    summary="One weborder, with its participants and (when refused) the budget's reason",
)
async def get_weborder(
    request: Request, school_id: UUID, weborder_id: UUID, session: ApiSession
) -> Weborder:
    _check(session, Permission.VIEW_SCHOOL, school_id)
    ref = SchoolWeborderRef(school_id=school_id, weborder_id=weborder_id)
    return await usecase.weborder(request, session.actor, ref)


@router.post(
    "/weborders/{weborder_id}/reapproval",
    response_model=Weborder,
    summary="Approve a weborder again after the budget refused it for lack of balance",
    description="'opnieuw goedkeuren': only for a weborder with status `geweigerd` whose "
    "`reapprovable` is true (refused with `refusal_code` `insufficient_balance`). The approval "
    "saga runs again: the answer's status is `in_behandeling`, then `goedgekeurd` (debited "
    "once) or `geweigerd` again. A refusal because the programme period is over is final "
    "(409 `weborder_refusal_final`); any other status is 409 `weborder_not_refused`. Send an "
    "`Idempotency-Key` to retry safely.",
    responses=error_responses(409),
)
async def reapprove(
    request: Request, school_id: UUID, weborder_id: UUID, session: ApiSession
) -> Weborder:
    _check(session, Permission.APPROVE_WEBORDERS, school_id)
    command = ReapproveWeborder(school_id=school_id, weborder_id=weborder_id)
    return await usecase.reapprove(request, session.actor, command)


@router.post(
    "/weborders/{weborder_id}/participants",
    response_model=Weborder,
    summary="Mark which students took part in a weborder (R-DOSSIER-1)",
    description="`add` and `remove` are person ids of the school's students (the roster's "
    "`person_id`); everyone else stays as they are. Once the weborder is approved the activity "
    "is in each participant's Cultuurkaart-dossier. A person who is not a student on the "
    "school's roster refuses the whole change (422 `participants_not_on_roster`); a rejected "
    "or cancelled weborder takes none (409). The answer lists all `participant_ids`.",
    responses=error_responses(409),
)
async def mark_participants(
    request: Request,
    school_id: UUID,
    weborder_id: UUID,
    session: ApiSession,
    body: ParticipantChanges,
) -> Weborder:
    _check(session, Permission.APPROVE_WEBORDERS, school_id)
    command = MarkParticipants(
        school_id=school_id, weborder_id=weborder_id, add=body.add, remove=body.remove
    )
    return await usecase.mark_participants(request, session.actor, command)


@router.get(
    "/schooltoer",
    response_model=list[SchooltoerOrder],
    summary="Bestellingen > Schooltoer: the transport tickets ordered (R-WEB-4)",
)
async def list_schooltoer(
    request: Request, school_id: UUID, session: ApiSession
) -> list[SchooltoerOrder]:
    _check(session, Permission.VIEW_SCHOOL, school_id)
    return await usecase.schooltoer_orders(request, session.actor, school_id)


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
    return await usecase.order_schooltoer(request, session.actor, command)


@router.get(
    "/spending.xlsx",
    summary="Exports: all spending as an Excel file (R-WEB-5)",
    response_class=Response,
    responses={200: {"content": {XLSX: {}}, "description": "The export as an attachment."}},
)
async def export_spending(request: Request, school_id: UUID, session: ApiSession) -> Response:
    _check(session, Permission.VIEW_SCHOOL, school_id)
    export = await usecase.spending_export(request, session.actor, school_id)
    return Response(
        export.content, media_type=XLSX, headers={"Content-Disposition": export.disposition()}
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
    return await usecase.search_offer(request, session.actor, query)


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
    return await usecase.request_offering(request, session.actor, command)


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
    return await usecase.dossier(request, session.actor, ref)


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
    return await usecase.add_note(request, session.actor, command)
