"""Operations without an actor: log-in, sessions, password links (Audience.PUBLIC)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from ck_contracts.accounts import (
    AccountsReason,
    Login,
    LoginResult,
    Ops,
    PasswordLink,
    PasswordLinkInfo,
    SessionInfo,
    SessionToken,
    SetPassword,
)
from ck_contracts.roles import Actor, Role
from ck_runtime.errors import Conflict, Invalid, Throttled, Unauthenticated
from ck_runtime.logs import get_logger
from ck_runtime.rpc_server import Call, RpcRouter
from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from ck_accounts import domain, store
from ck_accounts.passwords import hash_password, rehash_if_needed, verify_password

log = get_logger(__name__)
router = RpcRouter("accounts")


# --- log-in and sessions -------------------------------------------------------------------------
@router.handles(Ops.LOGIN)
async def login(call: Call, cmd: Login) -> LoginResult:
    email = domain.normalise_email(cmd.email)
    buckets = domain.login_buckets(email, cmd.client)
    # The throttle is checked before any hashing: a locked account or address costs no CPU.
    # Unknown accounts are counted and locked alike, so a lock says nothing about existence.
    async with call.db.read() as session:
        throttles = await store.throttles(session, buckets)
        if (locked := domain.longest_lock(throttles, call.clock.now())) is not None:
            log.info("login.throttled")
            seconds = domain.retry_after_seconds(locked)
            raise Throttled(
                AccountsReason.LOGIN_THROTTLED, seconds=seconds, retry_after_seconds=seconds
            )
        user = await store.user_by_email(session, email)
    stored: str | None = user.password_hash if user is not None and user.active else None
    if not await verify_password(stored, cmd.password):
        async with call.db.transaction() as session:
            counted = await store.record_failure(session, buckets, call.clock.now())
        log.info(
            "login.failed",
            known_user=user is not None,
            failures=max(t.failures for t in counted),
        )
        raise Unauthenticated(AccountsReason.WRONG_LOGIN)
    assert user is not None and stored is not None
    # Stored with weaker parameters than today's (an older hash): store a new hash now that
    # the password is at hand. Hashed before the transaction, so no lock is held meanwhile.
    rehashed = await rehash_if_needed(stored, cmd.password)
    token = domain.new_token()
    now = call.clock.now()
    async with call.db.transaction() as session:
        # The account's failures are forgiven; the address's stay (logging in to one's own
        # account must not reset the count of an address that tries many).
        await store.forgive_failures(session, domain.account_bucket(email))
        if rehashed is not None:
            await store.set_password_hash(session, user.id, rehashed, replacing=stored)
        expires_at = await store.open_session(session, token, user.id, now)
        info = await _session_info(session, user.id, expires_at)
    log.info("login.succeeded", user_id=str(user.id), rehashed=rehashed is not None)
    return LoginResult(token=token, **info.model_dump())


def _session_info_of(row: Row[Any], expires_at: datetime) -> SessionInfo:
    if not row.active:
        raise Unauthenticated(AccountsReason.SESSION_EXPIRED)
    actor = Actor(
        user_id=row.id,
        role=Role(row.role),
        school_id=row.school_id,
        provider_id=row.provider_id,  # provider users (issue 13)
    )
    return SessionInfo(
        actor=actor,
        user_name=row.name,
        email=row.email,
        school_number=row.school_number,
        school_name=row.school_name,
        expires_at=expires_at,
        provider_name=row.provider_name,
    )


async def _session_info(session: AsyncSession, user_id: UUID, expires_at: datetime) -> SessionInfo:
    row = await store.user_with_school(session, user_id)
    if row is None:
        raise Unauthenticated(AccountsReason.SESSION_EXPIRED)
    return _session_info_of(row, expires_at)


@router.handles(Ops.SESSION)
async def resolve_session(call: Call, query: SessionToken) -> SessionInfo:
    async with call.db.read() as session:
        row = await store.session_user(session, query.token)
    if row is None or row.session_expires_at <= call.clock.now():
        raise Unauthenticated(AccountsReason.SESSION_EXPIRED)
    return _session_info_of(row, row.session_expires_at)


@router.handles(Ops.LOGOUT)
async def logout(call: Call, cmd: SessionToken) -> None:
    async with call.db.transaction() as session:
        await store.end_session(session, cmd.token)


# --- password links ------------------------------------------------------------------------------
async def _usable_link(call: Call, token: str) -> Row[Any]:
    async with call.db.read() as session:
        row = await store.password_link(session, token)
    if (
        row is None
        or row.used_at is not None
        or row.expires_at <= call.clock.now()
        or not row.active
    ):
        raise Conflict(AccountsReason.PASSWORD_LINK_UNUSABLE)
    return row


@router.handles(Ops.PASSWORD_LINK_CHECK)
async def check_password_link(call: Call, query: PasswordLink) -> PasswordLinkInfo:
    row = await _usable_link(call, query.token)
    return PasswordLinkInfo(email=row.email, user_name=row.name)


@router.handles(Ops.PASSWORD_LINK_USE)
async def use_password_link(call: Call, cmd: SetPassword) -> PasswordLinkInfo:
    row = await _usable_link(call, cmd.token)
    if (problem := domain.password_error(cmd.password, row.email)) is not None:
        raise Invalid(fields={"password": problem})
    hashed = await hash_password(cmd.password)
    async with call.db.transaction() as session:
        if not await store.use_password_link(session, cmd.token, call.clock.now()):
            raise Conflict(AccountsReason.PASSWORD_LINK_UNUSABLE)
        await store.set_password_hash(session, row.user_id, hashed)
        # A new password ends every existing session of this user.
        await store.end_sessions_of(session, row.user_id)
    log.info("password.set", user_id=str(row.user_id))
    return PasswordLinkInfo(email=row.email, user_name=row.name)
