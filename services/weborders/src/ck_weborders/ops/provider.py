"""The provider API (R-ROLE-3, R-WEB-1/3): public operations, authenticated by the API key in
the payload, or (issue 13, the provider portal) by the gateway's signed Actor of a provider
user's session when the payload has no key: then the actor must have role provider and its
provider_id is used, never a provider id from a payload. A provider only ever reaches its own
weborders, offerings and requests (R-ROLE-6): every query is bound to the provider id the key
or actor resolved to. Programs call these, so every refusal is a stable code
(WebordersReason) with params.

A key's last use is recorded at most once a minute (store.touch_key): on the weborder hot path
inside its own transaction, elsewhere in a small transaction of its own only when due.

WEBORDER_CREATE is the hot path: one transaction with one SELECT (key -> provider and school
number -> school, both by unique index; kept for a few seconds, ck_weborders.key_cache) and
one INSERT (ON CONFLICT DO NOTHING on the
idempotency key when the provider sends one). Participants and links to an offering or offer
request cost a statement each only when present.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from ck_contracts.audit import AuditAction
from ck_contracts.roles import Actor, Role
from ck_contracts.rpc import Empty, FieldError
from ck_contracts.weborders import (
    SERVICE,
    ApiKeyInfo,
    CardOutcome,
    CreateWeborder,
    IssuedApiKey,
    NamedCard,
    NameParticipants,
    Offering,
    OfferRequest,
    Ops,
    OwnKeyRef,
    ParticipantsNamed,
    Provider,
    ProviderAuth,
    ProviderList,
    ProviderOfferingRef,
    ProviderWeborderRef,
    PublishOffering,
    Weborder,
    WeborderFields,
    WeborderPage,
    WeborderStatus,
)
from ck_contracts.weborders import WebordersReason as R
from ck_runtime import audit
from ck_runtime.errors import Conflict, Forbidden, Invalid, NotFound, Unauthenticated
from ck_runtime.logs import get_logger
from ck_runtime.rpc_server import Call, RpcRouter
from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from ck_weborders import domain, store
from ck_weborders.key_cache import KeyAndSchool
from ck_weborders.settings import deps_of

log = get_logger(__name__)
router = RpcRouter(SERVICE)

SUBMITTED = WeborderStatus.SUBMITTED


def _invalid(reason: R, field: str) -> Invalid:
    return Invalid(reason, fields={field: FieldError(reason=reason)})


# --- who the provider is: the key, or the portal's provider actor (issue 13) ---------------------
def portal_provider_id(call: Call) -> uuid.UUID:
    """The provider of a portal session: the signed actor's provider_id, role provider only."""
    actor = call.actor
    if actor is None:
        raise Unauthenticated(R.PROVIDER_ACTOR_REQUIRED)
    if actor.role is not Role.PROVIDER or actor.provider_id is None:
        log.warning("provider.actor_refused", role=actor.role.value)
        raise Forbidden()
    return actor.provider_id


async def provider_of(call: Call, session: AsyncSession, request: ProviderAuth) -> Row[Any]:
    """The provider row (with key_id and last_used_at of the key, None for a session)."""
    if request.api_key:
        return await store.provider_by_key(session, deps_of(call).pepper, request.api_key)
    row = await store.provider_by_id(session, portal_provider_id(call))
    if row is None:
        raise Unauthenticated(R.PROVIDER_ACTOR_REQUIRED)
    return row


async def touched(call: Call, provider: Row[Any]) -> None:
    """Record the key's use when due (a read-only call then writes once a minute per key)."""
    now = call.clock.now()
    if provider.key_id is not None and store.key_use_stale(provider.last_used_at, now):
        async with call.db.transaction() as session:
            await store.touch_key(session, provider.key_id, now)


async def touched_in(call: Call, session: AsyncSession, provider: Row[Any]) -> None:
    """touched() inside a write transaction the operation has open anyway."""
    now = call.clock.now()
    if provider.key_id is not None and store.key_use_stale(provider.last_used_at, now):
        await store.touch_key(session, provider.key_id, now)


@router.handles(Ops.PROVIDER_AUTHENTICATE)
async def authenticate(call: Call, request: ProviderAuth) -> Provider:
    async with call.db.read() as session:
        row = await provider_of(call, session, request)
    await touched(call, row)
    return store.provider_from_row(row)


