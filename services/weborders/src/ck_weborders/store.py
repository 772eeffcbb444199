"""All SQL of the weborders service: reading and writing its tables for the operations (ops/)
and the event consumers (consumers.py). Statements that are the same on every call are built
once (the weborder hot path only binds parameters)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Any, cast

from ck_contracts.roster import RosterKind
from ck_contracts.weborders import (
    ApiKeyInfo,
    DebitKind,
    DossierEntry,
    Offering,
    OfferingFields,
    OfferRequest,
    Provider,
    ProviderFields,
    SchooltoerOrder,
    Weborder,
    WeborderPage,
    WebordersReason,
    WeborderStatus,
)
from ck_runtime.db import Database
from ck_runtime.errors import Unauthenticated
from ck_runtime.known_schools import KNOWN_SCHOOLS
from sqlalchemy import (
    ColumnElement,
    CursorResult,
    Row,
    Table,
    bindparam,
    delete,
    func,
    select,
    update,
)
from sqlalchemy import null as sql_null
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from ck_weborders import domain
from ck_weborders.key_cache import KeyAndSchool
from ck_weborders.tables import (
    api_keys,
    card_payments,
    dossier_notes,
    member_cards,
    offer_requests,
    offerings,
    providers,
    removed_people,
    roster_people,
    schooltoer_orders,
    weborder_participants,
    weborders,
)

S = WeborderStatus
CHUNK = 5_000  # ids per IN (...) list: below both databases' parameter limits


def insert(session: AsyncSession, table: Table) -> Any:
    """The dialect's INSERT (it has ON CONFLICT on both SQLite and PostgreSQL)."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


# --- the school's roster (ids only) --------------------------------------------------------------
async def on_roster(
    session: AsyncSession,
    school_id: uuid.UUID,
    person_ids: Iterable[uuid.UUID],
    kind: str | None = None,
) -> set[uuid.UUID]:
    """Those of `person_ids` who are on this school's roster (of this kind, when given)."""
    ids = list(dict.fromkeys(person_ids))
    if not ids:
        return set()
    query = select(roster_people.c.person_id).where(
        roster_people.c.person_id.in_(ids), roster_people.c.school_id == school_id
    )
    if kind is not None:
        query = query.where(roster_people.c.kind == kind)
    return set((await session.execute(query)).scalars())


# --- API keys ------------------------------------------------------------------------------------
# One indexed query per call, no cache: a revoked key stops working with the next request.
# (Creating a weborder keeps its lookup for a few seconds: ck_weborders.key_cache.)
# The key's id and last use come along for the portal's "last used" (touch_key).
_PROVIDER_BY_KEY = (
    select(providers, api_keys.c.id.label("key_id"), api_keys.c.last_used_at)
    .select_from(api_keys.join(providers, providers.c.id == api_keys.c.provider_id))
    .where(api_keys.c.key_hash == bindparam("key_hash"), api_keys.c.revoked_at.is_(None))
)

# The weborder hot path: the key's provider and the school of the number in one statement
# (unique index on key_hash, unique index on school_number).
_PROVIDER_AND_SCHOOL = (
    select(
        providers.c.id,
        providers.c.name,
        KNOWN_SCHOOLS.c.school_id,
        api_keys.c.id.label("key_id"),
        api_keys.c.last_used_at,
    )
    .select_from(
        api_keys.join(providers, providers.c.id == api_keys.c.provider_id).outerjoin(
            KNOWN_SCHOOLS, KNOWN_SCHOOLS.c.school_number == bindparam("school_number")
        )
    )
    .where(api_keys.c.key_hash == bindparam("key_hash"), api_keys.c.revoked_at.is_(None))
)
# The same for a provider portal session (issue 13): the provider by the actor's id.
_PROVIDER_AND_SCHOOL_BY_ID = (
    select(
        providers.c.id,
        providers.c.name,
        KNOWN_SCHOOLS.c.school_id,
        sql_null().label("key_id"),
        sql_null().label("last_used_at"),
    )
    .select_from(
        providers.outerjoin(
            KNOWN_SCHOOLS, KNOWN_SCHOOLS.c.school_number == bindparam("school_number")
        )
    )
    .where(providers.c.id == bindparam("provider_id"))
)
_PROVIDER_BY_ID = select(
    providers, sql_null().label("key_id"), sql_null().label("last_used_at")
).where(providers.c.id == bindparam("provider_id"))

# A key's last use is written at most once per this interval (touch_key).
KEY_USE_RESOLUTION = timedelta(minutes=1)


def _hash_or_refuse(pepper: bytes, api_key: str) -> str:
    if not domain.plausible_key(api_key):
        raise Unauthenticated(WebordersReason.API_KEY_INVALID)
    return domain.key_hash(pepper, api_key)


