"""What a school does with weborders, Schooltoer, exports, the offer and the
Cultuurkaart-dossier, for the Bestellingen/Aanbod/dossier pages and the spending API alike.
Each is one operation of the weborders service (ck_contracts.weborders.Ops), sent typed."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from uuid import UUID

from ck_contracts.roles import Actor
from ck_contracts.weborders import (
    AddNote,
    CancelApproval,
    DecideWeborder,
    Dossier,
    DossierEntry,
    DossierRef,
    MarkParticipants,
    Offering,
    OfferRequest,
    Ops,
    OrderSchooltoer,
    ReapproveWeborder,
    RequestOffering,
    SchoolRef,
    SchooltoerOrder,
    SchoolWeborderRef,
    SchoolWeborders,
    SearchOffer,
    Weborder,
    WeborderPage,
)
from fastapi import Request

from ck_gateway import backend
from ck_gateway.weborder_views import page_with_reasons, with_reason

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


# A refused weborder's or Schooltoer order's `reason` is filled with the catalogue's Dutch for
# its refusal code (issue 13: the budget sends a code and params, no Dutch).
async def weborders(request: Request, actor: Actor, query: SchoolWeborders) -> WeborderPage:
    return page_with_reasons(await backend.send(request, Ops.WEBORDER_LIST, query, actor=actor))


async def decide(request: Request, actor: Actor, command: DecideWeborder) -> Weborder:
    """Approve (the budget then debits it: status in_behandeling) or reject with a reason."""
    return with_reason(await backend.send(request, Ops.WEBORDER_DECIDE, command, actor=actor))


async def reapprove(request: Request, actor: Actor, command: ReapproveWeborder) -> Weborder:
    """ "opnieuw goedkeuren" (issue 13): a weborder refused for lack of balance runs the approval
    saga again (status in_behandeling)."""
    return with_reason(await backend.send(request, Ops.WEBORDER_REAPPROVE, command, actor=actor))


async def weborder(request: Request, actor: Actor, ref: SchoolWeborderRef) -> Weborder:
    return with_reason(await backend.send(request, Ops.WEBORDER_GET, ref, actor=actor))


async def mark_participants(request: Request, actor: Actor, command: MarkParticipants) -> Weborder:
    """The school marks who took part, from its roster (issue 13, R-DOSSIER-1)."""
    return with_reason(await backend.send(request, Ops.PARTICIPANTS_MARK, command, actor=actor))


async def cancel_approval(request: Request, actor: Actor, command: CancelApproval) -> Weborder:
    return await backend.send(request, Ops.WEBORDER_CANCEL_APPROVAL, command, actor=actor)


async def schooltoer_orders(
    request: Request, actor: Actor, school_id: UUID
) -> list[SchooltoerOrder]:
    orders = await backend.send(
        request, Ops.SCHOOLTOER_LIST, SchoolRef(school_id=school_id), actor=actor
    )
    return [with_reason(order) for order in orders]


async def order_schooltoer(
    request: Request, actor: Actor, command: OrderSchooltoer
) -> SchooltoerOrder:
    """The service refuses a travel date in the past (travel_date_in_past), as the form does."""
    return with_reason(await backend.send(request, Ops.SCHOOLTOER_ORDER, command, actor=actor))


@dataclass(frozen=True)
class Spreadsheet:
    filename: str
    content: bytes

    def disposition(self) -> str:
        return f'attachment; filename="{self.filename.replace(chr(34), "")}"'


async def spending_export(request: Request, actor: Actor, school_id: UUID) -> Spreadsheet:
    """The spending export (R-WEB-5) as a file, with the longer wait for whole files."""
    export = await backend.send(
        request,
        Ops.EXPORT,
        SchoolRef(school_id=school_id),
        actor=actor,
        timeout=backend.file_timeout(request),
    )
    return Spreadsheet(export.filename, base64.b64decode(export.content_b64))


async def search_offer(request: Request, actor: Actor, query: SearchOffer) -> list[Offering]:
    return await backend.send(request, Ops.OFFER_SEARCH, query, actor=actor)


async def request_offering(
    request: Request, actor: Actor, command: RequestOffering
) -> OfferRequest:
    return await backend.send(request, Ops.OFFER_REQUEST, command, actor=actor)


async def dossier(request: Request, actor: Actor, ref: DossierRef) -> Dossier:
    return await backend.send(request, Ops.DOSSIER_GET, ref, actor=actor)


async def add_note(request: Request, actor: Actor, command: AddNote) -> DossierEntry:
    return await backend.send(request, Ops.DOSSIER_NOTE, command, actor=actor)
