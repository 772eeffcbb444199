"""School operations: weborders to decide (R-WEB-2), Schooltoer (R-WEB-4), the offer
(R-WEB-3), the spending export (R-WEB-5) and the Cultuurkaart-dossier (R-DOSSIER-1).

Every operation checks the actor's permission for the very school id it names
(`Call.require`, R-ROLE-6), and finds weborders only through that school: another school's
weborder is "not found".
"""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime
from typing import Any

from ck_contracts.messaging import utcnow
from ck_contracts.roles import Permission
from ck_contracts.roster import RosterKind
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
    SchooltoerOrder,
    SchooltoerOrdered,
    SchoolWeborders,
    SearchOffer,
    Weborder,
    WeborderApprovalCancelled,
    WeborderApproved,
    WeborderPage,
    WeborderStatus,
)
from ck_runtime.errors import Conflict, Invalid, NotFound
from ck_runtime.known_schools import require_known_school
from ck_runtime.logs import get_logger
from ck_runtime.outbox import add_to_outbox
from ck_runtime.rpc_server import Call
from sqlalchemy import func, select, update

from ck_weborders import domain, export, store
from ck_weborders.deps import deps_of, router
from ck_weborders.tables import (
    card_payments,
    dossier_notes,
    offer_requests,
    offerings,
    providers,
    schooltoer_orders,
    weborder_participants,
    weborders,
)

log = get_logger(__name__)

S = WeborderStatus
UNKNOWN_WEBORDER = "Deze weborder bestaat niet."
CHANGED = "Deze weborder is intussen gewijzigd. Vernieuw de pagina."
REASON_REQUIRED = "Geef een reden op waarom u deze weborder afkeurt."
DECIDED = {
    S.APPROVING.value: "Deze weborder is al goedgekeurd; de betaling wordt verwerkt.",
    S.APPROVED.value: "Deze weborder is al goedgekeurd.",
    S.REFUSED.value: "Deze weborder is al geweigerd.",
    S.REJECTED.value: "Deze weborder is al afgekeurd.",
    S.CANCELLED.value: "Deze weborder is geannuleerd.",
}
NOT_CANCELLABLE = {
    S.SUBMITTED.value: "Deze weborder is nog niet goedgekeurd. Keur hem af als de school hem "
    "niet wil.",
    S.APPROVING.value: "De goedkeuring van deze weborder wordt nog verwerkt. Probeer het zo "
    "opnieuw.",
    S.REFUSED.value: "Deze weborder is geweigerd; er is niets afgeschreven.",
    S.REJECTED.value: "Deze weborder is afgekeurd; er is niets afgeschreven.",
    S.CANCELLED.value: "Deze weborder is al geannuleerd.",
}


# --- weborders (R-WEB-2) -------------------------------------------------------------------------
@router.op(Ops.WEBORDER_LIST, SchoolWeborders, permission=Permission.VIEW_SCHOOL)
async def list_weborders(call: Call, request: SchoolWeborders) -> WeborderPage:
    """Newest first; optionally one status."""
    call.require(Permission.VIEW_SCHOOL, request.school_id)
    where = weborders.c.school_id == request.school_id
    if request.status is not None:
        where = where & (weborders.c.status == request.status.value)
    async with call.db.read() as session:
        total = (
            await session.execute(select(func.count()).select_from(weborders).where(where))
        ).scalar_one()
        rows = (
            await session.execute(
                store.weborder_query()
                .where(where)
                .order_by(weborders.c.created_at.desc(), weborders.c.id)
                .limit(request.page_size)
                .offset((request.page - 1) * request.page_size)
            )
        ).all()
        return WeborderPage(total=total, items=await store.weborders_from_rows(session, rows))


async def _school_weborder(session: Any, school_id: uuid.UUID, weborder_id: uuid.UUID) -> Any:
    row = (
        await session.execute(
            store.weborder_query().where(
                weborders.c.id == weborder_id, weborders.c.school_id == school_id
            )
        )
    ).first()
    if row is None:
        raise NotFound(UNKNOWN_WEBORDER)
    return row