async def provider_by_key(session: AsyncSession, pepper: bytes, api_key: str) -> Row[Any]:
    """The provider of a valid, unrevoked key; Unauthenticated otherwise."""
    digest = _hash_or_refuse(pepper, api_key)
    row = (await session.execute(_PROVIDER_BY_KEY, {"key_hash": digest})).first()
    if row is None:
        raise Unauthenticated(WebordersReason.API_KEY_INVALID)
    return row


def key_digest(pepper: bytes, api_key: str) -> str:
    """The stored hash of a key; Unauthenticated for a key of the wrong shape."""
    return _hash_or_refuse(pepper, api_key)


async def provider_and_school(
    session: AsyncSession, digest: str, school_number: int
) -> KeyAndSchool:
    """(id, name: the provider's; school_id: None for an unknown number; key_id,
    last_used_at: the key's) of the key with this hash (key_digest)."""
    params = {"key_hash": digest, "school_number": school_number}
    found = (await session.execute(_PROVIDER_AND_SCHOOL, params)).first()
    if found is None:
        raise Unauthenticated(WebordersReason.API_KEY_INVALID)
    return KeyAndSchool._make(found)


async def provider_by_id(session: AsyncSession, provider_id: uuid.UUID) -> Row[Any] | None:
    """The provider of a portal session (issue 13), shaped like provider_by_key's row (with
    key_id and last_used_at None)."""
    return (await session.execute(_PROVIDER_BY_ID, {"provider_id": provider_id})).first()


async def provider_and_school_by_id(
    session: AsyncSession, provider_id: uuid.UUID, school_number: int
) -> Row[Any] | None:
    """provider_and_school's row for a portal session (issue 13); None: no such provider."""
    params = {"provider_id": provider_id, "school_number": school_number}
    return (await session.execute(_PROVIDER_AND_SCHOOL_BY_ID, params)).first()


def key_use_stale(last_used_at: datetime | None, now: datetime) -> bool:
    """Whether this call should record the key's use (at most once a minute per key)."""
    return last_used_at is None or now - last_used_at >= KEY_USE_RESOLUTION


async def touch_key(session: AsyncSession, key_id: uuid.UUID, now: datetime) -> None:
    """Record the key's use; conditional, so replicas racing for the same minute write once."""
    await session.execute(
        update(api_keys)
        .where(
            api_keys.c.id == key_id,
            (api_keys.c.last_used_at.is_(None))
            | (api_keys.c.last_used_at <= now - KEY_USE_RESOLUTION),
        )
        .values(last_used_at=now)
    )


async def school_by_number(session: AsyncSession, school_number: int) -> uuid.UUID | None:
    """The school id of a CJP school number, from this service's list of known schools."""
    return (
        await session.execute(
            select(KNOWN_SCHOOLS.c.school_id).where(KNOWN_SCHOOLS.c.school_number == school_number)
        )
    ).scalar()


# --- shapes --------------------------------------------------------------------------------------
def provider_from_row(row: Row[Any]) -> Provider:
    return Provider(
        provider_id=row.id,
        name=row.name,
        kvk_number=row.kvk_number,
        contact_name=row.contact_name,
        contact_email=row.contact_email,
        created_at=row.created_at,
    )


def key_from_row(row: Row[Any]) -> ApiKeyInfo:
    return ApiKeyInfo(
        key_id=row.id,
        prefix=row.prefix,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
    )


def offering_from_row(row: Row[Any]) -> Offering:
    return Offering(
        offering_id=row.id,
        provider_id=row.provider_id,
        provider_name=row.provider_name,
        title=row.title,
        description=row.description,
        discipline=row.discipline,
        city=row.city,
        price_cents=row.price_cents,
        updated_at=row.updated_at,
        withdrawn_at=row.withdrawn_at,
    )


OFFERING_COLUMNS = (*offerings.c, providers.c.name.label("provider_name"))


def offering_query() -> Any:
    return select(*OFFERING_COLUMNS).select_from(
        offerings.join(providers, providers.c.id == offerings.c.provider_id)
    )


def request_from_row(row: Row[Any]) -> OfferRequest:
    return OfferRequest(
        request_id=row.id,
        school_id=row.school_id,
        school_number=row.school_number,
        offering_id=row.offering_id,
        offering_title=row.offering_title,
        message=row.message,
        requested_by=row.requested_by,
        created_at=row.created_at,
    )


def schooltoer_from_row(row: Row[Any]) -> SchooltoerOrder:
    return SchooltoerOrder(
        order_id=row.id,
        school_id=row.school_id,
        status=WeborderStatus(row.status),
        reason=row.reason,
        refusal_code=row.refusal_code,
        refusal_params=row.refusal_params or {},
        created_at=row.created_at,
        travel_date=row.travel_date,
        from_place=row.from_place,
        to_place=row.to_place,
        travellers=row.travellers,
        amount_cents=row.amount_cents,
    )


