"""The provider API (R-ROLE-3, R-WEB-1/3): public operations, authenticated by the API key in
the payload. A provider only ever reaches its own weborders, offerings and requests
(R-ROLE-6): every query is bound to the provider id the key resolved to. Programs call these,
so every refusal is a stable code (WebordersReason) with params.

WEBORDER_CREATE is the hot path: one transaction with one SELECT (key -> provider and school
number -> school, both by unique index) and one INSERT (ON CONFLICT DO NOTHING on the
idempotency key when the provider sends one). Participants and links to an offering or offer
request cost a statement each only when present.
"""

from __future__ import annotations

import uuid

from ck_contracts.audit import AuditAction
from ck_contracts.roles import Actor, Role
from ck_contracts.rpc import FieldError
from ck_contracts.weborders import (
    SERVICE,
    CardOutcome,
    CreateWeborder,
    NamedCard,
    NameParticipants,
    Offering,
    OfferRequest,
    Ops,
    ParticipantsNamed,
    Provider,
    ProviderAuth,
    ProviderList,
    ProviderWeborderRef,
    PublishOffering,
    Weborder,
    WeborderFields,
    WeborderPage,
    WeborderStatus,
)
from ck_contracts.weborders import WebordersReason as R
from ck_runtime import audit
from ck_runtime.errors import Conflict, Invalid, NotFound
from ck_runtime.logs import get_logger
from ck_runtime.rpc_server import Call, RpcRouter
from sqlalchemy.ext.asyncio import AsyncSession

from ck_weborders import domain, store
from ck_weborders.settings import deps_of

log = get_logger(__name__)
router = RpcRouter(SERVICE)

SUBMITTED = WeborderStatus.SUBMITTED


def _invalid(reason: R, field: str) -> Invalid:
    return Invalid(reason, fields={field: FieldError(reason=reason)})


@router.handles(Ops.PROVIDER_AUTHENTICATE)
async def authenticate(call: Call, request: ProviderAuth) -> Provider:
    async with call.db.read() as session:
        row = await store.provider_by_key(session, deps_of(call).pepper, request.api_key)
    return store.provider_from_row(row)


@router.handles(Ops.WEBORDER_CREATE)
async def create_weborder(call: Call, request: CreateWeborder) -> Weborder:
    """R-WEB-1. The same (provider, Idempotency-Key) always answers with the weborder it made
    first, as it is now; the key with another body is a Conflict."""
    fields = request.weborder
    key = request.idempotency_key.strip() or None
    fingerprint = domain.request_fingerprint(fields) if key else None
    weborder_id, now = uuid.uuid4(), call.clock.now()
    async with call.db.transaction() as session:
        provider_id, provider_name, school_id = await store.provider_and_school(
            session, deps_of(call).pepper, request.api_key, fields.school_number
        )
        if school_id is None:
            raise _invalid(R.SCHOOL_NUMBER_UNKNOWN, "school_number")
        if fields.offering_id is not None or fields.request_id is not None:
            await _check_links(session, provider_id, school_id, fields)
        values = {
            "id": weborder_id,
            "school_id": school_id,
            "provider_id": provider_id,
            "status": SUBMITTED.value,
            "school_number": fields.school_number,
            "activity": fields.activity,
            "activity_date": fields.activity_date,
            "participants": fields.participants,
            "amount_cents": fields.amount_cents,
            "provider_reference": fields.provider_reference,
            "docent_plus_email": fields.docent_plus_email,
            "offering_id": fields.offering_id,
            "request_id": fields.request_id,
            "idempotency_key": key,
            "request_hash": fingerprint,
            "reason": "",
            "created_at": now,
        }
        if not await store.add_weborder(session, values, once=key is not None):
            assert key is not None
            return await _original(session, provider_id, key, fingerprint)
        if fields.participant_ids:
            # After the insert: an idempotent replay answers with its original above, even
            # when a participant has left the roster since. A refusal rolls the insert back.
            known = await store.on_roster(session, school_id, fields.participant_ids)
            domain.require_participants(fields.participant_ids, known)
            await store.add_participants(session, weborder_id, school_id, fields.participant_ids)
    log.info("weborder.created", weborder_id=str(weborder_id), provider_id=str(provider_id))
    return Weborder(
        weborder_id=weborder_id,
        school_id=school_id,
        provider_id=provider_id,
        provider_name=provider_name,
        status=SUBMITTED,
        created_at=now,
        **fields.model_dump(exclude={"participant_ids"}),
        participant_ids=list(dict.fromkeys(fields.participant_ids)),
    )