async def _status(session: Any, weborder_id: uuid.UUID) -> str:
    """The status as it is now: another request may have changed it since it was read (the
    conditional update waited for that request's commit)."""
    status = (
        await session.execute(select(weborders.c.status).where(weborders.c.id == weborder_id))
    ).scalar_one()
    return str(status)


@router.op(Ops.WEBORDER_DECIDE, DecideWeborder, permission=Permission.APPROVE_WEBORDERS)
async def decide(call: Call, request: DecideWeborder) -> Weborder:
    """Approve: in_behandeling, and the budget is asked to debit (WeborderApproved); the saga
    ends goedgekeurd or geweigerd. Reject: afgekeurd with the reason. Only from ingediend."""
    actor = call.require(Permission.APPROVE_WEBORDERS, request.school_id)
    reason = request.reason.strip()
    if not request.approve and not reason:
        raise Invalid(REASON_REQUIRED, fields={"reason": REASON_REQUIRED})
    now = utcnow()
    async with call.db.transaction() as session:
        row = await _school_weborder(session, request.school_id, request.weborder_id)
        status = S.APPROVING if request.approve else S.REJECTED
        done = await session.execute(
            update(weborders)
            .where(weborders.c.id == row.id, weborders.c.status == S.SUBMITTED.value)
            .values(
                status=status.value,
                reason="" if request.approve else reason,
                decided_at=now,
                decided_by=actor.user_id,
            )
        )
        if done.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict(DECIDED.get(await _status(session, row.id), CHANGED))
        if request.approve:
            await add_to_outbox(
                session,
                WeborderApproved(
                    school_id=row.school_id,
                    weborder_id=row.id,
                    provider_id=row.provider_id,
                    amount_cents=row.amount_cents,
                    description=domain.weborder_description(
                        row.provider_name, row.activity, row.activity_date
                    ),
                ),
            )
        found = await store.load_weborder(session, weborders.c.id == row.id)
    assert found is not None
    log.info("weborder.decided", weborder_id=str(row.id), status=status.value)
    return found


@router.op(Ops.WEBORDER_CANCEL_APPROVAL, CancelApproval, permission=Permission.APPROVE_WEBORDERS)
async def cancel_approval(call: Call, request: CancelApproval) -> Weborder:
    """An approved (debited) weborder is cancelled after the fact: geannuleerd, and the budget
    credits the amount back (WeborderApprovalCancelled -> BudgetCredited)."""
    call.require(Permission.APPROVE_WEBORDERS, request.school_id)
    now = utcnow()
    async with call.db.transaction() as session:
        row = await _school_weborder(session, request.school_id, request.weborder_id)
        done = await session.execute(
            update(weborders)
            .where(weborders.c.id == row.id, weborders.c.status == S.APPROVED.value)
            .values(status=S.CANCELLED.value, reason=request.reason.strip(), cancelled_at=now)
        )
        if done.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict(NOT_CANCELLABLE.get(await _status(session, row.id), CHANGED))
        await add_to_outbox(
            session,
            WeborderApprovalCancelled(
                school_id=row.school_id,
                weborder_id=row.id,
                amount_cents=row.amount_cents,
                description=domain.cancellation_description(
                    row.provider_name, row.activity, row.activity_date
                ),
            ),
        )
        found = await store.load_weborder(session, weborders.c.id == row.id)
    assert found is not None
    log.info("weborder.approval_cancelled", weborder_id=str(row.id))
    return found