WEBORDER_COLUMNS = (*weborders.c, providers.c.name.label("provider_name"))


def weborder_query() -> Any:
    return select(*WEBORDER_COLUMNS).select_from(
        weborders.join(providers, providers.c.id == weborders.c.provider_id)
    )


def weborder_from_row(row: Row[Any], participant_ids: list[uuid.UUID]) -> Weborder:
    return Weborder(
        weborder_id=row.id,
        school_id=row.school_id,
        provider_id=row.provider_id,
        provider_name=row.provider_name,
        status=WeborderStatus(row.status),
        reason=row.reason,
        refusal_code=row.refusal_code,
        refusal_params=row.refusal_params or {},
        reapprovable=domain.reapprovable(row.status, row.refusal_code),
        attempt=row.attempt,
        created_at=row.created_at,
        decided_at=row.decided_at,
        school_number=row.school_number,
        activity=row.activity,
        activity_date=row.activity_date,
        participants=row.participants,
        amount_cents=row.amount_cents,
        provider_reference=row.provider_reference,
        docent_plus_email=row.docent_plus_email,
        offering_id=row.offering_id,
        request_id=row.request_id,
        participant_ids=participant_ids,
    )


async def participants_of(
    session: AsyncSession, weborder_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, list[uuid.UUID]]:
    ids = list(weborder_ids)
    found: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    for start in range(0, len(ids), CHUNK):
        rows = await session.execute(
            select(weborder_participants.c.weborder_id, weborder_participants.c.person_id)
            .where(weborder_participants.c.weborder_id.in_(ids[start : start + CHUNK]))
            .order_by(weborder_participants.c.weborder_id, weborder_participants.c.person_id)
        )
        for weborder_id, person_id in rows:
            found[weborder_id].append(person_id)
    return found


async def weborders_from_rows(session: AsyncSession, rows: list[Row[Any]]) -> list[Weborder]:
    participants = await participants_of(session, (r.id for r in rows)) if rows else {}
    return [weborder_from_row(r, participants.get(r.id, [])) for r in rows]


async def load_weborder(session: AsyncSession, where: Any) -> Weborder | None:
    row = (await session.execute(weborder_query().where(where))).first()
    if row is None:
        return None
    return (await weborders_from_rows(session, [row]))[0]


def changed(result: Any) -> int:
    """How many rows an UPDATE/INSERT/DELETE touched."""
    return int(cast(CursorResult[Any], result).rowcount)


# --- providers and their keys (CJP admin) --------------------------------------------------------
async def add_provider(
    session: AsyncSession, provider_id: uuid.UUID, fields: ProviderFields, now: datetime
) -> Provider | None:
    """The new provider; None when its KvK number is taken."""
    added = await session.execute(
        insert(session, providers)
        .values(id=provider_id, created_at=now, **fields.model_dump())
        .on_conflict_do_nothing(index_elements=["kvk_number"])
    )
    if changed(added) != 1:
        return None
    row = (await session.execute(select(providers).where(providers.c.id == provider_id))).one()
    return provider_from_row(row)


async def all_providers(session: AsyncSession) -> list[Provider]:
    rows = await session.execute(select(providers).order_by(providers.c.name, providers.c.id))
    return [provider_from_row(r) for r in rows]


async def provider_exists(session: AsyncSession, provider_id: uuid.UUID) -> bool:
    found = await session.execute(select(providers.c.id).where(providers.c.id == provider_id))
    return found.first() is not None


async def add_api_key(
    session: AsyncSession,
    key_id: uuid.UUID,
    provider_id: uuid.UUID,
    digest: str,
    prefix: str,
    now: datetime,
) -> None:
    await session.execute(
        api_keys.insert().values(
            id=key_id, provider_id=provider_id, key_hash=digest, prefix=prefix, created_at=now
        )
    )


async def revoke_api_key(
    session: AsyncSession, provider_id: uuid.UUID, key_id: uuid.UUID, now: datetime
) -> ApiKeyInfo | None:
    """The key as it is after revoking (a revoked key stays as it was); None: no such key."""
    mine = (api_keys.c.id == key_id) & (api_keys.c.provider_id == provider_id)
    await session.execute(
        update(api_keys).where(mine, api_keys.c.revoked_at.is_(None)).values(revoked_at=now)
    )
    row = (await session.execute(select(api_keys).where(mine))).first()
    return None if row is None else key_from_row(row)


async def keys_of(session: AsyncSession, provider_id: uuid.UUID) -> list[ApiKeyInfo]:
    rows = await session.execute(
        select(api_keys)
        .where(api_keys.c.provider_id == provider_id)
        .order_by(api_keys.c.created_at.desc())
    )
    return [key_from_row(r) for r in rows]


