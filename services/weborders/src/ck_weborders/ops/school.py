"""School operations: weborders to decide (R-WEB-2), Schooltoer (R-WEB-4), the offer
(R-WEB-3), the spending export (R-WEB-5) and the Cultuurkaart-dossier (R-DOSSIER-1).

Every school-scoped operation is checked by the router against the very school id it names
(R-ROLE-6) before its handler runs; handlers find weborders only through that school, so
another school's weborder is "not found".
"""

from __future__ import annotations

import base64
import uuid
from typing import Any

from ck_contracts.audit import AuditAction
from ck_contracts.notifier import MailTemplate
from ck_contracts.roster import RosterKind
from ck_contracts.weborders import (
    SERVICE,
    AddNote,
    CancelApproval,
    DecideWeborder,
    Dossier,
    DossierEntry,
    DossierRef,
    ExportFile,
    MarkParticipants,
    Offering,
    OfferRequest,
    Ops,
    OrderSchooltoer,
    ReapproveWeborder,
    RequestOffering,
    SchoolRef,
    SchooltoerOrder,
    SchooltoerOrdered,
    SchoolWeborderRef,
    SchoolWeborders,
    SearchOffer,
    Weborder,
    WeborderApprovalCancelled,
    WeborderApproved,
    WeborderPage,
    WeborderReapproved,
    WeborderStatus,
)
from ck_contracts.weborders import WebordersReason as R
from ck_runtime import audit
from ck_runtime.clock import amsterdam_today
from ck_runtime.errors import Conflict, NotFound
from ck_runtime.known_schools import require_known_school
from ck_runtime.logs import get_logger
from ck_runtime.outbox import add_to_outbox
from ck_runtime.rpc_server import Call, RpcRouter
from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from ck_weborders import domain, export, mails, store
from ck_weborders.settings import deps_of

log = get_logger(__name__)
router = RpcRouter(SERVICE)
S = WeborderStatus


# --- weborders (R-WEB-2) -------------------------------------------------------------------------
@router.handles(Ops.WEBORDER_LIST)
async def list_weborders(call: Call, request: SchoolWeborders) -> WeborderPage:
    """Newest first; optionally one status."""
    async with call.db.read() as session:
        return await store.weborder_page(
            session,
            store.of_school(request.school_id),
            request.status,
            request.page,
            request.page_size,
        )


async def _school_weborder(
    session: AsyncSession, school_id: uuid.UUID, weborder_id: uuid.UUID
) -> Row[Any]:
    row = await store.weborder_row(
        session, store.one_weborder(weborder_id, store.of_school(school_id))
    )
    if row is None:
        raise NotFound(R.WEBORDER_NOT_FOUND)
    return row


@router.handles(Ops.WEBORDER_DECIDE)
async def decide(call: Call, request: DecideWeborder) -> Weborder:
    """Approve: in_behandeling, and the budget is asked to debit (WeborderApproved); the saga
    ends goedgekeurd or geweigerd. Reject: afgekeurd with the reason. Only from ingediend."""
    actor = call.require_actor()
    reason = domain.rejection_reason(request.approve, request.reason)
    now = call.clock.now()
    async with call.db.transaction() as session:
        row = await _school_weborder(session, request.school_id, request.weborder_id)
        status = S.APPROVING if request.approve else S.REJECTED
        done = await store.move_weborder(
            session,
            store.one_weborder(row.id, store.of_school(request.school_id)),
            S.SUBMITTED,
            status,
            reason=reason,
            decided_at=now,
            decided_by=actor.user_id,
        )
        if not done:
            now_status = await store.status_of(session, row.id)
            raise Conflict(R.WEBORDER_ALREADY_DECIDED, status=now_status.value)
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
        else:  # issue 13: the provider hears of the rejection, with the school's reason
            await mails.weborder_decided(
                session,
                row,
                MailTemplate.WEBORDER_REJECTED,
                deps_of(call).settings.portal_url,
                reason=reason,
            )
        # The rejection's reason is free text: the trail keeps the decision, not the words.
        await audit.record(
            session,
            actor,
            AuditAction.WEBORDER_APPROVED if request.approve else AuditAction.WEBORDER_REJECTED,
            "weborder",
            row.id,
            school_id=row.school_id,
            provider_id=row.provider_id,
            details={"amount_cents": row.amount_cents},
            at=now,
        )
        found = await store.load_weborder(
            session, store.one_weborder(row.id, store.of_school(request.school_id))
        )
    assert found is not None
    log.info("weborder.decided", weborder_id=str(row.id), status=status.value)
    return found


