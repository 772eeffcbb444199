"""All SQL of the notifier: reading and writing outgoing_mails, the queue between the
consumers (consumers.py) and the sender (sender.py); and the doorbell the consumers ring after
a commit that added mails."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from ck_contracts.notifier import EmailsSent
from ck_runtime.db import erases_personal_data
from sqlalchemy import (
    Column,
    Dialect,
    Insert,
    bindparam,
    delete,
    exists,
    func,
    insert,
    select,
    update,
)
from sqlalchemy import event as sa_event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from ck_notifier.domain import AfterFailure, Mail
from ck_notifier.rendering import RenderedMail
from ck_notifier.tables import MailStatus, mail_receipts, outgoing_mails

T = outgoing_mails.c
R = mail_receipts.c


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


def mail_row(
    *,
    mail_id: UUID,
    template: str,
    recipient: str,
    rendered: RenderedMail,
    correlation_id: str | None,
    now: datetime,
    run_id: UUID | None = None,
) -> dict[str, Any]:
    """A pending mail, as add_mails inserts it."""
    return {
        "id": mail_id,
        "template": template,
        "recipient": recipient,
        "subject": rendered.subject,
        "text_body": rendered.text,
        "html_body": rendered.html,
        "status": MailStatus.PENDING,
        "attempts": 0,
        "next_attempt_at": now,
        "last_error": None,
        "correlation_id": correlation_id,
        "created_at": now,
        "run_id": run_id,
    }


def unsendable_row(
    *,
    mail_id: UUID,
    template: str,
    error: str,
    correlation_id: str | None,
    now: datetime,
    run_id: UUID | None = None,
) -> dict[str, Any]:
    """A mail that can never be sent (an invalid address): failed at once, with nothing of the
    recipient kept, so it shows in `ck-notifier failed` but is never replayed."""
    return {
        "id": mail_id,
        "template": template,
        "recipient": None,
        "subject": None,
        "text_body": None,
        "html_body": None,
        "status": MailStatus.FAILED,
        "attempts": 0,
        "next_attempt_at": now,
        "last_error": error,
        "correlation_id": correlation_id,
        "created_at": now,
        "run_id": run_id,
    }


def _insert_ignoring_known_ids(session: AsyncSession) -> Insert:
    """INSERT ... ON CONFLICT (id) DO NOTHING, on SQLite and PostgreSQL alike."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(outgoing_mails).on_conflict_do_nothing(index_elements=[T.id])