# --- weborders -----------------------------------------------------------------------------------
# Built once: the hot path only binds parameters to statements SQLAlchemy has compiled before.
_INSERT = weborders.insert()
_INSERT_ONCE = {
    dialect.__name__.rsplit(".", 1)[-1]: dialect.insert(weborders).on_conflict_do_nothing(
        index_elements=["provider_id", "idempotency_key"]
    )
    for dialect in (postgresql, sqlite)
}


def insert_of(db: Database, *, once: bool) -> Any:
    """add_weborder's statement, for Database.defer (rows=1: with `once`, a key used before
    inserts nothing and the command runs again without deferring)."""
    return _INSERT_ONCE[db.engine.dialect.name] if once else _INSERT


async def add_weborder(session: AsyncSession, values: dict[str, Any], *, once: bool) -> bool:
    """Insert a weborder; with `once` (an idempotency key) False when the provider made one
    under that key before (nothing inserted)."""
    if not once:
        await session.execute(_INSERT, values)
        return True
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    return bool(changed(await session.execute(_INSERT_ONCE[dialect], values)))


async def weborder_by_key(session: AsyncSession, provider_id: uuid.UUID, key: str) -> Row[Any]:
    where = (weborders.c.provider_id == provider_id) & (weborders.c.idempotency_key == key)
    return (await session.execute(weborder_query().where(where))).one()


async def add_participants(
    session: AsyncSession,
    weborder_id: uuid.UUID,
    school_id: uuid.UUID,
    person_ids: Iterable[uuid.UUID],
) -> None:
    await session.execute(
        weborder_participants.insert(),
        [
            {"weborder_id": weborder_id, "person_id": pid, "school_id": school_id}
            for pid in dict.fromkeys(person_ids)
        ],
    )


async def own_offering(
    session: AsyncSession, offering_id: uuid.UUID, provider_id: uuid.UUID
) -> bool:
    found = await session.execute(
        select(offerings.c.id).where(
            offerings.c.id == offering_id, offerings.c.provider_id == provider_id
        )
    )
    return found.first() is not None


async def request_to_provider(
    session: AsyncSession, request_id: uuid.UUID, school_id: uuid.UUID, provider_id: uuid.UUID
) -> bool:
    """The school's offer request for one of the provider's offerings exists."""
    found = await session.execute(
        select(offer_requests.c.id)
        .select_from(offer_requests.join(offerings, offerings.c.id == offer_requests.c.offering_id))
        .where(
            offer_requests.c.id == request_id,
            offer_requests.c.school_id == school_id,
            offerings.c.provider_id == provider_id,
        )
    )
    return found.first() is not None


async def weborder_page(
    session: AsyncSession,
    where: ColumnElement[bool],
    status: WeborderStatus | None,
    page: int,
    page_size: int,
) -> WeborderPage:
    """One page of weborders, newest first, optionally of one status."""
    if status is not None:
        where = where & (weborders.c.status == status.value)
    total = (
        await session.execute(select(func.count()).select_from(weborders).where(where))
    ).scalar_one()
    rows = (
        await session.execute(
            weborder_query()
            .where(where)
            .order_by(weborders.c.created_at.desc(), weborders.c.id)
            .limit(page_size)
            .offset((page - 1) * page_size)
        )
    ).all()
    return WeborderPage(total=total, items=await weborders_from_rows(session, list(rows)))


def of_provider(provider_id: uuid.UUID) -> ColumnElement[bool]:
    return weborders.c.provider_id == provider_id


def provider_filters(
    provider_id: uuid.UUID,
    school_number: int | None,
    activity_from: date | None,
    activity_to: date | None,
) -> ColumnElement[bool]:
    """The provider's weborders, narrowed by the portal's filters (issue 13)."""
    where = of_provider(provider_id)
    if school_number is not None:
        where = where & (weborders.c.school_number == school_number)
    if activity_from is not None:
        where = where & (weborders.c.activity_date >= activity_from)
    if activity_to is not None:
        where = where & (weborders.c.activity_date <= activity_to)
    return where


def of_school(school_id: uuid.UUID) -> ColumnElement[bool]:
    return weborders.c.school_id == school_id


def one_weborder(weborder_id: uuid.UUID, owner: ColumnElement[bool]) -> ColumnElement[bool]:
    return (weborders.c.id == weborder_id) & owner


async def weborder_row(session: AsyncSession, where: ColumnElement[bool]) -> Row[Any] | None:
    return (await session.execute(weborder_query().where(where))).first()


async def move_weborder(
    session: AsyncSession,
    where: ColumnElement[bool],
    from_status: WeborderStatus,
    to: WeborderStatus,
    **values: Any,
) -> bool:
    """A conditional update from one status to another: False when the weborder is not (or no
    longer) in the first (a concurrent request changed it first, and this update waited for
    its commit)."""
    done = await session.execute(
        update(weborders)
        .where(where, weborders.c.status == from_status.value)
        .values(status=to.value, **values)
    )
    return changed(done) == 1


