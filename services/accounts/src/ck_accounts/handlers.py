"""Commands and queries of the accounts service (thin: load, apply domain rules, save + outbox)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from ck_contracts.accounts import (
    DocentPlusAccess,
    DocentPlusGrant,
    DocentPlusList,
    DocentPlusRef,
    Login,
    LoginResult,
    Ops,
    PasswordLink,
    PasswordLinkInfo,
    RegisteredSchool,
    RegisterSchool,
    School,
    SchoolRef,
    SchoolRegistered,
    SchoolSettings,
    SchoolSettingsChanged,
    SessionInfo,
    SessionToken,
    SetPassword,
    UpdateSchool,
)
from ck_contracts.messaging import utcnow
from ck_contracts.notifier import EmailRequested, MailTemplate
from ck_contracts.roles import Actor, Permission, Role
from ck_contracts.rpc import Empty
from ck_runtime.db import Database
from ck_runtime.errors import Conflict, Invalid, NotFound, Throttled, Unauthenticated
from ck_runtime.logs import get_logger
from ck_runtime.outbox import add_to_outbox
from ck_runtime.rpc_server import Call, RpcRouter
from sqlalchemy import case, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ck_accounts import domain
from ck_accounts.passwords import hash_password, rehash_if_needed, verify_password
from ck_accounts.tables import (
    login_throttle,
    password_links,
    schools,
    sessions,
    teacher_memberships,
    users,
)
from ck_accounts.teachers import end_docent_plus

log = get_logger(__name__)
router = RpcRouter()

WRONG_LOGIN = "Onjuist e-mailadres of wachtwoord."
LINK_UNUSABLE = "Deze link is al gebruikt of verlopen. Vraag CJP om een nieuwe link."


# --- log-in and sessions -------------------------------------------------------------------------
def _insert(session: AsyncSession) -> Any:
    """INSERT with ON CONFLICT for the session's database."""
    postgres = session.bind is not None and session.bind.dialect.name == "postgresql"
    return postgresql.insert if postgres else sqlite.insert


def _buckets(email: str, client: str | None) -> list[str]:
    """The throttle buckets of a log-in, sorted (concurrent upserts lock rows in one order)."""
    found = [domain.account_bucket(email)]
    if client:
        found.append(domain.address_bucket(client))
    return sorted(found)


async def _throttles_of(session: AsyncSession, buckets: list[str]) -> list[domain.Throttle]:
    rows = await session.execute(select(login_throttle).where(login_throttle.c.bucket.in_(buckets)))
    return [
        domain.Throttle(
            row.failures,
            row.first_failure_at,
            row.last_failure_at,
            free=domain.free_attempts(row.bucket),
        )
        for row in rows
    ]


async def _record_failure(db: Database, buckets: list[str], now: datetime) -> list[domain.Throttle]:
    """One more failure in each bucket (domain.after_failure) in one statement, race-free on
    both databases: a missing row is inserted, a conflicting one is counted up, or started
    again when its window has passed. Simultaneous first failures never meet a unique
    violation (the old read-then-insert gave them a 500) and none is lost."""
    table = login_throttle
    async with db.transaction() as session:
        statement = _insert(session)(table).values(
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
        ).returning(
            table.c.bucket, table.c.failures, table.c.first_failure_at, table.c.last_failure_at
        )
        rows = (await session.execute(upsert)).all()
    return [
        domain.Throttle(
            r.failures, r.first_failure_at, r.last_failure_at, free=domain.free_attempts(r.bucket)
        )
        for r in rows
    ]


def _throttled(lock: timedelta) -> Throttled:
    seconds = int(lock.total_seconds()) + 1
    return Throttled(
        f"Te veel mislukte pogingen. Probeer het over {seconds} seconden opnieuw.",
        retry_after_seconds=seconds,
    )