@router.handles(Ops.WEBORDER_CANCEL_APPROVAL)
async def cancel_approval(call: Call, request: CancelApproval) -> Weborder:
    """An approved (debited) weborder is cancelled after the fact: geannuleerd, and the budget
    credits the amount back (WeborderApprovalCancelled -> BudgetCredited)."""
    now = call.clock.now()
    async with call.db.transaction() as session:
        row = await _school_weborder(session, request.school_id, request.weborder_id)
        this = store.one_weborder(row.id, store.of_school(request.school_id))
        done = await store.move_weborder(
            session,
            this,
            S.APPROVED,
            S.CANCELLED,
            reason=request.reason.strip(),
            cancelled_at=now,
        )
        if not done:
            now_status = await store.status_of(session, row.id)
            raise Conflict(R.APPROVAL_NOT_CANCELLABLE, status=now_status.value)
        await add_to_outbox(
            session,
            WeborderApprovalCancelled(
                school_id=row.school_id,
                weborder_id=row.id,
                amount_cents=row.amount_cents,
                # The plain ledger text: budget owns the wording of its credit line.
                description=domain.weborder_description(
                    row.provider_name, row.activity, row.activity_date
                ),
            ),
        )
        await audit.record(
            session,
            call.require_actor(),
            AuditAction.WEBORDER_APPROVAL_CANCELLED,
            "weborder",
            row.id,
            school_id=row.school_id,
            provider_id=row.provider_id,
            details={"amount_cents": row.amount_cents},
            at=now,
        )
        found = await store.load_weborder(session, this)
    assert found is not None
    log.info("weborder.approval_cancelled", weborder_id=str(row.id))
    return found


# --- issue 13: "opnieuw goedkeuren" and the participants ------------------------------------------
@router.handles(Ops.WEBORDER_REAPPROVE)
async def reapprove(call: Call, request: ReapproveWeborder) -> Weborder:
    """A weborder the budget refused for lack of balance is approved again: in_behandeling,
    and the budget is asked once more (WeborderApproved, a new event id: the budget keeps no
    refusal, so it decides afresh; its `debits` key still debits a weborder at most once).
    One conditional update from geweigerd (with a re-approvable refusal code), so two clicks
    at once start one debit; a repeated request id gets the first answer (exactly-once
    commands). WeborderReapproved tells the provider (mails). A refusal because the programme
    period is over is final (REFUSAL_FINAL)."""
    actor = call.require_actor()
    now = call.clock.now()
    async with call.db.transaction() as session:
        row = await _school_weborder(session, request.school_id, request.weborder_id)
        this = store.one_weborder(row.id, store.of_school(request.school_id))
        done = await store.move_weborder(
            session,
            this & store.refusal_in(domain.REAPPROVABLE_REFUSALS),
            S.REFUSED,
            S.APPROVING,
            reason="",
            refusal_code="",
            refusal_params=None,
            attempt=store.next_attempt(),
            decided_at=now,
            decided_by=actor.user_id,
        )
        if not done:
            current = await store.weborder_row(session, this)
            assert current is not None
            if current.status == S.REFUSED.value:
                raise Conflict(R.REFUSAL_FINAL, code=current.refusal_code)
            raise Conflict(R.WEBORDER_NOT_REFUSED, status=current.status)
        found = await store.load_weborder(session, this)
        assert found is not None
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
            WeborderReapproved(
                school_id=row.school_id,
                weborder_id=row.id,
                provider_id=row.provider_id,
                amount_cents=row.amount_cents,
                attempt=found.attempt,
            ),
        )
        # The budget holder approved (again): the same trail entry as the first approval.
        await audit.record(
            session,
            actor,
            AuditAction.WEBORDER_APPROVED,
            "weborder",
            row.id,
            school_id=row.school_id,
            provider_id=row.provider_id,
            details={"amount_cents": row.amount_cents, "attempt": found.attempt},
            at=now,
        )
    log.info("weborder.reapproved", weborder_id=str(row.id), attempt=found.attempt)
    return found


@router.handles(Ops.WEBORDER_GET)
async def get_weborder(call: Call, request: SchoolWeborderRef) -> Weborder:
    async with call.db.read() as session:
        found = await store.load_weborder(
            session, store.one_weborder(request.weborder_id, store.of_school(request.school_id))
        )
    if found is None:
        raise NotFound(R.WEBORDER_NOT_FOUND)
    return found


@router.handles(Ops.PARTICIPANTS_MARK)
async def mark_participants(call: Call, request: MarkParticipants) -> Weborder:
    """The school marks who took part, picked from its roster: students of this school only
    (the roster projection), all or nothing; `add` wins over `remove` for the same person."""
    add = list(dict.fromkeys(request.add))
    remove = [pid for pid in dict.fromkeys(request.remove) if pid not in set(add)]
    async with call.db.transaction() as session:
        row = await _school_weborder(session, request.school_id, request.weborder_id)
        domain.require_markable(row.status)
        if add:
            students = await store.on_roster(
                session, request.school_id, add, RosterKind.STUDENTS.value
            )
            domain.require_participants(add, students)
        added = await store.put_participants(session, row.id, request.school_id, add)
        removed = await store.remove_participants(session, row.id, remove)
        found = await store.load_weborder(
            session, store.one_weborder(row.id, store.of_school(request.school_id))
        )
    assert found is not None
    log.info("weborder.participants_marked", weborder_id=str(row.id), added=added, removed=removed)
    return found