@router.handles(Ops.WEBORDER_CREATE)
async def create_weborder(call: Call, request: CreateWeborder) -> Weborder:
    """R-WEB-1. The same (provider, Idempotency-Key) always answers with the weborder it made
    first, as it is now; the key with another body is a Conflict."""
    fields = request.weborder
    key = request.idempotency_key.strip() or None
    weborder_id, now = uuid.uuid4(), call.clock.now()
    digest = store.key_digest(deps_of(call).pepper, request.api_key) if request.api_key else ""
    cache = deps_of(call).key_cache
    cached = cache.get(digest, fields.school_number, now) if digest else None
    if (
        cached is not None  # only kept with a known school (key_cache)
        and cached.school_id is not None
        and not store.key_use_stale(cached.last_used_at, now)
        and fields.offering_id is None
        and fields.request_id is None
        and not fields.participant_ids
    ):
        # The hot path: nothing to read, one INSERT. Deferred, it goes with the command's
        # record and commit in one hand-over (Database.defer); when the Idempotency-Key was
        # used before, it inserts nothing, the command is rolled back and runs again below.
        values = _weborder_values(weborder_id, cached.school_id, cached.id, fields, key, now)
        if call.db.defer(store.insert_of(call.db, once=key is not None), values, rows=1):
            created = _created(weborder_id, cached.school_id, cached.id, cached.name, fields, now)
            call.db.after_commit(lambda: _log_created(weborder_id, cached.id))
            return created
    async with call.db.transaction() as session:
        if digest:
            found = cache.get(digest, fields.school_number, now)
            if found is None:
                found = await store.provider_and_school(session, digest, fields.school_number)
                cache.put(digest, fields.school_number, found, now)
        else:  # a portal session (issue 13)
            by_id = await store.provider_and_school_by_id(
                session, portal_provider_id(call), fields.school_number
            )
            if by_id is None:
                raise Unauthenticated(R.PROVIDER_ACTOR_REQUIRED)
            found = KeyAndSchool._make(by_id)
        provider_id, provider_name, school_id = found.id, found.name, found.school_id
        if found.key_id is not None and store.key_use_stale(found.last_used_at, now):
            await store.touch_key(session, found.key_id, now)
            cache.used(digest, fields.school_number, now)
        if school_id is None:
            raise _invalid(R.SCHOOL_NUMBER_UNKNOWN, "school_number")
        if fields.offering_id is not None or fields.request_id is not None:
            await _check_links(session, provider_id, school_id, fields)
        values = _weborder_values(weborder_id, school_id, provider_id, fields, key, now)
        fingerprint = values["request_hash"]
        if not await store.add_weborder(session, values, once=key is not None):
            assert key is not None
            return await _original(session, provider_id, key, fingerprint)
        if fields.participant_ids:
            # After the insert: an idempotent replay answers with its original above, even
            # when a participant has left the roster since. A refusal rolls the insert back.
            known = await store.on_roster(session, school_id, fields.participant_ids)
            domain.require_participants(fields.participant_ids, known)
            await store.add_participants(session, weborder_id, school_id, fields.participant_ids)
    _log_created(weborder_id, provider_id)
    return _created(weborder_id, school_id, provider_id, provider_name, fields, now)


def _weborder_values(
    weborder_id: uuid.UUID,
    school_id: uuid.UUID,
    provider_id: uuid.UUID,
    fields: WeborderFields,
    key: str | None,
    now: datetime,
) -> dict[str, Any]:
    return {
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
        "request_hash": domain.request_fingerprint(fields) if key else None,
        "reason": "",
        "created_at": now,
    }


def _created(
    weborder_id: uuid.UUID,
    school_id: uuid.UUID,
    provider_id: uuid.UUID,
    provider_name: str,
    fields: WeborderFields,
    now: datetime,
) -> Weborder:
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


def _log_created(weborder_id: uuid.UUID, provider_id: uuid.UUID) -> None:
    log.info("weborder.created", weborder_id=str(weborder_id), provider_id=str(provider_id))


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
        provider = await provider_of(call, session, request)
        where = store.provider_filters(
            provider.id, request.school_number, request.activity_from, request.activity_to
        )
        page = await store.weborder_page(
            session, where, request.status, request.page, request.page_size
        )
    await touched(call, provider)
    return page