@router.op(Ops.LOGIN, Login, public=True)
async def login(call: Call, cmd: Login) -> LoginResult:
    email = domain.normalise_email(cmd.email)
    buckets = _buckets(email, cmd.client)
    # The throttle is checked before any hashing: a locked account or address costs no CPU.
    # Unknown accounts are counted and locked alike, so a lock says nothing about existence.
    async with call.db.read() as session:
        throttles = await _throttles_of(session, buckets)
        if (locked := domain.longest_lock(throttles, call.clock.now())) is not None:
            log.info("login.throttled")
            raise _throttled(locked)
        user = (await session.execute(select(users).where(users.c.email == email))).first()
    stored = user.password_hash if user is not None and user.active else None
    if not await verify_password(stored, cmd.password):
        counted = await _record_failure(call.db, buckets, call.clock.now())
        log.info(
            "login.failed",
            known_user=user is not None,
            failures=max(t.failures for t in counted),
        )
        raise Unauthenticated(WRONG_LOGIN)
    assert user is not None and stored is not None
    # Stored with weaker parameters than today's (an older hash): store a new hash now that
    # the password is at hand. Hashed before the transaction, so no lock is held meanwhile.
    rehashed = await rehash_if_needed(stored, cmd.password)
    token = domain.new_token()
    now = call.clock.now()
    async with call.db.transaction() as session:
        # The account's failures are forgiven; the address's stay (logging in to one's own
        # account must not reset the count of an address that tries many).
        await session.execute(
            delete(login_throttle).where(login_throttle.c.bucket == domain.account_bucket(email))
        )
        if rehashed is not None:
            # Only if the hash is still the one verified: a password set meanwhile wins.
            await session.execute(
                update(users)
                .where(users.c.id == user.id, users.c.password_hash == stored)
                .values(password_hash=rehashed)
            )
        await session.execute(
            insert(sessions).values(
                token_hash=domain.token_hash(token),
                user_id=user.id,
                created_at=now,
                expires_at=now + domain.SESSION_LIFETIME,
            )
        )
        info = await _session_info(session, user.id, now + domain.SESSION_LIFETIME)
    log.info("login.succeeded", user_id=str(user.id), rehashed=rehashed is not None)
    return LoginResult(token=token, **info.model_dump())


EXPIRED = "Uw sessie is verlopen. Log opnieuw in."

# The user with their school, in one query: the gateway resolves a session on every request.
_USER_WITH_SCHOOL = select(
    users, schools.c.school_number, schools.c.name.label("school_name")
).outerjoin(schools, schools.c.id == users.c.school_id)
_SESSION_USER = _USER_WITH_SCHOOL.add_columns(
    sessions.c.expires_at.label("session_expires_at")
).join(sessions, sessions.c.user_id == users.c.id)


def _session_info_of(row: Any, expires_at: datetime) -> SessionInfo:
    if not row.active:
        raise Unauthenticated(EXPIRED)
    actor = Actor(user_id=row.id, role=Role(row.role), school_id=row.school_id)
    return SessionInfo(
        actor=actor,
        user_name=row.name,
        email=row.email,
        school_number=row.school_number,
        school_name=row.school_name,
        expires_at=expires_at,
    )


async def _session_info(
    session: AsyncSession, user_id: uuid.UUID, expires_at: datetime
) -> SessionInfo:
    row = (await session.execute(_USER_WITH_SCHOOL.where(users.c.id == user_id))).first()
    if row is None:
        raise Unauthenticated(EXPIRED)
    return _session_info_of(row, expires_at)


@router.op(Ops.SESSION, SessionToken, public=True)
async def resolve_session(call: Call, query: SessionToken) -> SessionInfo:
    async with call.db.read() as session:
        row = (
            await session.execute(
                _SESSION_USER.where(sessions.c.token_hash == domain.token_hash(query.token))
            )
        ).first()
    if row is None or row.session_expires_at <= utcnow():
        raise Unauthenticated(EXPIRED)
    return _session_info_of(row, row.session_expires_at)


@router.op(Ops.LOGOUT, SessionToken, public=True)
async def logout(call: Call, cmd: SessionToken) -> None:
    async with call.db.transaction() as session:
        await session.execute(
            delete(sessions).where(sessions.c.token_hash == domain.token_hash(cmd.token))
        )


# --- password links ------------------------------------------------------------------------------
async def _usable_link(session: AsyncSession, token: str) -> Any:
    row = (
        await session.execute(
            select(password_links, users.c.email, users.c.name, users.c.active)
            .join(users, users.c.id == password_links.c.user_id)
            .where(password_links.c.token_hash == domain.token_hash(token))
        )
    ).first()
    if row is None or row.used_at is not None or row.expires_at <= utcnow() or not row.active:
        raise Conflict(LINK_UNUSABLE)
    return row