# --- Schooltoer (R-WEB-4) ------------------------------------------------------------------------
@router.handles(Ops.SCHOOLTOER_ORDER)
async def order_schooltoer(call: Call, request: OrderSchooltoer) -> SchooltoerOrder:
    """Spends the collective budget, so only who may approve weborders orders it (the
    operation's permission). Not for a day that has passed (the Dutch calendar day)."""
    actor = call.require_actor()
    domain.require_travel_date(request.travel_date, amsterdam_today(call.clock))
    order = SchooltoerOrder(
        order_id=uuid.uuid4(),
        status=S.APPROVING,
        created_at=call.clock.now(),
        **request.model_dump(),
    )
    async with call.db.transaction() as session:
        await require_known_school(session, request.school_id)
        await store.add_schooltoer(session, order, actor.user_id)
        await add_to_outbox(
            session,
            SchooltoerOrdered(
                school_id=request.school_id,
                order_id=order.order_id,
                amount_cents=request.amount_cents,
                description=domain.schooltoer_description(
                    request.from_place, request.to_place, request.travel_date
                ),
            ),
        )
    log.info("schooltoer.ordered", order_id=str(order.order_id), amount_cents=order.amount_cents)
    return order


@router.handles(Ops.SCHOOLTOER_LIST)
async def list_schooltoer(call: Call, request: SchoolRef) -> list[SchooltoerOrder]:
    async with call.db.read() as session:
        return await store.schooltoer_of(session, request.school_id)


# --- the offer (R-WEB-3) -------------------------------------------------------------------------
@router.handles(Ops.OFFER_SEARCH)
async def search_offer(call: Call, request: SearchOffer) -> list[Offering]:
    """Case-insensitive substring search on title, description and provider name; discipline
    and city match whole (case-insensitive). Sorted by title; offer_page_size per page."""
    async with call.db.read() as session:
        return await store.search_offerings(
            session,
            request.text.strip().lower(),
            request.discipline.strip().lower(),
            request.city.strip().lower(),
            request.page,
            deps_of(call).settings.offer_page_size,
        )


@router.handles(Ops.OFFER_REQUEST)
async def request_offering(call: Call, request: RequestOffering) -> OfferRequest:
    """A Docent+ or budget holder asks a provider for an offering; the provider sees it with
    REQUESTS_OWN and answers with a weborder naming the request."""
    async with call.db.transaction() as session:
        number = await require_known_school(session, request.school_id)
        title = await store.offering_title(session, request.offering_id)
        if title is None:
            raise NotFound(R.OFFERING_NOT_FOUND)
        made = OfferRequest(
            request_id=uuid.uuid4(),
            school_id=request.school_id,
            school_number=number,
            offering_id=request.offering_id,
            offering_title=title,
            message=request.message.strip(),
            requested_by=request.requested_by.strip(),
            created_at=call.clock.now(),
        )
        await store.add_offer_request(session, made)
        provider_id = await store.provider_of_offering(session, request.offering_id)
        if provider_id is not None:  # issue 13: the provider hears of the request
            await mails.offer_requested(
                session, made, provider_id, deps_of(call).settings.portal_url
            )
    log.info(
        "offer.requested", request_id=str(made.request_id), offering_id=str(request.offering_id)
    )
    return made


# --- export (R-WEB-5) ----------------------------------------------------------------------------
@router.handles(Ops.EXPORT)
async def export_spending(call: Call, request: SchoolRef) -> ExportFile:
    async with call.db.read() as session:
        number = await require_known_school(session, request.school_id)
        debited, tours, payments = await store.spending(session, request.school_id)
    content = export.spending_workbook(debited, tours, payments)
    log.info("spending.exported", bytes=len(content))
    return ExportFile(
        filename=export.filename(number, call.clock.now()),
        content_b64=base64.b64encode(content).decode(),
    )


# --- dossier (R-DOSSIER-1) -----------------------------------------------------------------------
async def _require_student(
    session: AsyncSession, school_id: uuid.UUID, person_id: uuid.UUID
) -> None:
    """A dossier is kept per student of the school's roster (the roster events' projection):
    another school's person, a teacher, a removed student or an id nobody has is not found."""
    if not await store.is_student(session, school_id, person_id):
        raise NotFound(R.STUDENT_NOT_ON_ROSTER)


@router.handles(Ops.DOSSIER_GET)
async def get_dossier(call: Call, request: DossierRef) -> Dossier:
    """Activities of approved weborders the student took part in, their card payments and the
    teachers' notes, oldest first. Only this school's records count."""
    async with call.db.read() as session:
        await _require_student(session, request.school_id, request.person_id)
        entries = await store.dossier_entries(session, request.school_id, request.person_id)
    return Dossier(person_id=request.person_id, entries=domain.in_dossier_order(entries))


@router.handles(Ops.DOSSIER_NOTE)
async def add_note(call: Call, request: AddNote) -> DossierEntry:
    now = call.clock.now()
    text, author = request.text.strip(), request.author.strip()
    async with call.db.transaction() as session:
        await require_known_school(session, request.school_id)
        await _require_student(session, request.school_id, request.person_id)
        await store.add_dossier_note(
            session, request.school_id, request.person_id, text, author, now
        )
    log.info("dossier.note_added", person_id=str(request.person_id))
    return domain.note_entry(now, text, author)
