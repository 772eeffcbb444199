"""Reading and writing the accounts tables: every SQL statement of the service is here.

Functions take the caller's session (the caller decides the transaction) and return rows, the
contracts' models or plain values; they raise no service errors.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, cast

from ck_contracts.accounts import DocentPlusAccess, ProviderUser, School, SchoolSettings
from ck_contracts.roles import Role
from ck_runtime.db import erases_personal_data
from sqlalchemy import CursorResult, Result, Row, Select, case, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from ck_accounts import domain
from ck_accounts.tables import (
    login_throttle,
    password_links,
    provider_names,
    schools,
    sessions,
    teacher_memberships,
    users,
)


def _rowcount(result: Result[Any]) -> int:
    return cast(CursorResult[Any], result).rowcount


def _upsert(session: AsyncSession) -> Any:
    """INSERT with ON CONFLICT for the session's database."""
    postgres = session.bind is not None and session.bind.dialect.name == "postgresql"
    return postgresql.insert if postgres else sqlite.insert


# --- the log-in throttle -------------------------------------------------------------------------
def _throttle(row: Row[Any]) -> domain.Throttle:
    return domain.Throttle(
        row.failures,
        row.first_failure_at,
        row.last_failure_at,
        free=domain.free_attempts(row.bucket),
    )


async def throttles(session: AsyncSession, buckets: list[str]) -> list[domain.Throttle]:
    rows = await session.execute(select(login_throttle).where(login_throttle.c.bucket.in_(buckets)))
    return [_throttle(row) for row in rows]


async def record_failure(
    session: AsyncSession, buckets: list[str], now: datetime
) -> list[domain.Throttle]:
    """One more failure in each bucket (domain.after_failure) in one statement, race-free on
    both databases: a missing row is inserted, a conflicting one is counted up, or started
    again when its window has passed. Simultaneous first failures never meet a unique
    violation (a read-then-insert gave them a 500) and none is lost."""
    table = login_throttle
    statement = _upsert(session)(table).values(
        [
            {"bucket": b, "failures": 1, "first_failure_at": now, "last_failure_at": now}
            for b in buckets
        ]
    )
    new = statement.excluded
    expired = table.c.first_failure_at < now - domain.FAILURE_WINDOW
    upsert = statement.on_conflict_do_update(
        index_elements=["bucket"],
        set_={
            "failures": case((expired, 1), else_=table.c.failures + 1),
            "first_failure_at": case(
                (expired, new.first_failure_at), else_=table.c.first_failure_at
            ),
            "last_failure_at": case(
                (table.c.last_failure_at < new.last_failure_at, new.last_failure_at),
                else_=table.c.last_failure_at,
            ),
        },
    ).returning(table.c.bucket, table.c.failures, table.c.first_failure_at, table.c.last_failure_at)
    return [_throttle(row) for row in (await session.execute(upsert)).all()]


async def forgive_failures(session: AsyncSession, bucket: str) -> None:
    await session.execute(delete(login_throttle).where(login_throttle.c.bucket == bucket))


# --- users ---------------------------------------------------------------------------------------
async def user_by_email(session: AsyncSession, email: str) -> Row[Any] | None:
    return (await session.execute(select(users).where(users.c.email == email))).first()


async def email_taken(session: AsyncSession, email: str) -> bool:
    taken = select(users.c.id).where(users.c.email == email)
    return (await session.execute(taken)).first() is not None


async def add_user(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    email: str,
    name: str,
    role: Role,
    now: datetime,
    school_id: uuid.UUID | None = None,
    person_id: uuid.UUID | None = None,
    password_hash: str | None = None,
    provider_id: uuid.UUID | None = None,
) -> None:
    await session.execute(
        insert(users).values(
            id=user_id,
            email=email,
            name=name,
            role=role,
            school_id=school_id,
            person_id=person_id,
            provider_id=provider_id,
            password_hash=password_hash,
            active=True,
            created_at=now,
        )
    )


async def set_password_hash(
    session: AsyncSession, user_id: uuid.UUID, hashed: str, *, replacing: str | None = None
) -> None:
    """Store a new hash (and switch the account on); with `replacing`, only while the stored
    hash is still that one (a rehash at log-in loses to a password set meanwhile)."""
    statement = update(users).where(users.c.id == user_id)
    if replacing is not None:
        statement = statement.where(users.c.password_hash == replacing).values(password_hash=hashed)
    else:
        statement = statement.values(password_hash=hashed)
    await session.execute(statement)


async def activate_with_password(session: AsyncSession, user_id: uuid.UUID, hashed: str) -> None:
    await session.execute(
        update(users).where(users.c.id == user_id).values(password_hash=hashed, active=True)
    )


async def set_password_by_email(session: AsyncSession, email: str, hashed: str) -> None:
    await session.execute(update(users).where(users.c.email == email).values(password_hash=hashed))