@router.op(Ops.PASSWORD_LINK_CHECK, PasswordLink, public=True)
async def check_password_link(call: Call, query: PasswordLink) -> PasswordLinkInfo:
    async with call.db.read() as session:
        row = await _usable_link(session, query.token)
    return PasswordLinkInfo(email=row.email, user_name=row.name)


@router.op(Ops.PASSWORD_LINK_USE, SetPassword, public=True)
async def use_password_link(call: Call, cmd: SetPassword) -> PasswordLinkInfo:
    async with call.db.read() as session:
        row = await _usable_link(session, cmd.token)
    problem = domain.password_error(cmd.password, row.email)
    if problem:
        raise Invalid(problem, fields={"password": problem})
    hashed = await hash_password(cmd.password)
    async with call.db.transaction() as session:
        # used_at IS NULL in the WHERE: of two simultaneous uses, exactly one wins.
        result = await session.execute(
            update(password_links)
            .where(
                password_links.c.token_hash == domain.token_hash(cmd.token),
                password_links.c.used_at.is_(None),
            )
            .values(used_at=utcnow())
        )
        if result.rowcount != 1:
            raise Conflict(LINK_UNUSABLE)
        await session.execute(
            update(users).where(users.c.id == row.user_id).values(password_hash=hashed)
        )
        # A new password ends every existing session of this user.
        await session.execute(delete(sessions).where(sessions.c.user_id == row.user_id))
    log.info("password.set", user_id=str(row.user_id))
    return PasswordLinkInfo(email=row.email, user_name=row.name)


async def issue_password_link(session: AsyncSession, user_id: uuid.UUID) -> str:
    token = domain.new_token()
    now = utcnow()
    await session.execute(
        insert(password_links).values(
            token_hash=domain.token_hash(token),
            user_id=user_id,
            created_at=now,
            expires_at=now + domain.PASSWORD_LINK_LIFETIME,
        )
    )
    return token


# --- schools -------------------------------------------------------------------------------------
def _school(row: Any) -> School:
    return School(
        school_id=row.id,
        school_number=row.school_number,
        name=row.name,
        brin_codes=row.brin_codes,
        locations=row.locations,
        duo_student_count=row.duo_student_count,
        contacts=row.contacts,
        default_order_reference=row.default_order_reference,
    )


def _validated(settings: SchoolSettings) -> SchoolSettings:
    settings = domain.clean_settings(settings)
    errors = domain.settings_errors(settings)
    if not settings.brin_codes:
        errors["brin_codes"] = "Vul minstens één BRIN-code in."
    if errors:
        raise Invalid("Controleer de invoer.", fields=errors)
    return settings


def _settings_row(settings: SchoolSettings) -> dict[str, Any]:
    data = settings.model_dump(mode="json")
    return {
        k: data[k]
        for k in (
            "name",
            "brin_codes",
            "locations",
            "duo_student_count",
            "contacts",
            "default_order_reference",
        )
    }