async def _original(
    session: AsyncSession, provider_id: uuid.UUID, key: str, fingerprint: str | None
) -> Weborder:
    row = await store.weborder_by_key(session, provider_id, key)
    if row.request_hash != fingerprint:
        raise Conflict(
            R.IDEMPOTENCY_KEY_REUSED,
            fields={"idempotency_key": FieldError(reason=R.IDEMPOTENCY_KEY_REUSED)},
        )
    log.info("weborder.idempotent_replay", weborder_id=str(row.id), provider_id=str(provider_id))
    return (await store.weborders_from_rows(session, [row]))[0]


async def _check_links(
    session: AsyncSession, provider_id: uuid.UUID, school_id: uuid.UUID, fields: WeborderFields
) -> None:
    """An offering must be the provider's own; a request must be this school's request for
    one of the provider's offerings."""
    if fields.offering_id is not None and not await store.own_offering(
        session, fields.offering_id, provider_id
    ):
        raise _invalid(R.OFFERING_NOT_FOUND, "offering_id")
    if fields.request_id is not None and not await store.request_to_provider(
        session, fields.request_id, school_id, provider_id
    ):
        raise _invalid(R.OFFER_REQUEST_NOT_FOUND, "request_id")


@router.handles(Ops.WEBORDER_LIST_OWN)
async def list_own(call: Call, request: ProviderList) -> WeborderPage:
    async with call.db.read() as session:
        provider = await store.provider_by_key(session, deps_of(call).pepper, request.api_key)
        return await store.weborder_page(
            session, store.of_provider(provider.id), request.status, request.page, request.page_size
        )


@router.handles(Ops.WEBORDER_GET_OWN)
async def get_own(call: Call, request: ProviderWeborderRef) -> Weborder:
    async with call.db.read() as session:
        provider = await store.provider_by_key(session, deps_of(call).pepper, request.api_key)
        found = await store.load_weborder(
            session, store.one_weborder(request.weborder_id, store.of_provider(provider.id))
        )
    if found is None:  # another provider's weborder does not exist for this one
        raise NotFound(R.WEBORDER_NOT_FOUND)
    return found


def _provider_actor(call: Call, provider_id: uuid.UUID) -> Actor:
    """Who acts for the audit trail: the portal's provider user, or for an API key (no user
    behind it) the provider itself, by its id."""
    if call.actor is not None:
        return call.actor
    return Actor(user_id=provider_id, role=Role.PROVIDER, provider_id=provider_id)


@router.handles(Ops.WEBORDER_CANCEL_OWN)
async def cancel_own(call: Call, request: ProviderWeborderRef) -> Weborder:
    """Only before the school decided (ingediend)."""
    now = call.clock.now()
    async with call.db.transaction() as session:
        provider = await store.provider_by_key(session, deps_of(call).pepper, request.api_key)
        mine = store.one_weborder(request.weborder_id, store.of_provider(provider.id))
        done = await store.move_weborder(
            session,
            mine,
            SUBMITTED,
            WeborderStatus.CANCELLED,
            cancelled_at=now,
        )
        found = await store.load_weborder(session, mine)
        if found is None:
            raise NotFound(R.WEBORDER_NOT_FOUND)
        if not done:
            raise Conflict(R.WEBORDER_NOT_CANCELLABLE, status=found.status.value)
        await audit.record(
            session,
            _provider_actor(call, provider.id),
            AuditAction.WEBORDER_CANCELLED,
            "weborder",
            request.weborder_id,
            school_id=found.school_id,
            provider_id=provider.id,
            details={"amount_cents": found.amount_cents},
            at=now,
        )
    log.info("weborder.cancelled_by_provider", weborder_id=str(request.weborder_id))
    return found


