"""Reading and writing outgoing_mails: the queue between the consumer and the sender."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import event as sa_event
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ck_notifier.message import Mail
from ck_notifier.rendering import RenderedMail
from ck_notifier.retries import AfterFailure
from ck_notifier.tables import MailStatus, outgoing_mails

T = outgoing_mails.c


class Doorbell:
    """Rung after a commit that added mails, so the sender looks at once, not on its poll."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def ring(self) -> None:
        self._event.set()

    def ring_after_commit(self, session: AsyncSession) -> None:
        sa_event.listen(session.sync_session, "after_commit", lambda _s: self.ring(), once=True)

    def clear(self) -> None:
        self._event.clear()

    async def wait(self, timeout: float) -> None:
        """Until rung or timeout seconds have passed, whichever comes first."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), timeout)


async def add_mail(
    session: AsyncSession,
    *,
    mail_id: UUID,
    template: str,
    recipient: str,
    rendered: RenderedMail,
    correlation_id: str | None,
    now: datetime,
) -> None:
    await session.execute(
        insert(outgoing_mails).values(
            id=mail_id,
            template=template,
            recipient=recipient,
            subject=rendered.subject,
            text_body=rendered.text,
            html_body=rendered.html,
            status=MailStatus.PENDING,
            attempts=0,
            next_attempt_at=now,
            correlation_id=correlation_id,
            created_at=now,
        )
    )


async def next_due(session: AsyncSession, now: datetime, *, lock: bool) -> Mail | None:
    """The pending mail that has waited longest. lock: take it (PostgreSQL, several senders)."""
    query = (
        select(
            T.id,
            T.template,
            T.recipient,
            T.subject,
            T.text_body,
            T.html_body,
            T.attempts,
            T.created_at,
            T.correlation_id,
        )
        .where(T.status == MailStatus.PENDING, T.next_attempt_at <= now)
        .order_by(T.next_attempt_at, T.created_at)
        .limit(1)
    )
    if lock:
        query = query.with_for_update(skip_locked=True)
    row = (await session.execute(query)).first()
    return Mail(**row._mapping) if row is not None else None


async def mark_sent(session: AsyncSession, mail_id: UUID, now: datetime) -> None:
    """Accepted by the SMTP server: forget the address and the text (R-AVG-2)."""
    await session.execute(
        update(outgoing_mails)
        .where(T.id == mail_id)
        .values(
            status=MailStatus.SENT,
            attempts=T.attempts + 1,
            sent_at=now,
            recipient=None,
            subject=None,
            text_body=None,
            html_body=None,
        )
    )


async def mark_failed_try(
    session: AsyncSession, mail_id: UUID, outcome: AfterFailure, error: str
) -> None:
    await session.execute(
        update(outgoing_mails)
        .where(T.id == mail_id)
        .values(
            status=outcome.status,
            attempts=outcome.attempts,
            next_attempt_at=outcome.next_attempt_at,
            last_error=error,
        )
    )


@dataclass(frozen=True)
class FailedMail:
    id: UUID
    template: str
    attempts: int
    last_error: str | None
    created_at: datetime


async def list_failed(session: AsyncSession) -> list[FailedMail]:
    rows = await session.execute(
        select(T.id, T.template, T.attempts, T.last_error, T.created_at)
        .where(T.status == MailStatus.FAILED)
        .order_by(T.created_at, T.id)
    )
    return [FailedMail(**row._mapping) for row in rows]


async def replay(session: AsyncSession, ids: Sequence[UUID] | None, now: datetime) -> list[UUID]:
    """Failed mails back to pending with a fresh count of tries. None: every failed mail."""
    statement = (
        update(outgoing_mails)
        .where(T.status == MailStatus.FAILED)
        .values(status=MailStatus.PENDING, attempts=0, next_attempt_at=now)
        .returning(T.id)
    )
    if ids is not None:
        statement = statement.where(T.id.in_(list(ids)))
    return [row.id for row in await session.execute(statement)]
