"""The provider API (R-ROLE-3, R-WEB-1/3): public operations, authenticated by the API key in
the payload. A provider only ever reaches its own weborders, offerings and requests
(R-ROLE-6): every query is bound to the provider id the key resolved to.

WEBORDER_CREATE is the hot path: one transaction with one SELECT (key -> provider and school
number -> school, both by unique index) and one INSERT (ON CONFLICT DO NOTHING on the
idempotency key when the provider sends one). Participants and links to an offering or offer
request cost a statement each only when present.
"""

from __future__ import annotations

import uuid
from typing import Any

from ck_contracts.messaging import utcnow
from ck_contracts.weborders import (
    CreateWeborder,
    Offering,
    OfferRequest,
    Ops,
    Provider,
    ProviderAuth,
    ProviderList,
    ProviderWeborderRef,
    PublishOffering,
    Weborder,
    WeborderPage,
    WeborderStatus,
)
from ck_runtime.errors import Conflict, Invalid, NotFound
from ck_runtime.logs import get_logger
from ck_runtime.rpc_server import Call
from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from ck_weborders import domain, store
from ck_weborders.deps import deps_of, router
from ck_weborders.tables import (
    offer_requests,
    offerings,
    weborder_participants,
    weborders,
)

log = get_logger(__name__)

SUBMITTED = WeborderStatus.SUBMITTED.value
UNKNOWN_SCHOOL_NUMBER = "Onbekend CJP-schoolnummer."
UNKNOWN_WEBORDER = "Deze weborder bestaat niet."
UNKNOWN_OFFERING = "Dit aanbod bestaat niet."
REUSED_KEY = (
    "Deze Idempotency-Key is al gebruikt voor een andere weborder. Gebruik voor een nieuwe "
    "weborder een nieuwe sleutel."
)
NOT_CANCELLABLE = {
    WeborderStatus.APPROVING.value: "Deze weborder is al goedgekeurd door de school en kan niet "
    "meer worden geannuleerd.",
    WeborderStatus.APPROVED.value: "Deze weborder is al goedgekeurd door de school en kan niet "
    "meer worden geannuleerd.",
    WeborderStatus.REFUSED.value: "Deze weborder is geweigerd en kan niet meer worden geannuleerd.",
    WeborderStatus.REJECTED.value: "Deze weborder is afgekeurd en kan niet meer worden "
    "geannuleerd.",
    WeborderStatus.CANCELLED.value: "Deze weborder is al geannuleerd.",
}


# Built once: the hot path only binds parameters to statements SQLAlchemy has compiled before.
_INSERT = weborders.insert()
_INSERT_ONCE = {
    dialect.__name__.rsplit(".", 1)[-1]: dialect.insert(weborders).on_conflict_do_nothing(
        index_elements=["provider_id", "idempotency_key"]
    )
    for dialect in (postgresql, sqlite)
}


def _insert_once(session: Any) -> Any:
    return _INSERT_ONCE[session.bind.dialect.name]


@router.op(Ops.PROVIDER_AUTHENTICATE, ProviderAuth, public=True)
async def authenticate(call: Call, request: ProviderAuth) -> Provider:
    async with call.db.read() as session:
        row = await store.provider_by_key(session, deps_of(call).pepper, request.api_key)
    return store.provider_from_row(row)


