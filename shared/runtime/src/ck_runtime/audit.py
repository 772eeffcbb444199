"""The audit trail (issue 13, capability 6): one mechanism for every service that decides
something or moves money.

- `add_audit_table(metadata)` puts the `audit_log` table on a service's metadata (as
  `add_runtime_tables` does for outbox and inbox); the service's migration creates it with
  `ck_runtime.migration_ops.create_audit_log()`.
- `record(session, actor, action, ...)` writes one entry in the caller's transaction, so the
  action and its entry commit (or roll back) together. Who: the actor's user id and role, or
  "system" (actor None: schedulers, event handlers). When: the runtime's Clock. The
  correlation id comes from the log context (bound per request and per event).
- `audit_router(op)` answers the service's `<service>.audit.list` (ck_contracts.audit): one
  page of entries, newest first, keyset-paged on (at, id); a school only its own.
- `retention_rule(settings)`: entries are kept `audit_retention_years` (7) whole calendar
  years after the year they were written in, then deleted.

Entries hold ids and non-personal values only (R-AVG-2): `record` refuses details that look
like personal data (an '@', a long run of digits such as a card number, free text), so the
privacy scan of an erased person never finds them here.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ck_contracts.audit import (
    DETAIL_TEXT_MAX,
    SYSTEM,
    AuditAction,
    AuditEntry,
    AuditPage,
    AuditQuery,
    AuditRole,
    DetailValue,
)
from ck_contracts.operations import Operation
from ck_contracts.roles import Actor, Permission
from sqlalchemy import (
    JSON,
    Column,
    Index,
    MetaData,
    String,
    Table,
    Uuid,
    and_,
    delete,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from ck_runtime.clock import AMSTERDAM, Clock, current_clock
from ck_runtime.db import rowcount
from ck_runtime.errors import Forbidden
from ck_runtime.logs import current_correlation_id, get_logger
from ck_runtime.retention import RetentionRule, batch_of
from ck_runtime.rpc_server import Call, RpcRouter
from ck_runtime.settings import ServiceSettings
from ck_runtime.tables import UtcDateTime

log = get_logger(__name__)

TABLE = "audit_log"


def add_audit_table(metadata: MetaData) -> Table:
    """Define `audit_log` on a service's metadata, so its migrations create it."""
    return Table(
        TABLE,
        metadata,
        Column("id", Uuid, primary_key=True),
        Column("at", UtcDateTime(timezone=True), nullable=False),
        Column("actor_id", Uuid),  # NULL: the platform itself
        Column("actor_role", String(32), nullable=False),
        Column("action", String(64), nullable=False),
        Column("subject_type", String(32), nullable=False),
        Column("subject_id", String(64), nullable=False),
        Column("school_id", Uuid),
        Column("provider_id", Uuid),
        Column("details", JSON, nullable=False),
        Column("correlation_id", String(64)),
        # A school's history and the admin's list, newest first; the retention job by time.
        Index("ix_audit_log_school_at", "school_id", "at", "id"),
        Index("ix_audit_log_at", "at", "id"),
    )


AUDIT_LOG = add_audit_table(MetaData())

# Details that would be personal data: an e-mail address, a long run of digits (a CJP card
# number, a phone number), and keys that name a person.
_EMAIL_LIKE = re.compile(r"@")
_DIGITS = re.compile(r"\d{9,}")
_PERSONAL_KEYS = frozenset(
    {"name", "email", "e_mail", "phone", "card_number", "first_name", "last_name", "birth_date"}
)
_KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


def _is_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False


def check_details(details: Mapping[str, DetailValue]) -> dict[str, DetailValue]:
    """The details as stored; ValueError when one could be personal data or free text."""
    out: dict[str, DetailValue] = {}
    for key, value in details.items():
        if not _KEY.match(key) or key in _PERSONAL_KEYS:
            raise ValueError(f"audit detail {key!r}: not a plain, non-personal key")
        if isinstance(value, str):
            # An id (a canonical UUID) is no personal data, even when its hex happens to hold
            # a run of 9+ decimal digits (about one random UUID in 20 does).
            digits = _DIGITS.search(value) and not _is_uuid(value)
            if len(value) > DETAIL_TEXT_MAX or _EMAIL_LIKE.search(value) or digits:
                raise ValueError(f"audit detail {key!r}: text that could be personal data")
        elif value is not None and not isinstance(value, int | bool):
            raise ValueError(f"audit detail {key!r}: only numbers, flags and short codes")
        out[key] = value
    return out