# --- sessions ------------------------------------------------------------------------------------
# The user with their school, in one query: the gateway resolves a session on every request.
# Provider users (issue 13) get their provider's name the same way, from provider_names.
_USER_WITH_SCHOOL = (
    select(
        users,
        schools.c.school_number,
        schools.c.name.label("school_name"),
        provider_names.c.name.label("provider_name"),
    )
    .outerjoin(schools, schools.c.id == users.c.school_id)
    .outerjoin(provider_names, provider_names.c.id == users.c.provider_id)
)
_SESSION_USER = _USER_WITH_SCHOOL.add_columns(
    sessions.c.expires_at.label("session_expires_at")
).join(sessions, sessions.c.user_id == users.c.id)


async def open_session(
    session: AsyncSession, token: str, user_id: uuid.UUID, now: datetime
) -> datetime:
    """Store the new session (its token hashed); returns when it expires."""
    expires_at = now + domain.SESSION_LIFETIME
    await session.execute(
        insert(sessions).values(
            token_hash=domain.token_hash(token),
            user_id=user_id,
            created_at=now,
            expires_at=expires_at,
        )
    )
    return expires_at


async def user_with_school(session: AsyncSession, user_id: uuid.UUID) -> Row[Any] | None:
    return (await session.execute(_USER_WITH_SCHOOL.where(users.c.id == user_id))).first()


async def session_user(session: AsyncSession, token: str) -> Row[Any] | None:
    """The session's user with their school and `session_expires_at`, or None."""
    query = _SESSION_USER.where(sessions.c.token_hash == domain.token_hash(token))
    return (await session.execute(query)).first()


async def end_session(session: AsyncSession, token: str) -> None:
    await session.execute(delete(sessions).where(sessions.c.token_hash == domain.token_hash(token)))


async def end_sessions_of(session: AsyncSession, user_id: uuid.UUID) -> None:
    await session.execute(delete(sessions).where(sessions.c.user_id == user_id))


# --- password links ------------------------------------------------------------------------------
async def issue_password_link(session: AsyncSession, user_id: uuid.UUID, now: datetime) -> str:
    """A new link for the user; returns its token (only its hash is stored)."""
    token = domain.new_token()
    await session.execute(
        insert(password_links).values(
            token_hash=domain.token_hash(token),
            user_id=user_id,
            created_at=now,
            expires_at=now + domain.PASSWORD_LINK_LIFETIME,
        )
    )
    return token


async def password_link(session: AsyncSession, token: str) -> Row[Any] | None:
    """The link with its user's email, name and active flag, or None."""
    query = (
        select(password_links, users.c.email, users.c.name, users.c.active)
        .join(users, users.c.id == password_links.c.user_id)
        .where(password_links.c.token_hash == domain.token_hash(token))
    )
    return (await session.execute(query)).first()


async def use_password_link(session: AsyncSession, token: str, now: datetime) -> bool:
    """Mark the link used; False when it was used already. used_at IS NULL in the WHERE: of
    two simultaneous uses, exactly one wins."""
    result = await session.execute(
        update(password_links)
        .where(
            password_links.c.token_hash == domain.token_hash(token),
            password_links.c.used_at.is_(None),
        )
        .values(used_at=now)
    )
    return _rowcount(result) == 1


# --- schools -------------------------------------------------------------------------------------
def _school(row: Row[Any]) -> School:
    return School(
        school_id=row.id,
        school_number=row.school_number,
        name=row.name,
        brin_codes=row.brin_codes,
        locations=row.locations,
        duo_student_count=row.duo_student_count,
        contacts=row.contacts,
        default_order_reference=row.default_order_reference,
        street=row.street,
        postcode=row.postcode,
        city=row.city,
    )


_SETTINGS_COLUMNS = (
    "name",
    "brin_codes",
    "locations",
    "duo_student_count",
    "contacts",
    "default_order_reference",
    "street",
    "postcode",
    "city",
)


def _settings_row(settings: SchoolSettings) -> dict[str, Any]:
    data = settings.model_dump(mode="json")
    return {k: data[k] for k in _SETTINGS_COLUMNS}


async def highest_school_number(session: AsyncSession) -> int | None:
    highest = (await session.execute(select(func.max(schools.c.school_number)))).scalar()
    return None if highest is None else int(highest)


async def add_school(
    session: AsyncSession,
    school_id: uuid.UUID,
    school_number: int,
    settings: SchoolSettings,
    now: datetime,
) -> None:
    await session.execute(
        insert(schools).values(
            id=school_id,
            school_number=school_number,
            created_at=now,
            updated_at=now,
            **_settings_row(settings),
        )
    )


async def school(session: AsyncSession, school_id: uuid.UUID) -> School | None:
    row = (await session.execute(select(schools).where(schools.c.id == school_id))).first()
    return None if row is None else _school(row)


async def update_school(
    session: AsyncSession, school_id: uuid.UUID, settings: SchoolSettings, now: datetime
) -> School | None:
    """The school with its new settings, or None when there is no such school."""
    result = await session.execute(
        update(schools)
        .where(schools.c.id == school_id)
        .values(updated_at=now, **_settings_row(settings))
    )
    if _rowcount(result) != 1:
        return None
    return await school(session, school_id)