@router.op(Ops.WEBORDER_CREATE, CreateWeborder, public=True)
async def create_weborder(call: Call, request: CreateWeborder) -> Weborder:
    """R-WEB-1. The same (provider, Idempotency-Key) always answers with the weborder it made
    first, as it is now; the key with another body is a Conflict."""
    fields = request.weborder
    key = request.idempotency_key.strip() or None
    fingerprint = domain.request_fingerprint(fields) if key else None
    weborder_id, now = uuid.uuid4(), utcnow()
    async with call.db.transaction() as session:
        provider_id, provider_name, school_id = await store.provider_and_school(
            session, deps_of(call).pepper, request.api_key, fields.school_number
        )
        if school_id is None:
            raise Invalid(UNKNOWN_SCHOOL_NUMBER, fields={"school_number": UNKNOWN_SCHOOL_NUMBER})
        if fields.offering_id is not None or fields.request_id is not None:
            await _check_links(session, provider_id, school_id, fields)
        values = {
            "id": weborder_id,
            "school_id": school_id,
            "provider_id": provider_id,
            "status": SUBMITTED,
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
        if key is None:
            await session.execute(_INSERT, values)
        elif not (await session.execute(_insert_once(session), values)).rowcount:
            return await _original(session, provider_id, key, fingerprint)
        if fields.participant_ids:
            # After the insert: an idempotent replay answers with its original above, even
            # when a participant has left the roster since. A refusal rolls the insert back.
            await _check_participants(session, school_id, fields.participant_ids)
            await session.execute(
                weborder_participants.insert(),
                [
                    {"weborder_id": weborder_id, "person_id": pid, "school_id": school_id}
                    for pid in dict.fromkeys(fields.participant_ids)
                ],
            )
    log.info("weborder.created", weborder_id=str(weborder_id), provider_id=str(provider_id))
    return Weborder(
        weborder_id=weborder_id,
        school_id=school_id,
        provider_id=provider_id,
        provider_name=provider_name,
        status=WeborderStatus.SUBMITTED,
        created_at=now,
        **fields.model_dump(exclude={"participant_ids"}),
        participant_ids=list(dict.fromkeys(fields.participant_ids)),
    )


async def _original(
    session: Any, provider_id: uuid.UUID, key: str, fingerprint: str | None
) -> Weborder:
    where = (weborders.c.provider_id == provider_id) & (weborders.c.idempotency_key == key)
    row = (await session.execute(store.weborder_query().where(where))).one()
    if row.request_hash != fingerprint:
        raise Conflict(REUSED_KEY, fields={"idempotency_key": REUSED_KEY})
    log.info("weborder.idempotent_replay", weborder_id=str(row.id), provider_id=str(provider_id))
    return (await store.weborders_from_rows(session, [row]))[0]


async def _check_participants(
    session: Any, school_id: uuid.UUID, person_ids: list[uuid.UUID]
) -> None:
    """Participants must be on the school's roster (R-DOSSIER-1, R-ROLE-6): no dossier entry
    for another school's person or an id nobody has."""
    known = await store.on_roster(session, school_id, person_ids)
    unknown = [str(pid) for pid in dict.fromkeys(person_ids) if pid not in known]
    if unknown:
        shown = ", ".join(unknown[:5]) + (", ..." if len(unknown) > 5 else "")
        message = f"{len(unknown)} deelnemer(s) staan niet in de lijst van deze school: {shown}."
        raise Invalid(message, fields={"participant_ids": message})


async def _check_links(
    session: Any, provider_id: uuid.UUID, school_id: uuid.UUID, fields: Any
) -> None:
    """An offering must be the provider's own; a request must be this school's request for
    one of the provider's offerings."""
    if fields.offering_id is not None:
        own = await session.execute(
            select(offerings.c.id).where(
                offerings.c.id == fields.offering_id, offerings.c.provider_id == provider_id
            )
        )
        if own.first() is None:
            raise Invalid(UNKNOWN_OFFERING, fields={"offering_id": UNKNOWN_OFFERING})
    if fields.request_id is not None:
        found = await session.execute(
            select(offer_requests.c.id)
            .select_from(
                offer_requests.join(offerings, offerings.c.id == offer_requests.c.offering_id)
            )
            .where(
                offer_requests.c.id == fields.request_id,
                offer_requests.c.school_id == school_id,
                offerings.c.provider_id == provider_id,
            )
        )
        if found.first() is None:
            message = "Deze aanvraag bestaat niet of is van een andere school."
            raise Invalid(message, fields={"request_id": message})


@router.op(Ops.WEBORDER_LIST_OWN, ProviderList, public=True)
async def list_own(call: Call, request: ProviderList) -> WeborderPage:
    async with call.db.read() as session:
        provider = await store.provider_by_key(session, deps_of(call).pepper, request.api_key)
        where = weborders.c.provider_id == provider.id
        if request.status is not None:
            where = where & (weborders.c.status == request.status.value)
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


@router.op(Ops.WEBORDER_GET_OWN, ProviderWeborderRef, public=True)
async def get_own(call: Call, request: ProviderWeborderRef) -> Weborder:
    async with call.db.read() as session:
        provider = await store.provider_by_key(session, deps_of(call).pepper, request.api_key)
        found = await store.load_weborder(
            session,
            (weborders.c.id == request.weborder_id) & (weborders.c.provider_id == provider.id),
        )
    if found is None:  # another provider's weborder does not exist for this one
        raise NotFound(UNKNOWN_WEBORDER)
    return found


@router.op(Ops.WEBORDER_CANCEL_OWN, ProviderWeborderRef, public=True)
async def cancel_own(call: Call, request: ProviderWeborderRef) -> Weborder:
    """Only before the school decided (ingediend)."""
    async with call.db.transaction() as session:
        provider = await store.provider_by_key(session, deps_of(call).pepper, request.api_key)
        mine = (weborders.c.id == request.weborder_id) & (weborders.c.provider_id == provider.id)
        done = await session.execute(
            update(weborders)
            .where(mine, weborders.c.status == SUBMITTED)
            .values(status=WeborderStatus.CANCELLED.value, cancelled_at=utcnow())
        )
        found = await store.load_weborder(session, mine)
        if found is None:
            raise NotFound(UNKNOWN_WEBORDER)
        if done.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict(NOT_CANCELLABLE.get(found.status.value, "Deze weborder is gewijzigd."))
    log.info("weborder.cancelled_by_provider", weborder_id=str(request.weborder_id))
    return found


@router.op(Ops.OFFERING_PUBLISH, PublishOffering, public=True)
async def publish_offering(call: Call, request: PublishOffering) -> Offering:
    """A new offering, or a change to one of the provider's own."""
    fields = request.offering
    now = utcnow()
    async with call.db.transaction() as session:
        provider = await store.provider_by_key(session, deps_of(call).pepper, request.api_key)
        values = {
            **fields.model_dump(),
            "discipline_lc": fields.discipline.lower(),
            "city_lc": fields.city.lower(),
            "search_text": "\n".join((fields.title, fields.description, provider.name)).lower(),
            "updated_at": now,
        }
        if request.offering_id is None:
            offering_id = uuid.uuid4()
            await session.execute(
                offerings.insert().values(id=offering_id, provider_id=provider.id, **values)
            )
        else:
            offering_id = request.offering_id
            changed = await session.execute(
                update(offerings)
                .where(offerings.c.id == offering_id, offerings.c.provider_id == provider.id)
                .values(**values)
            )
            if changed.rowcount != 1:  # type: ignore[attr-defined]
                raise NotFound(UNKNOWN_OFFERING)
        row = (
            await session.execute(store.offering_query().where(offerings.c.id == offering_id))
        ).one()
    log.info("offering.published", offering_id=str(offering_id), provider_id=str(provider.id))
    return store.offering_from_row(row)


@router.op(Ops.REQUESTS_OWN, ProviderAuth, public=True)
async def requests_own(call: Call, request: ProviderAuth) -> list[OfferRequest]:
    """Offer requests addressed to the provider's offerings, newest first (the latest 500)."""
    async with call.db.read() as session:
        provider = await store.provider_by_key(session, deps_of(call).pepper, request.api_key)
        rows = await session.execute(
            select(offer_requests)
            .select_from(
                offer_requests.join(offerings, offerings.c.id == offer_requests.c.offering_id)
            )
            .where(offerings.c.provider_id == provider.id)
            .order_by(offer_requests.c.created_at.desc(), offer_requests.c.id)
            .limit(500)
        )
        return [store.request_from_row(r) for r in rows]