async def record(
    session: AsyncSession,
    actor: Actor | None,
    action: AuditAction,
    subject_type: str,
    subject_id: uuid.UUID | str,
    *,
    school_id: uuid.UUID | None = None,
    provider_id: uuid.UUID | None = None,
    details: Mapping[str, DetailValue] | None = None,
    correlation_id: str | None = None,
    at: datetime | None = None,
    clock: Clock | None = None,
) -> uuid.UUID:
    """Write one entry in the caller's transaction (call it inside the action's own
    `db.transaction()` or event handler). actor None: the platform ("system"). The time is
    `at`, else the clock's (the runtime's installed clock unless one is given); the
    correlation id the log context's unless one is given. Returns the entry's id."""
    entry_id = uuid.uuid4()
    moment = at if at is not None else (clock or current_clock()).now()
    await session.execute(
        AUDIT_LOG.insert().values(
            id=entry_id,
            at=moment,
            actor_id=actor.user_id if actor is not None else None,
            actor_role=actor.role.value if actor is not None else SYSTEM,
            action=AuditAction(action).value,
            subject_type=subject_type,
            subject_id=str(subject_id),
            school_id=school_id,
            provider_id=provider_id,
            details=check_details(details or {}),
            correlation_id=correlation_id or current_correlation_id(),
        )
    )
    return entry_id


def _conditions(query: AuditQuery) -> list[Any]:
    c = AUDIT_LOG.c
    where: list[Any] = []
    if query.school_id is not None:
        where.append(c.school_id == query.school_id)
    if query.provider_id is not None:
        where.append(c.provider_id == query.provider_id)
    if query.action is not None:
        where.append(c.action == query.action.value)
    if query.actor_role is not None:
        where.append(c.actor_role == query.actor_role.value)
    if query.since is not None:
        where.append(c.at >= query.since)
    if query.until is not None:
        where.append(c.at < query.until)
    if query.before_at is not None:
        if query.before_id is None:
            where.append(c.at < query.before_at)
        else:
            where.append(
                or_(c.at < query.before_at, and_(c.at == query.before_at, c.id < query.before_id))
            )
    return where


async def list_entries(session: AsyncSession, service: str, query: AuditQuery) -> AuditPage:
    """One page, newest first: (at, id) descending, so pages of several services merge."""
    rows = (
        await session.execute(
            select(AUDIT_LOG)
            .where(*_conditions(query))
            .order_by(AUDIT_LOG.c.at.desc(), AUDIT_LOG.c.id.desc())
            .limit(query.limit + 1)
        )
    ).all()
    items = [
        AuditEntry(
            id=row.id,
            service=service,
            at=row.at,
            actor_id=row.actor_id,
            actor_role=AuditRole(row.actor_role),
            action=AuditAction(row.action),
            subject_type=row.subject_type,
            subject_id=row.subject_id,
            school_id=row.school_id,
            provider_id=row.provider_id,
            details=dict(row.details or {}),
            correlation_id=row.correlation_id,
        )
        for row in rows[: query.limit]
    ]
    return AuditPage(items=items, has_more=len(rows) > query.limit)


def audit_router(op: Operation[AuditQuery, AuditPage]) -> RpcRouter:
    """The handler of a service's `<service>.audit.list` (ops/__init__.py includes it).

    The router has already refused another school's actor (school-scoped operation); here an
    empty school_id (every school) and the provider filter are for a CJP admin only."""
    router = RpcRouter(op.service)

    @router.handles(op)
    async def list_audit(call: Call, query: AuditQuery) -> AuditPage:
        actor = call.require(Permission.VIEW_AUDIT, query.school_id)
        if query.provider_id is not None and not actor.may(Permission.VIEW_AUDIT, None):
            raise Forbidden()
        async with call.db.read() as session:
            return await list_entries(session, op.service, query)

    return router


def retention_cutoff(now: datetime, years: int) -> datetime:
    """Entries written before this moment have been kept `years` whole calendar years after
    their year (Europe/Amsterdam): 1 January of (this year - years), 00:00 Amsterdam time."""
    local = now.astimezone(AMSTERDAM)
    return datetime(local.year - years, 1, 1, tzinfo=AMSTERDAM)


def retention_rule(settings: ServiceSettings) -> RetentionRule:
    """Delete entries once `audit_retention_years` whole calendar years have passed since the
    end of the year they were written in (the Dutch fiscal retention of money records is 7
    years; decisions about access are kept as long, as they explain who could move money)."""

    async def apply(session: AsyncSession, now: datetime, limit: int) -> int:
        cutoff = retention_cutoff(now, settings.audit_retention_years)
        where = [AUDIT_LOG.c.at < cutoff]
        result = await session.execute(delete(AUDIT_LOG).where(batch_of(AUDIT_LOG, where, limit)))
        return rowcount(result)

    return RetentionRule("audit_log.expired", apply)