def refusal_in(codes: Iterable[str]) -> ColumnElement[bool]:
    return weborders.c.refusal_code.in_(sorted(codes))


def next_attempt() -> Any:
    return weborders.c.attempt + 1


async def status_of(session: AsyncSession, weborder_id: uuid.UUID) -> WeborderStatus:
    status = (
        await session.execute(select(weborders.c.status).where(weborders.c.id == weborder_id))
    ).scalar_one()
    return WeborderStatus(status)


# --- offerings and offer requests ----------------------------------------------------------------
async def save_offering(
    session: AsyncSession,
    provider: Row[Any],
    offering_id: uuid.UUID | None,
    fields: OfferingFields,
    now: datetime,
) -> Offering | None:
    """A new offering (offering_id None) or a change to one of the provider's own; None when
    the provider has no such offering."""
    values = {
        **fields.model_dump(),
        "discipline_lc": fields.discipline.lower(),
        "city_lc": fields.city.lower(),
        "search_text": "\n".join((fields.title, fields.description, provider.name)).lower(),
        "updated_at": now,
    }
    if offering_id is None:
        offering_id = uuid.uuid4()
        await session.execute(
            offerings.insert().values(id=offering_id, provider_id=provider.id, **values)
        )
    else:
        done = await session.execute(
            update(offerings)
            .where(
                offerings.c.id == offering_id,
                offerings.c.provider_id == provider.id,
                offerings.c.withdrawn_at.is_(None),
            )
            .values(**values)
        )
        if changed(done) != 1:
            return None
    row = (await session.execute(offering_query().where(offerings.c.id == offering_id))).one()
    return offering_from_row(row)


async def own_offering_row(
    session: AsyncSession, provider_id: uuid.UUID, offering_id: uuid.UUID
) -> Offering | None:
    """One of the provider's own offerings (withdrawn or not); None: not the provider's."""
    row = (
        await session.execute(
            offering_query().where(
                offerings.c.id == offering_id, offerings.c.provider_id == provider_id
            )
        )
    ).first()
    return None if row is None else offering_from_row(row)


async def withdraw_offering(
    session: AsyncSession, provider_id: uuid.UUID, offering_id: uuid.UUID, now: datetime
) -> Offering | None:
    """Withdraw one of the provider's own offerings (a withdrawn one stays as it was)."""
    await session.execute(
        update(offerings)
        .where(
            offerings.c.id == offering_id,
            offerings.c.provider_id == provider_id,
            offerings.c.withdrawn_at.is_(None),
        )
        .values(withdrawn_at=now)
    )
    return await own_offering_row(session, provider_id, offering_id)


async def offerings_of(session: AsyncSession, provider_id: uuid.UUID) -> list[Offering]:
    """The provider's own offerings: current ones by title, then the withdrawn ones."""
    rows = await session.execute(
        offering_query()
        .where(offerings.c.provider_id == provider_id)
        .order_by(offerings.c.withdrawn_at.is_not(None), offerings.c.title, offerings.c.id)
    )
    return [offering_from_row(r) for r in rows]


async def requests_to_provider(
    session: AsyncSession, provider_id: uuid.UUID, limit: int = 500
) -> list[OfferRequest]:
    """Offer requests addressed to the provider's offerings, newest first."""
    rows = await session.execute(
        select(offer_requests)
        .select_from(offer_requests.join(offerings, offerings.c.id == offer_requests.c.offering_id))
        .where(offerings.c.provider_id == provider_id)
        .order_by(offer_requests.c.created_at.desc(), offer_requests.c.id)
        .limit(limit)
    )
    return [request_from_row(r) for r in rows]


async def search_offerings(
    session: AsyncSession, text: str, discipline: str, city: str, page: int, size: int
) -> list[Offering]:
    """Case-insensitive substring search on title, description and provider name; discipline
    and city match whole (lower-cased by the caller). Sorted by title."""
    query = offering_query().where(offerings.c.withdrawn_at.is_(None))
    if text:
        query = query.where(offerings.c.search_text.contains(text, autoescape=True))
    if discipline:
        query = query.where(offerings.c.discipline_lc == discipline)
    if city:
        query = query.where(offerings.c.city_lc == city)
    query = query.order_by(offerings.c.title, offerings.c.id).limit(size)
    rows = await session.execute(query.offset((page - 1) * size))
    return [offering_from_row(r) for r in rows]


async def offering_title(session: AsyncSession, offering_id: uuid.UUID) -> str | None:
    title = (
        await session.execute(
            # A withdrawn offering (issue 13) takes no new requests: as if it were gone.
            select(offerings.c.title).where(
                offerings.c.id == offering_id, offerings.c.withdrawn_at.is_(None)
            )
        )
    ).scalar()
    return None if title is None else str(title)


