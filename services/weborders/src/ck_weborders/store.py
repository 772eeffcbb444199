"""Reading and writing the weborders tables."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from ck_contracts.weborders import (
    ApiKeyInfo,
    Offering,
    OfferRequest,
    Provider,
    SchooltoerOrder,
    Weborder,
    WeborderStatus,
)
from ck_runtime.errors import Unauthenticated
from ck_runtime.known_schools import KNOWN_SCHOOLS
from sqlalchemy import Row, Table, bindparam, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from ck_weborders import domain
from ck_weborders.tables import (
    api_keys,
    offerings,
    providers,
    roster_people,
    weborder_participants,
    weborders,
)

BAD_KEY = "Deze API-sleutel is ongeldig of ingetrokken."
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
_PROVIDER_BY_KEY = (
    select(providers)
    .select_from(api_keys.join(providers, providers.c.id == api_keys.c.provider_id))
    .where(api_keys.c.key_hash == bindparam("key_hash"), api_keys.c.revoked_at.is_(None))
)

# The weborder hot path: the key's provider and the school of the number in one statement
# (unique index on key_hash, unique index on school_number).
_PROVIDER_AND_SCHOOL = (
    select(providers.c.id, providers.c.name, KNOWN_SCHOOLS.c.school_id)
    .select_from(
        api_keys.join(providers, providers.c.id == api_keys.c.provider_id).outerjoin(
            KNOWN_SCHOOLS, KNOWN_SCHOOLS.c.school_number == bindparam("school_number")
        )
    )
    .where(api_keys.c.key_hash == bindparam("key_hash"), api_keys.c.revoked_at.is_(None))
)


def _hash_or_refuse(pepper: bytes, api_key: str) -> str:
    if not domain.plausible_key(api_key):
        raise Unauthenticated(BAD_KEY)
    return domain.key_hash(pepper, api_key)


async def provider_by_key(session: AsyncSession, pepper: bytes, api_key: str) -> Row[Any]:
    """The provider of a valid, unrevoked key; Unauthenticated otherwise."""
    digest = _hash_or_refuse(pepper, api_key)
    row = (await session.execute(_PROVIDER_BY_KEY, {"key_hash": digest})).first()
    if row is None:
        raise Unauthenticated(BAD_KEY)
    return row


async def provider_and_school(
    session: AsyncSession, pepper: bytes, api_key: str, school_number: int
) -> tuple[uuid.UUID, str, uuid.UUID | None]:
    """(provider id, provider name, school id or None for an unknown number)."""
    digest = _hash_or_refuse(pepper, api_key)
    row = (
        await session.execute(
            _PROVIDER_AND_SCHOOL, {"key_hash": digest, "school_number": school_number}
        )
    ).first()
    if row is None:
        raise Unauthenticated(BAD_KEY)
    return row.id, row.name, row.school_id


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
        key_id=row.id, prefix=row.prefix, created_at=row.created_at, revoked_at=row.revoked_at
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