# --- Schooltoer (R-WEB-4) ------------------------------------------------------------------------
@router.op(Ops.SCHOOLTOER_ORDER, OrderSchooltoer, permission=Permission.APPROVE_WEBORDERS)
async def order_schooltoer(call: Call, request: OrderSchooltoer) -> SchooltoerOrder:
    """Spends the collective budget, so only who may approve weborders orders it."""
    actor = call.require(Permission.APPROVE_WEBORDERS, request.school_id)
    order_id, now = uuid.uuid4(), utcnow()
    fields = request.model_dump(exclude={"school_id"})
    async with call.db.transaction() as session:
        await require_known_school(session, request.school_id)
        await session.execute(
            schooltoer_orders.insert().values(
                id=order_id,
                school_id=request.school_id,
                status=S.APPROVING.value,
                reason="",
                ordered_by=actor.user_id,
                created_at=now,
                **fields,
            )
        )
        await add_to_outbox(
            session,
            SchooltoerOrdered(
                school_id=request.school_id,
                order_id=order_id,
                amount_cents=request.amount_cents,
                description=domain.schooltoer_description(
                    request.from_place, request.to_place, request.travel_date
                ),
            ),
        )
    log.info("schooltoer.ordered", order_id=str(order_id), amount_cents=request.amount_cents)
    return SchooltoerOrder(
        order_id=order_id,
        school_id=request.school_id,
        status=S.APPROVING,
        created_at=now,
        **fields,
    )


@router.op(Ops.SCHOOLTOER_LIST, SchoolRef, permission=Permission.VIEW_SCHOOL)
async def list_schooltoer(call: Call, request: SchoolRef) -> list[SchooltoerOrder]:
    call.require(Permission.VIEW_SCHOOL, request.school_id)
    async with call.db.read() as session:
        rows = await session.execute(
            select(schooltoer_orders)
            .where(schooltoer_orders.c.school_id == request.school_id)
            .order_by(schooltoer_orders.c.created_at.desc(), schooltoer_orders.c.id)
        )
        return [store.schooltoer_from_row(r) for r in rows]


# --- the offer (R-WEB-3) -------------------------------------------------------------------------
@router.op(Ops.OFFER_SEARCH, SearchOffer, permission=Permission.BROWSE_OFFER)
async def search_offer(call: Call, request: SearchOffer) -> list[Offering]:
    """Case-insensitive substring search on title, description and provider name; discipline
    and city match whole (case-insensitive). Sorted by title; offer_page_size per page."""
    size = deps_of(call).settings.offer_page_size
    query = store.offering_query()
    if text := request.text.strip().lower():
        query = query.where(offerings.c.search_text.contains(text, autoescape=True))
    if discipline := request.discipline.strip().lower():
        query = query.where(offerings.c.discipline_lc == discipline)
    if city := request.city.strip().lower():
        query = query.where(offerings.c.city_lc == city)
    query = query.order_by(offerings.c.title, offerings.c.id).limit(size)
    async with call.db.read() as session:
        rows = await session.execute(query.offset((request.page - 1) * size))
        return [store.offering_from_row(r) for r in rows]


@router.op(Ops.OFFER_REQUEST, RequestOffering, permission=Permission.REQUEST_OFFER)
async def request_offering(call: Call, request: RequestOffering) -> OfferRequest:
    """A Docent+ or budget holder asks a provider for an offering; the provider sees it with
    REQUESTS_OWN and answers with a weborder naming the request."""
    call.require(Permission.REQUEST_OFFER, request.school_id)
    request_id, now = uuid.uuid4(), utcnow()
    async with call.db.transaction() as session:
        number = await require_known_school(session, request.school_id)
        title = (
            await session.execute(
                select(offerings.c.title).where(offerings.c.id == request.offering_id)
            )
        ).scalar()
        if title is None:
            raise NotFound("Dit aanbod bestaat niet.")
        values = {
            "id": request_id,
            "school_id": request.school_id,
            "school_number": number,
            "offering_id": request.offering_id,
            "offering_title": title,
            "message": request.message.strip(),
            "requested_by": request.requested_by.strip(),
            "created_at": now,
        }
        await session.execute(offer_requests.insert().values(**values))
    log.info("offer.requested", request_id=str(request_id), offering_id=str(request.offering_id))
    return OfferRequest(request_id=request_id, **{k: v for k, v in values.items() if k != "id"})