async def add_offer_request(session: AsyncSession, request: OfferRequest) -> None:
    values = request.model_dump(exclude={"request_id"})
    await session.execute(offer_requests.insert().values(id=request.request_id, **values))


# --- Schooltoer ----------------------------------------------------------------------------------
async def add_schooltoer(session: AsyncSession, order: SchooltoerOrder, ordered_by: Any) -> None:
    values = order.model_dump(exclude={"order_id", "status"})
    await session.execute(
        schooltoer_orders.insert().values(
            id=order.order_id, status=order.status.value, ordered_by=ordered_by, **values
        )
    )


async def schooltoer_of(session: AsyncSession, school_id: uuid.UUID) -> list[SchooltoerOrder]:
    rows = await session.execute(
        select(schooltoer_orders)
        .where(schooltoer_orders.c.school_id == school_id)
        .order_by(schooltoer_orders.c.created_at.desc(), schooltoer_orders.c.id)
    )
    return [schooltoer_from_row(r) for r in rows]


# --- the spending export (R-WEB-5) ---------------------------------------------------------------
async def spending(
    session: AsyncSession, school_id: uuid.UUID
) -> tuple[Sequence[Row[Any]], Sequence[Row[Any]], Sequence[Row[Any]]]:
    """(weborders the budget debited, approved Schooltoer orders, card payments), each in the
    order the export lists them."""
    debited = await session.execute(
        select(weborders, providers.c.name.label("provider_name"))
        .select_from(weborders.join(providers, providers.c.id == weborders.c.provider_id))
        .where(weborders.c.school_id == school_id, weborders.c.settled_at.is_not(None))
        .order_by(weborders.c.settled_at, weborders.c.id)
    )
    tours = await session.execute(
        select(schooltoer_orders)
        .where(
            schooltoer_orders.c.school_id == school_id,
            schooltoer_orders.c.status == S.APPROVED.value,
        )
        .order_by(schooltoer_orders.c.travel_date, schooltoer_orders.c.id)
    )
    payments = await session.execute(
        select(card_payments, providers.c.name.label("provider_name"))
        .select_from(
            card_payments.outerjoin(providers, providers.c.id == card_payments.c.provider_id)
        )
        .where(card_payments.c.school_id == school_id)
        .order_by(card_payments.c.paid_at, card_payments.c.id)
    )
    return debited.all(), tours.all(), payments.all()


# --- the Cultuurkaart-dossier (R-DOSSIER-1) ------------------------------------------------------
async def is_student(session: AsyncSession, school_id: uuid.UUID, person_id: uuid.UUID) -> bool:
    return bool(await on_roster(session, school_id, [person_id], RosterKind.STUDENTS.value))


async def dossier_entries(
    session: AsyncSession, school: uuid.UUID, person: uuid.UUID
) -> list[DossierEntry]:
    """Activities of approved weborders the student took part in, their card payments and the
    teachers' notes, unordered. Only this school's records count."""
    entries: list[DossierEntry] = []
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
        entries.append(domain.activity_entry(day, activity, provider))
    payments = await session.execute(
        select(card_payments.c.paid_at, card_payments.c.description, providers.c.name)
        .select_from(
            card_payments.outerjoin(providers, providers.c.id == card_payments.c.provider_id)
        )
        .where(card_payments.c.person_id == person, card_payments.c.school_id == school)
    )
    for paid_at, description, provider in payments:
        entries.append(domain.payment_entry(paid_at, description, provider))
    notes = await session.execute(
        select(dossier_notes.c.at, dossier_notes.c.text, dossier_notes.c.author).where(
            dossier_notes.c.school_id == school, dossier_notes.c.person_id == person
        )
    )
    for at, text, author in notes:
        entries.append(domain.note_entry(at, text, author))
    return entries


async def add_dossier_note(
    session: AsyncSession,
    school_id: uuid.UUID,
    person_id: uuid.UUID,
    text: str,
    author: str,
    at: datetime,
) -> None:
    await session.execute(
        dossier_notes.insert().values(
            id=uuid.uuid4(),
            school_id=school_id,
            person_id=person_id,
            text=text,
            author=author,
            at=at,
        )
    )


# --- the budget's answers in the saga (consumers.py) ---------------------------------------------
async def settle(
    session: AsyncSession,
    kind: DebitKind,
    reference_id: uuid.UUID,
    school_id: uuid.UUID | None,
    values: dict[str, Any],
) -> bool:
    """in_behandeling -> values for a weborder or Schooltoer order; False when it had already
    moved on (or is unknown)."""
    table = weborders if kind is DebitKind.WEBORDER else schooltoer_orders
    where = (table.c.id == reference_id) & (table.c.status == S.APPROVING.value)
    if school_id is not None:
        where = where & (table.c.school_id == school_id)
    return changed(await session.execute(update(table).where(where).values(**values))) == 1