async def register_school(db: Database, cmd: RegisterSchool, portal_url: str) -> RegisteredSchool:
    """R-SCHOOL-1: a CJP admin registers a school with its budget holder, who gets a welcome
    mail with a link to set a password."""
    settings = _validated(cmd.settings)
    email = domain.normalise_email(cmd.budget_holder.email)
    if problem := domain.email_error(email):
        raise Invalid("Controleer de invoer.", fields={"budget_holder.email": problem})
    school_id, user_id = uuid.uuid4(), uuid.uuid4()
    now = utcnow()
    try:
        async with db.transaction() as session:
            if (await session.execute(select(users.c.id).where(users.c.email == email))).first():
                raise Conflict(
                    "Er bestaat al een account met dit e-mailadres.",
                    fields={"budget_holder.email": "Dit e-mailadres is al in gebruik."},
                )
            highest = (await session.execute(select(func.max(schools.c.school_number)))).scalar()
            number = domain.next_school_number(highest)
            await session.execute(
                insert(schools).values(
                    id=school_id,
                    school_number=number,
                    created_at=now,
                    updated_at=now,
                    **_settings_row(settings),
                )
            )
            await session.execute(
                insert(users).values(
                    id=user_id,
                    email=email,
                    name=cmd.budget_holder.name,
                    role=Role.BUDGET_HOLDER,
                    school_id=school_id,
                    password_hash=None,
                    active=True,
                    created_at=now,
                )
            )
            token = await issue_password_link(session, user_id)
            await add_to_outbox(
                session,
                SchoolRegistered(
                    school_id=school_id,
                    school_number=number,
                    name=settings.name,
                    duo_student_count=settings.duo_student_count,
                ),
                EmailRequested(
                    school_id=school_id,
                    template=MailTemplate.WELCOME_BUDGET_HOLDER,
                    to=email,
                    context={
                        "recipient_name": cmd.budget_holder.name,
                        "school_name": settings.name,
                        "school_number": str(number),
                        "link": f"{portal_url.rstrip('/')}/wachtwoord-instellen?token={token}",
                    },
                ),
            )
    except IntegrityError as exc:  # two registrations raced for a number or an address
        raise Conflict("De school kon niet worden geregistreerd; probeer het opnieuw.") from exc
    log.info("school.registered", school_id=str(school_id), school_number=number)
    return RegisteredSchool(school_id=school_id, school_number=number)


@router.op(Ops.SCHOOL_GET, SchoolRef)
async def get_school(call: Call, query: SchoolRef) -> School:
    call.require(Permission.VIEW_SCHOOL, query.school_id)
    async with call.db.read() as session:
        row = (
            await session.execute(select(schools).where(schools.c.id == query.school_id))
        ).first()
    if row is None:
        raise NotFound("Deze school bestaat niet.")
    return _school(row)


@router.op(Ops.SCHOOL_UPDATE, UpdateSchool)
async def update_school(call: Call, cmd: UpdateSchool) -> School:
    call.require(Permission.EDIT_SETTINGS, cmd.school_id)
    settings = _validated(cmd.settings)
    async with call.db.transaction() as session:
        result = await session.execute(
            update(schools)
            .where(schools.c.id == cmd.school_id)
            .values(updated_at=utcnow(), **_settings_row(settings))
        )
        if result.rowcount != 1:
            raise NotFound("Deze school bestaat niet.")
        row = (await session.execute(select(schools).where(schools.c.id == cmd.school_id))).one()
        await add_to_outbox(
            session,
            SchoolSettingsChanged(
                school_id=cmd.school_id,
                school_number=row.school_number,
                duo_student_count=settings.duo_student_count,
                name=settings.name,
            ),
        )
    log.info("school.updated", school_id=str(cmd.school_id))
    return _school(row)


@router.op(Ops.SCHOOL_REGISTER, RegisterSchool, permission=Permission.REGISTER_SCHOOL)
async def register_school_op(call: Call, cmd: RegisterSchool) -> RegisteredSchool:
    return await register_school(call.db, cmd, call.deps.portal_url)


@router.op(Ops.SCHOOL_LIST, Empty, permission=Permission.REGISTER_SCHOOL)
async def list_schools(call: Call, _query: Empty) -> list[School]:
    async with call.db.read() as session:
        rows = (await session.execute(select(schools).order_by(schools.c.school_number))).all()
    return [_school(r) for r in rows]


# --- Docent+ (R-ROLE-2, menu Docenten+) ---------------------------------------------------------
NO_ACTIVE_MEMBERSHIP = (
    "Deze docent heeft geen actief CJP-lidmaatschap. Alleen docenten met een actief "
    "lidmaatschap kunnen Docent+ worden."
)
EMAIL_TAKEN = (
    "Het e-mailadres van deze docent hoort al bij een ander account in het portaal; "
    "het kan niet ook voor Docent+ worden gebruikt."
)
NO_ACCESS = "Deze docent heeft geen Docent+-toegang."


def _access(row: Any) -> DocentPlusAccess:
    return DocentPlusAccess(
        person_id=row.person_id,
        user_id=row.id,
        email=row.email,
        name=row.name,
        granted_at=row.created_at,
    )


def _docent_plus_of(school_id: uuid.UUID) -> Any:
    return select(users).where(
        users.c.school_id == school_id, users.c.role == Role.DOCENT_PLUS.value
    )