async def all_schools(session: AsyncSession) -> list[School]:
    rows = (await session.execute(select(schools).order_by(schools.c.school_number))).all()
    return [_school(r) for r in rows]


# --- Docent+ (R-ROLE-2) --------------------------------------------------------------------------
def _access(row: Row[Any]) -> DocentPlusAccess:
    return DocentPlusAccess(
        person_id=row.person_id,
        user_id=row.id,
        email=row.email,
        name=row.name,
        granted_at=row.created_at,
    )


def _docent_plus_of(school_id: uuid.UUID) -> Select[Any]:
    return select(users).where(
        users.c.school_id == school_id, users.c.role == Role.DOCENT_PLUS.value
    )


async def docent_plus_list(session: AsyncSession, school_id: uuid.UUID) -> list[DocentPlusAccess]:
    query = _docent_plus_of(school_id).order_by(users.c.name, users.c.email)
    return [_access(r) for r in (await session.execute(query)).all()]


async def docent_plus_access(
    session: AsyncSession, school_id: uuid.UUID, person_id: uuid.UUID
) -> DocentPlusAccess | None:
    query = _docent_plus_of(school_id).where(users.c.person_id == person_id)
    row = (await session.execute(query)).first()
    return None if row is None else _access(row)


async def delete_docent_plus(
    session: AsyncSession, person_id: uuid.UUID, school_id: uuid.UUID | None = None
) -> uuid.UUID | None:
    """Delete the teacher's Docent+ account with its sessions and password links, at once;
    the user id, or None when the teacher (at that school) had no Docent+ account.

    The account is deleted, not switched off: removed people's personal data goes (R-AVG-2),
    and the e-mail address is free for a later grant.
    """
    query = select(users.c.id).where(
        users.c.person_id == person_id, users.c.role == Role.DOCENT_PLUS.value
    )
    if school_id is not None:
        query = query.where(users.c.school_id == school_id)
    user_id = (await session.execute(query)).scalar()
    if user_id is None:
        return None
    erases_personal_data(session)  # no copy of the account stays in the files either
    # The foreign keys cascade too; explicit deletes do not depend on the backend's settings.
    await session.execute(delete(sessions).where(sessions.c.user_id == user_id))
    await session.execute(delete(password_links).where(password_links.c.user_id == user_id))
    await session.execute(delete(users).where(users.c.id == user_id))
    return uuid.UUID(str(user_id))


# --- the teachers' memberships (a projection of membership and roster events) -------------------
async def teacher_membership(
    session: AsyncSession, person_id: uuid.UUID, *, lock: bool = False
) -> Row[Any] | None:
    """The teacher's membership row; `lock`: FOR UPDATE (PostgreSQL) until the commit."""
    query = select(teacher_memberships).where(teacher_memberships.c.person_id == person_id)
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).first()


async def add_teacher_membership(
    session: AsyncSession,
    person_id: uuid.UUID,
    school_id: uuid.UUID,
    *,
    active: bool,
    removed: bool,
    changed_at: datetime,
) -> None:
    await session.execute(
        insert(teacher_memberships).values(
            person_id=person_id,
            school_id=school_id,
            active=active,
            removed=removed,
            changed_at=changed_at,
        )
    )


async def change_teacher_membership(
    session: AsyncSession,
    person_id: uuid.UUID,
    *,
    active: bool,
    removed: bool,
    changed_at: datetime,
) -> None:
    await session.execute(
        update(teacher_memberships)
        .where(teacher_memberships.c.person_id == person_id)
        .values(active=active, removed=removed, changed_at=changed_at)
    )


# --- provider users (issue 13) -------------------------------------------------------------------
async def keep_provider_name(session: AsyncSession, provider_id: uuid.UUID, name: str) -> None:
    """The provider's name as the weborders service has it now (insert or update)."""
    statement = _upsert(session)(provider_names).values(id=provider_id, name=name)
    await session.execute(
        statement.on_conflict_do_update(index_elements=["id"], set_={"name": name})
    )


async def provider_users(session: AsyncSession, provider_id: uuid.UUID) -> list[ProviderUser]:
    rows = await session.execute(
        select(users)
        .where(users.c.provider_id == provider_id, users.c.role == Role.PROVIDER.value)
        .order_by(users.c.name, users.c.id)
    )
    return [
        ProviderUser(
            user_id=row.id,
            provider_id=row.provider_id,
            name=row.name,
            email=row.email,
            created_at=row.created_at,
            password_set=row.password_hash is not None,
        )
        for row in rows
    ]


# --- issue 13: who receives a school's budget-holder mails ----------------------------------------
async def budget_holders_of(session: AsyncSession, school_id: uuid.UUID) -> list[Row[Any]]:
    """The school's active budget holders (id, e-mail, name), in a stable order."""
    return cast(
        list[Row[Any]],
        list(
            (
                await session.execute(
                    select(users.c.id, users.c.email, users.c.name)
                    .where(
                        users.c.school_id == school_id,
                        users.c.role == Role.BUDGET_HOLDER.value,
                        users.c.active.is_(True),
                    )
                    .order_by(users.c.id)
                )
            ).all()
        ),
    )