@router.handles(Ops.OFFERING_PUBLISH)
async def publish_offering(call: Call, request: PublishOffering) -> Offering:
    """A new offering, or a change to one of the provider's own."""
    async with call.db.transaction() as session:
        provider = await store.provider_by_key(session, deps_of(call).pepper, request.api_key)
        offering = await store.save_offering(
            session, provider, request.offering_id, request.offering, call.clock.now()
        )
        if offering is None:
            raise NotFound(R.OFFERING_NOT_FOUND)
    log.info(
        "offering.published", offering_id=str(offering.offering_id), provider_id=str(provider.id)
    )
    return offering


@router.handles(Ops.REQUESTS_OWN)
async def requests_own(call: Call, request: ProviderAuth) -> list[OfferRequest]:
    """Offer requests addressed to the provider's offerings, newest first (the latest 500)."""
    async with call.db.read() as session:
        provider = await store.provider_by_key(session, deps_of(call).pepper, request.api_key)
        return await store.requests_to_provider(session, provider.id)


# --- issue 13: participants named by CJP card number ---------------------------------------------
@router.handles(Ops.PARTICIPANTS_BY_CARD)
async def name_participants(call: Call, request: NameParticipants) -> ParticipantsNamed:
    """The provider names who took part by CJP card number. Each number is looked up as a keyed
    hash among the cards of this school's students (member_cards, from MembershipActivated):
    known ones are added (once), an unknown number (not a card, another school's, a removed
    student's) gets its own result with a reason, and the others are added all the same.
    Card numbers are not logged; the answer echoes them (the provider's own input)."""
    deps = deps_of(call)
    async with call.db.transaction() as session:
        provider = await store.provider_by_key(session, deps.pepper, request.api_key)
        mine = store.one_weborder(request.weborder_id, store.of_provider(provider.id))
        row = await store.weborder_row(session, mine)
        if row is None:
            raise NotFound(R.WEBORDER_NOT_FOUND)
        domain.require_markable(row.status)
        hashes = [domain.card_hash(deps.card_key, number) for number in request.card_numbers]
        holders = await store.card_holders(session, row.school_id, hashes)
        before = set((await store.participants_of(session, [row.id])).get(row.id, []))
        await store.put_participants(session, row.id, row.school_id, holders.values())
    results: list[NamedCard] = []
    seen: set[object] = set()
    for number, digest in zip(request.card_numbers, hashes, strict=True):
        person = holders.get(digest)
        if person is None:
            results.append(
                NamedCard(card_number=number, outcome=CardOutcome.UNKNOWN, reason=R.CARD_UNKNOWN)
            )
        elif person in before or person in seen:
            results.append(NamedCard(card_number=number, outcome=CardOutcome.ALREADY))
        else:
            seen.add(person)
            results.append(NamedCard(card_number=number, outcome=CardOutcome.ADDED))
    named = ParticipantsNamed(
        weborder_id=row.id,
        added=sum(r.outcome is CardOutcome.ADDED for r in results),
        already_named=sum(r.outcome is CardOutcome.ALREADY for r in results),
        unknown=sum(r.outcome is CardOutcome.UNKNOWN for r in results),
        results=results,
    )
    log.info(
        "weborder.participants_named",
        weborder_id=str(row.id),
        added=named.added,
        already_named=named.already_named,
        unknown=named.unknown,
    )
    return named