@router.op(Ops.DOCENT_PLUS_LIST, SchoolRef)
async def list_docent_plus(call: Call, query: SchoolRef) -> DocentPlusList:
    call.require(Permission.MANAGE_DOCENT_PLUS, query.school_id)
    async with call.db.read() as session:
        rows = (
            await session.execute(
                _docent_plus_of(query.school_id).order_by(users.c.name, users.c.email)
            )
        ).all()
    return DocentPlusList(items=[_access(r) for r in rows])


@router.op(Ops.DOCENT_PLUS_GRANT, DocentPlusGrant)
async def grant_docent_plus(call: Call, cmd: DocentPlusGrant) -> DocentPlusAccess:
    """Give a teacher with an active membership an account with role Docent+ and mail them a
    link to set a password (like the budget holder's welcome mail). Granting a teacher who
    already has access changes nothing and sends no second mail."""
    call.require(Permission.MANAGE_DOCENT_PLUS, cmd.school_id)
    email = domain.normalise_email(cmd.email)
    if problem := domain.email_error(email):
        raise Invalid("Controleer het e-mailadres van de docent.", fields={"email": problem})
    try:
        async with call.db.transaction() as session:
            # Locked (PostgreSQL): a MembershipEnded handled at the same time waits for this
            # grant and then ends it, or this grant sees the membership already ended.
            membership = (
                await session.execute(
                    select(teacher_memberships)
                    .where(teacher_memberships.c.person_id == cmd.person_id)
                    .with_for_update()
                )
            ).first()
            if (
                membership is None
                or membership.school_id != cmd.school_id
                or not membership.active
                or membership.removed
            ):
                raise Conflict(NO_ACTIVE_MEMBERSHIP)
            existing = (
                await session.execute(
                    _docent_plus_of(cmd.school_id).where(users.c.person_id == cmd.person_id)
                )
            ).first()
            if existing is not None:
                return _access(existing)
            taken = select(users.c.id).where(users.c.email == email)
            if (await session.execute(taken)).first() is not None:
                raise Conflict(EMAIL_TAKEN, fields={"email": EMAIL_TAKEN})
            school = (
                await session.execute(select(schools).where(schools.c.id == cmd.school_id))
            ).first()
            if school is None:
                raise NotFound("Deze school bestaat niet.")
            user_id, now = uuid.uuid4(), utcnow()
            await session.execute(
                insert(users).values(
                    id=user_id,
                    email=email,
                    name=cmd.name,
                    role=Role.DOCENT_PLUS,
                    school_id=cmd.school_id,
                    person_id=cmd.person_id,
                    password_hash=None,
                    active=True,
                    created_at=now,
                )
            )
            token = await issue_password_link(session, user_id)
            portal_url = call.deps.portal_url.rstrip("/")
            await add_to_outbox(
                session,
                EmailRequested(
                    school_id=cmd.school_id,
                    template=MailTemplate.DOCENT_PLUS_ACCESS,
                    to=email,
                    context={
                        "recipient_name": cmd.name,
                        "school_name": school.name,
                        "school_number": str(school.school_number),
                        "link": f"{portal_url}/wachtwoord-instellen?token={token}",
                    },
                ),
            )
    except IntegrityError as exc:  # a simultaneous grant took the address or the teacher
        raise Conflict(EMAIL_TAKEN, fields={"email": EMAIL_TAKEN}) from exc
    log.info("docent_plus.granted", school_id=str(cmd.school_id), user_id=str(user_id))
    return DocentPlusAccess(
        person_id=cmd.person_id, user_id=user_id, email=email, name=cmd.name, granted_at=now
    )


@router.op(Ops.DOCENT_PLUS_REVOKE, DocentPlusRef)
async def revoke_docent_plus(call: Call, cmd: DocentPlusRef) -> None:
    """The account is deleted with its sessions and password links: the teacher is logged out
    at once and cannot log in again (the gateway asks accounts on every request)."""
    call.require(Permission.MANAGE_DOCENT_PLUS, cmd.school_id)
    async with call.db.transaction() as session:
        user_id = await end_docent_plus(session, cmd.person_id, cmd.school_id)
    if user_id is None:
        raise NotFound(NO_ACCESS)
    log.info("docent_plus.revoked", school_id=str(cmd.school_id), user_id=str(user_id))