async def mark_credited(session: AsyncSession, weborder_id: uuid.UUID, now: datetime) -> None:
    """A cancelled approval's amount is back on the balance (once)."""
    await session.execute(
        update(weborders)
        .where(
            weborders.c.id == weborder_id,
            weborders.c.status == S.CANCELLED.value,
            weborders.c.credited_at.is_(None),
        )
        .values(credited_at=now)
    )


async def add_card_payment(session: AsyncSession, **values: Any) -> None:
    """Once per payment id (a redelivery changes nothing)."""
    payment_id = values.pop("payment_id")
    await session.execute(
        insert(session, card_payments).values(id=payment_id, **values).on_conflict_do_nothing()
    )


# --- the roster projection (consumers.py) --------------------------------------------------------
async def removed_of(session: AsyncSession, person_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
    """Those of `person_ids` removed from a roster before (tombstones)."""
    ids = list(dict.fromkeys(person_ids))
    if not ids:
        return set()
    query = select(removed_people.c.person_id).where(removed_people.c.person_id.in_(ids))
    return set((await session.execute(query)).scalars())


async def put_on_roster(
    session: AsyncSession, school_id: uuid.UUID, kind: RosterKind, person_ids: list[uuid.UUID]
) -> None:
    rows = [{"person_id": pid, "school_id": school_id, "kind": kind.value} for pid in person_ids]
    if rows:
        await session.execute(insert(session, roster_people).on_conflict_do_nothing(), rows)


async def remove_person(session: AsyncSession, person: uuid.UUID, now: datetime) -> dict[str, int]:
    """Off the roster with a tombstone; their dossier notes and weborder participations
    deleted, their card payments unlinked (R-AVG-2). What was touched, counted."""
    await session.execute(
        insert(session, removed_people)
        .values(person_id=person, removed_at=now)
        .on_conflict_do_nothing()
    )
    await session.execute(delete(roster_people).where(roster_people.c.person_id == person))
    await session.execute(delete(member_cards).where(member_cards.c.person_id == person))
    notes = await session.execute(delete(dossier_notes).where(dossier_notes.c.person_id == person))
    links = await session.execute(
        delete(weborder_participants).where(weborder_participants.c.person_id == person)
    )
    payments = await session.execute(
        update(card_payments).where(card_payments.c.person_id == person).values(person_id=None)
    )
    return {
        "notes": changed(notes),
        "participations": changed(links),
        "card_payments": changed(payments),
    }


async def erase_teacher(
    session: AsyncSession, school: uuid.UUID, email: str, who: list[str]
) -> dict[str, int]:
    """A removed teacher's address and name blanked where they arranged something within the
    school (lower-cased `email` and `who`: the name and the address). What was touched."""
    arranged = 0
    if email:
        done = await session.execute(
            update(weborders)
            .where(
                weborders.c.school_id == school, func.lower(weborders.c.docent_plus_email) == email
            )
            .values(docent_plus_email="")
        )
        arranged = changed(done)
    requests = await session.execute(
        update(offer_requests)
        .where(
            offer_requests.c.school_id == school,
            func.lower(offer_requests.c.requested_by).in_(who),
        )
        .values(requested_by="")
    )
    notes = await session.execute(
        update(dossier_notes)
        .where(dossier_notes.c.school_id == school, func.lower(dossier_notes.c.author).in_(who))
        .values(author="")
    )
    return {"weborders": arranged, "requests": changed(requests), "notes": changed(notes)}


# --- issue 13: the mails that drive the process ---------------------------------------------
async def provider_contact(session: AsyncSession, provider_id: uuid.UUID) -> Row[Any] | None:
    """The provider's name and contact address (the provider's mails go there)."""
    row = (
        await session.execute(
            select(providers.c.name, providers.c.contact_email).where(providers.c.id == provider_id)
        )
    ).first()
    return cast(Row[Any] | None, row)


async def provider_of_offering(session: AsyncSession, offering_id: uuid.UUID) -> uuid.UUID | None:
    found = (
        await session.execute(select(offerings.c.provider_id).where(offerings.c.id == offering_id))
    ).scalar()
    return None if found is None else cast(uuid.UUID, found)


def _undigested(reminder_cutoff: datetime) -> ColumnElement[bool]:
    """Waiting for the budget holder and not yet named as new, or waiting since before the
    cutoff and not yet reminded of."""
    return (weborders.c.status == S.SUBMITTED.value) & (
        weborders.c.digested_at.is_(None)
        | (weborders.c.reminded_at.is_(None) & (weborders.c.created_at <= reminder_cutoff))
    )


async def schools_with_digest(
    session: AsyncSession, reminder_cutoff: datetime, limit: int
) -> list[uuid.UUID]:
    """Schools with something for their budget holders' digest."""
    query = (
        select(weborders.c.school_id)
        .where(_undigested(reminder_cutoff))
        .group_by(weborders.c.school_id)
        .order_by(weborders.c.school_id)
        .limit(limit)
    )
    return [cast(uuid.UUID, school) for school in (await session.execute(query)).scalars()]


async def digest_rows(
    session: AsyncSession, school_id: uuid.UUID, reminder_cutoff: datetime
) -> list[Row[Any]]:
    """The school's weborders for its digest, oldest first."""
    query = (
        weborder_query()
        .where(weborders.c.school_id == school_id, _undigested(reminder_cutoff))
        .order_by(weborders.c.created_at, weborders.c.id)
    )
    return list((await session.execute(query)).all())


async def mark_digested(
    session: AsyncSession,
    new: Sequence[uuid.UUID],
    reminded: Sequence[uuid.UUID],
    now: datetime,
) -> None:
    """Named in a digest: as new (digested_at) and/or as a reminder (reminded_at; a weborder
    reminded of is also no longer new)."""
    for chunk_start in range(0, len(new), CHUNK):
        await session.execute(
            update(weborders)
            .where(
                weborders.c.id.in_(new[chunk_start : chunk_start + CHUNK]),
                weborders.c.digested_at.is_(None),
            )
            .values(digested_at=now)
        )
    for chunk_start in range(0, len(reminded), CHUNK):
        ids = reminded[chunk_start : chunk_start + CHUNK]
        await session.execute(
            update(weborders)
            .where(weborders.c.id.in_(ids), weborders.c.reminded_at.is_(None))
            .values(reminded_at=now, digested_at=func.coalesce(weborders.c.digested_at, now))
        )


# --- issue 13: participants and card numbers -----------------------------------------------------
async def remove_participants(
    session: AsyncSession, weborder_id: uuid.UUID, person_ids: Iterable[uuid.UUID]
) -> int:
    ids = list(dict.fromkeys(person_ids))
    removed = 0
    for start in range(0, len(ids), CHUNK):
        done = await session.execute(
            delete(weborder_participants).where(
                weborder_participants.c.weborder_id == weborder_id,
                weborder_participants.c.person_id.in_(ids[start : start + CHUNK]),
            )
        )
        removed += changed(done)
    return removed


async def put_participants(
    session: AsyncSession,
    weborder_id: uuid.UUID,
    school_id: uuid.UUID,
    person_ids: Iterable[uuid.UUID],
) -> int:
    """Add people to a weborder's participants; those already there stay (ON CONFLICT DO
    NOTHING, so a repeat or two requests at once add each person once). How many were new."""
    rows = [
        {"weborder_id": weborder_id, "person_id": pid, "school_id": school_id}
        for pid in dict.fromkeys(person_ids)
    ]
    if not rows:
        return 0
    before = await _participant_count(session, weborder_id)
    await session.execute(insert(session, weborder_participants).on_conflict_do_nothing(), rows)
    return await _participant_count(session, weborder_id) - before


async def _participant_count(session: AsyncSession, weborder_id: uuid.UUID) -> int:
    return int(
        (
            await session.execute(
                select(func.count())
                .select_from(weborder_participants)
                .where(weborder_participants.c.weborder_id == weborder_id)
            )
        ).scalar_one()
    )


async def put_card(
    session: AsyncSession, card_hash: str, person_id: uuid.UUID, school_id: uuid.UUID
) -> None:
    """A student's card (keyed hash). A number that comes back for another person (a freed
    number reissued) now names the new holder."""
    statement = insert(session, member_cards).values(
        card_hash=card_hash, person_id=person_id, school_id=school_id
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["card_hash"],
            set_={"person_id": statement.excluded.person_id, "school_id": school_id},
        )
    )


async def card_holders(
    session: AsyncSession, school_id: uuid.UUID, hashes: Iterable[str]
) -> dict[str, uuid.UUID]:
    """card hash -> student, for the cards of students on this school's roster."""
    wanted = list(dict.fromkeys(hashes))
    found: dict[str, uuid.UUID] = {}
    for start in range(0, len(wanted), CHUNK):
        rows = await session.execute(
            select(member_cards.c.card_hash, member_cards.c.person_id)
            .select_from(
                member_cards.join(
                    roster_people, roster_people.c.person_id == member_cards.c.person_id
                )
            )
            .where(
                member_cards.c.card_hash.in_(wanted[start : start + CHUNK]),
                member_cards.c.school_id == school_id,
                roster_people.c.school_id == school_id,
                roster_people.c.kind == RosterKind.STUDENTS.value,
            )
        )
        found.update({h: p for h, p in rows})
    return found