@router.handles(Ops.WEBORDER_GET_OWN)
async def get_own(call: Call, request: ProviderWeborderRef) -> Weborder:
    async with call.db.read() as session:
        provider = await provider_of(call, session, request)
        found = await store.load_weborder(
            session, store.one_weborder(request.weborder_id, store.of_provider(provider.id))
        )
    await touched(call, provider)
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
        provider = await provider_of(call, session, request)
        await touched_in(call, session, provider)
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
    """A new offering, or a change to one of the provider's own (not a withdrawn one)."""
    async with call.db.transaction() as session:
        provider = await provider_of(call, session, request)
        await touched_in(call, session, provider)
        offering = await store.save_offering(
            session, provider, request.offering_id, request.offering, call.clock.now()
        )
        if offering is None:
            assert request.offering_id is not None
            own = await store.own_offering_row(session, provider.id, request.offering_id)
            if own is not None:  # the provider's own, withdrawn
                raise Conflict(R.OFFERING_WITHDRAWN)
            raise NotFound(R.OFFERING_NOT_FOUND)
    log.info(
        "offering.published", offering_id=str(offering.offering_id), provider_id=str(provider.id)
    )
    return offering


@router.handles(Ops.REQUESTS_OWN)
async def requests_own(call: Call, request: ProviderAuth) -> list[OfferRequest]:
    """Offer requests addressed to the provider's offerings, newest first (the latest 500)."""
    async with call.db.read() as session:
        provider = await provider_of(call, session, request)
        found = await store.requests_to_provider(session, provider.id)
    await touched(call, provider)
    return found


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
        provider = await provider_of(call, session, request)
        await touched_in(call, session, provider)
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


# --- provider portal (issue 13) ------------------------------------------------------------------
@router.handles(Ops.OFFERINGS_OWN)
async def offerings_own(call: Call, request: ProviderAuth) -> list[Offering]:
    """The provider's offerings, withdrawn ones last."""
    async with call.db.read() as session:
        provider = await provider_of(call, session, request)
        found = await store.offerings_of(session, provider.id)
    await touched(call, provider)
    return found


@router.handles(Ops.OFFERING_WITHDRAW)
async def withdraw_offering(call: Call, request: ProviderOfferingRef) -> Offering:
    """Out of the offer schools browse, no new requests; withdrawing twice changes nothing.
    Weborders and requests that name it keep their link."""
    async with call.db.transaction() as session:
        provider = await provider_of(call, session, request)
        await touched_in(call, session, provider)
        offering = await store.withdraw_offering(
            session, provider.id, request.offering_id, call.clock.now()
        )
        if offering is None:  # another provider's offering does not exist for this one
            raise NotFound(R.OFFERING_NOT_FOUND)
    log.info("offering.withdrawn", offering_id=str(offering.offering_id))
    return offering


@router.handles(Ops.OWN_KEY_LIST)
async def own_keys(call: Call, _request: Empty) -> list[ApiKeyInfo]:
    async with call.db.read() as session:
        return await store.keys_of(session, portal_provider_id(call))


@router.handles(Ops.OWN_KEY_ISSUE)
async def issue_own_key(call: Call, _request: Empty) -> IssuedApiKey:
    """A new key for the logged-in provider, shown once (as the CJP admin's KEY_ISSUE)."""
    provider_id = portal_provider_id(call)
    secret = domain.new_api_key()
    key_id, now, prefix = uuid.uuid4(), call.clock.now(), domain.display_prefix(secret)
    async with call.db.transaction() as session:
        if not await store.provider_exists(session, provider_id):
            raise NotFound(R.PROVIDER_NOT_FOUND)
        digest = domain.key_hash(deps_of(call).pepper, secret)
        await store.add_api_key(session, key_id, provider_id, digest, prefix, now)
        await audit.record(  # the provider user acts (actor role provider, its provider_id)
            session,
            call.require_actor(),
            AuditAction.API_KEY_ISSUED,
            "api_key",
            key_id,
            provider_id=provider_id,
            at=now,
        )
    log.info("provider.key_issued", provider_id=str(provider_id), key_id=str(key_id), by="portal")
    return IssuedApiKey(key_id=key_id, prefix=prefix, created_at=now, secret=secret)


@router.handles(Ops.OWN_KEY_REVOKE)
async def revoke_own_key(call: Call, request: OwnKeyRef) -> ApiKeyInfo:
    """Only the provider's own key; another provider's key does not exist for this one."""
    provider_id, now = portal_provider_id(call), call.clock.now()
    async with call.db.transaction() as session:
        key = await store.revoke_api_key(session, provider_id, request.key_id, now)
        deps_of(call).key_cache.revoked(now)  # refused at once here (key_cache)
        if key is None:
            raise NotFound(R.API_KEY_NOT_FOUND)
        if key.revoked_at == now:  # revoked by this call (a revoked key stays as it was)
            await audit.record(
                session,
                call.require_actor(),
                AuditAction.API_KEY_REVOKED,
                "api_key",
                key.key_id,
                provider_id=provider_id,
                at=now,
            )
    log.info("provider.key_revoked", provider_id=str(provider_id), key_id=str(key.key_id))
    return key