# --- export (R-WEB-5) ----------------------------------------------------------------------------
@router.op(Ops.EXPORT, SchoolRef, permission=Permission.VIEW_SCHOOL)
async def export_spending(call: Call, request: SchoolRef) -> ExportFile:
    call.require(Permission.VIEW_SCHOOL, request.school_id)
    async with call.db.read() as session:
        number = await require_known_school(session, request.school_id)
        content = await export.spending_workbook(session, request.school_id)
    now = datetime.now(UTC)
    log.info("spending.exported", bytes=len(content))
    return ExportFile(
        filename=export.filename(number, now),
        content_b64=base64.b64encode(content).decode(),
    )


# --- dossier (R-DOSSIER-1) -----------------------------------------------------------------------
NOT_A_STUDENT = "Deze student staat niet (meer) in de lijst van de school."


async def _require_student(session: Any, school_id: uuid.UUID, person_id: uuid.UUID) -> None:
    """A dossier is kept per student of the school's roster (the roster events' projection):
    another school's person, a teacher, a removed student or an id nobody has is not found."""
    if not await store.on_roster(session, school_id, [person_id], RosterKind.STUDENTS.value):
        raise NotFound(NOT_A_STUDENT)


@router.op(Ops.DOSSIER_GET, DossierRef, permission=Permission.VIEW_DOSSIER)
async def get_dossier(call: Call, request: DossierRef) -> Dossier:
    """Activities of approved weborders the student took part in, their card payments and the
    teachers' notes, oldest first. Only this school's records count."""
    call.require(Permission.VIEW_DOSSIER, request.school_id)
    school, person = request.school_id, request.person_id
    entries: list[DossierEntry] = []
    async with call.db.read() as session:
        await _require_student(session, school, person)
        activities = await session.execute(
            select(weborders.c.activity_date, weborders.c.activity, providers.c.name)
            .select_from(
                weborder_participants.join(
                    weborders, weborders.c.id == weborder_participants.c.weborder_id
                ).join(providers, providers.c.id == weborders.c.provider_id)
            )
            .where(
                weborder_participants.c.person_id == person,
                weborder_participants.c.school_id == school,
                weborders.c.school_id == school,
                weborders.c.status == S.APPROVED.value,
            )
        )
        for day, activity, provider in activities:
            entries.append(DossierEntry(at=day, kind="activiteit", text=f"{activity} ({provider})"))
        payments = await session.execute(
            select(card_payments.c.paid_at, card_payments.c.description, providers.c.name)
            .select_from(
                card_payments.outerjoin(providers, providers.c.id == card_payments.c.provider_id)
            )
            .where(card_payments.c.person_id == person, card_payments.c.school_id == school)
        )
        for paid_at, description, provider in payments:
            text = f"{description} ({provider})" if provider else description
            entries.append(
                DossierEntry(at=domain.local_date(paid_at), kind="kaartbetaling", text=text)
            )
        notes = await session.execute(
            select(dossier_notes.c.at, dossier_notes.c.text, dossier_notes.c.author).where(
                dossier_notes.c.school_id == school, dossier_notes.c.person_id == person
            )
        )
        for at, text, author in notes:
            entries.append(
                DossierEntry(at=domain.local_date(at), kind="notitie", text=text, author=author)
            )
    order = {"activiteit": 0, "kaartbetaling": 1, "notitie": 2}
    entries.sort(key=lambda e: (e.at, order.get(e.kind, 3)))
    return Dossier(person_id=person, entries=entries)


@router.op(Ops.DOSSIER_NOTE, AddNote, permission=Permission.WRITE_DOSSIER_NOTE)
async def add_note(call: Call, request: AddNote) -> DossierEntry:
    call.require(Permission.WRITE_DOSSIER_NOTE, request.school_id)
    now = utcnow()
    async with call.db.transaction() as session:
        await require_known_school(session, request.school_id)
        await _require_student(session, request.school_id, request.person_id)
        await session.execute(
            dossier_notes.insert().values(
                id=uuid.uuid4(),
                school_id=request.school_id,
                person_id=request.person_id,
                text=request.text.strip(),
                author=request.author.strip(),
                at=now,
            )
        )
    log.info("dossier.note_added", person_id=str(request.person_id))
    return DossierEntry(
        at=domain.local_date(now),
        kind="notitie",
        text=request.text.strip(),
        author=request.author.strip(),
    )