async def add_mails(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
    """One executemany; a mail whose id is already there (a batch delivered or published twice)
    is left as it is, so no mail is ever queued twice."""
    if rows:
        await session.execute(_insert_ignoring_known_ids(session), list(rows))


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
    await add_mails(
        session,
        [
            mail_row(
                mail_id=mail_id,
                template=template,
                recipient=recipient,
                rendered=rendered,
                correlation_id=correlation_id,
                now=now,
            )
        ],
    )


_DUE_COLUMNS = (
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


async def due_mails(session: AsyncSession, now: datetime, limit: int, *, lock: bool) -> list[Mail]:
    """Up to limit pending mails that are due, longest waiting first. lock: take them
    (PostgreSQL, several senders: FOR UPDATE SKIP LOCKED, held until the transaction ends)."""
    query = (
        select(*_DUE_COLUMNS)
        .where(
            T.status == MailStatus.PENDING,
            T.next_attempt_at <= now,
            # accepted by the server already: a sender died before its pass recorded it
            ~exists().where(R.id == T.id),
        )
        .order_by(T.next_attempt_at, T.created_at, T.id)
        .limit(limit)
    )
    if lock:
        query = query.with_for_update(skip_locked=True)
    return [Mail(*row) for row in await session.execute(query)]


@functools.cache
def _receipt_insert(dialect: Dialect) -> tuple[str, Callable[[Any], Any], Callable[[Any], Any]]:
    """The INSERT of one receipt in the driver's own SQL, and how each value is bound (the
    same processing SQLAlchemy applies, so the ids match outgoing_mails.id on every backend)."""
    compiled = insert(mail_receipts).compile(dialect=dialect)
    assert list(compiled.positiontup or ()) == ["id", "accepted_at"]

    def processor(column: Column[Any]) -> Callable[[Any], Any]:
        process = column.type.dialect_impl(dialect).bind_processor(dialect)
        return process or (lambda value: value)

    return str(compiled), processor(mail_receipts.c.id), processor(mail_receipts.c.accepted_at)


def receipt_rows(
    dialect: Dialect, mail_ids: Sequence[UUID], now: datetime
) -> tuple[str, list[tuple[Any, Any]]]:
    """The server accepted these mails: the statement and rows for the driver's executemany
    (ck_notifier.receipts writes them on its own connection, without a session: a receipt
    is written every few mails, and the ORM's path cost four times the CPU)."""
    statement, bind_id, bind_time = _receipt_insert(dialect)
    accepted_at = bind_time(now)
    return statement, [(bind_id(mail_id), accepted_at) for mail_id in mail_ids]


async def unrecorded_receipts(session: AsyncSession, *, lock: bool) -> list[UUID]:
    """Pending mails the server accepted, whose pass never recorded them (its sender died).
    lock: take them (PostgreSQL: FOR UPDATE SKIP LOCKED; a live sender's own mails are locked
    by its pass and skipped)."""
    # In two steps, the receipts first: the table holds a few rows (the mails in flight; more
    # only after a crash), while a join let SQLite walk every pending mail (its status index),
    # 50,000 at the start of a roster, on each pass.
    receipts = list((await session.scalars(select(R.id))).all())
    if not receipts:
        return []
    query = select(T.id).where(T.id.in_(receipts), T.status == MailStatus.PENDING)
    if lock:
        query = query.with_for_update(of=outgoing_mails, skip_locked=True)
    return list((await session.scalars(query)).all())


async def receipts_among(session: AsyncSession, mail_ids: Sequence[UUID]) -> set[UUID]:
    """Which of these mails have a receipt, read with a fresh snapshot (PostgreSQL: a receipt
    committed after the due query began, by a sender that died just before we locked them)."""
    if not mail_ids:
        return set()
    return set((await session.scalars(select(R.id).where(R.id.in_(list(mail_ids))))).all())


async def delete_receipts(session: AsyncSession, mail_ids: Sequence[UUID]) -> None:
    if mail_ids:
        await session.execute(delete(mail_receipts).where(R.id.in_(list(mail_ids))))


async def mark_sent(session: AsyncSession, mail_ids: Sequence[UUID], now: datetime) -> None:
    """Accepted by the SMTP server: forget the address and the text (R-AVG-2). One statement;
    on SQLite the WAL is scrubbed after the commit, so no copy stays in the files."""
    if not mail_ids:
        return
    erases_personal_data(session)
    await session.execute(
        update(outgoing_mails)
        .where(T.id.in_(list(mail_ids)))
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


async def runs_of(session: AsyncSession, mail_ids: Sequence[UUID]) -> dict[UUID, int]:
    """Issue 14: how many of these mails each invitation run holds (mails without a run are
    left out). One grouped query per pass."""
    if not mail_ids:
        return {}
    rows = await session.execute(
        select(T.run_id, func.count())
        .where(T.id.in_(list(mail_ids)), T.run_id.is_not(None))
        .group_by(T.run_id)
    )
    return {run_id: count for run_id, count in rows}


def run_progress(sent: Mapping[UUID, int], failed: Mapping[UUID, int]) -> list[EmailsSent]:
    """Issue 14: one EmailsSent per run with its counts (no address, no mail id)."""
    return [
        EmailsSent(run_id=run_id, sent=sent.get(run_id, 0), failed=failed.get(run_id, 0))
        for run_id in sorted({*sent, *failed}, key=str)
    ]


@dataclass(frozen=True)
class FailedTry:
    mail_id: UUID
    outcome: AfterFailure
    error: str


_MARK_FAILED_TRY = (
    update(outgoing_mails)
    .where(T.id == bindparam("b_id"))
    .values(
        status=bindparam("b_status"),
        attempts=bindparam("b_attempts"),
        next_attempt_at=bindparam("b_next"),
        last_error=bindparam("b_error"),
    )
)


async def mark_failed_tries(session: AsyncSession, tries: Sequence[FailedTry]) -> None:
    """Count a failed try for each (executemany): wait for the next, or failed for good."""
    if not tries:
        return
    await session.execute(
        _MARK_FAILED_TRY,
        [
            {
                "b_id": t.mail_id,
                "b_status": str(t.outcome.status),
                "b_attempts": t.outcome.attempts,
                "b_next": t.outcome.next_attempt_at,
                "b_error": t.error,
            }
            for t in tries
        ],
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
    """Failed mails back to pending with a fresh count of tries. None: every failed mail.
    Mails that can never be sent (no recipient: an invalid address) stay failed."""
    statement = (
        update(outgoing_mails)
        .where(T.status == MailStatus.FAILED, T.recipient.is_not(None))
        .values(status=MailStatus.PENDING, attempts=0, next_attempt_at=now)
        .returning(T.id)
    )
    if ids is not None:
        statement = statement.where(T.id.in_(list(ids)))
    return [row.id for row in await session.execute(statement)]
