"""Invitation runs (issue 14): one click on "verstuur uitnodiging" and how far its mails got.

The roster owns the run because it is where the click starts: the invite operation records
the run (people requested, chunks) in the transaction that puts the InvitationsRequested
chunks in its outbox, with the chunks' request_id as the run's id. Two events bring the
progress back, both counts only:

- InvitationsSent (membership, one per chunk handled, with the request_id): the chunk is
  handled, and its `mailed` invitations are mails queued;
- EmailsSent (notifier, at most one per run per sending pass): mails accepted by the SMTP
  server, and mails given up for good.

Each is an `x = x + n` update in the consumer's transaction, which also claims the event id
(the inbox), so a redelivered event is never counted twice. Events of a run that does not
exist (a click before runs were built, or a run deleted by retention) change nothing.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from ck_contracts.membership import InvitationsSent
from ck_contracts.notifier import EmailsSent
from ck_contracts.roster import InvitationRun, InvitationRunStatus, RosterKind
from ck_contracts.topology import queues_of
from ck_runtime.consumers import EventConsumer
from ck_runtime.db import Database
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ck_roster.tables import invitation_runs

R = invitation_runs.c


def run_status(chunks: int, chunks_handled: int, queued: int, sent: int, failed: int) -> str:
    """Queued until membership handled every chunk; then sending until every mail queued is
    sent or failed; then done."""
    if chunks_handled < chunks:
        return InvitationRunStatus.QUEUED
    if sent + failed < queued:
        return InvitationRunStatus.SENDING
    return InvitationRunStatus.DONE


async def add_run(
    session: AsyncSession,
    *,
    run_id: UUID,
    school_id: UUID,
    kind: RosterKind,
    requested: int,
    skipped_active: int,
    chunks: int,
    now: datetime,
) -> None:
    await session.execute(
        insert(invitation_runs).values(
            id=run_id,
            school_id=school_id,
            kind=kind.value,
            requested=requested,
            skipped_active=skipped_active,
            chunks=chunks,
            chunks_handled=0,
            queued=0,
            sent=0,
            failed=0,
            created_at=now,
            updated_at=now,
        )
    )


async def read_run(db: Database, school_id: UUID, run_id: UUID) -> InvitationRun | None:
    """The run by its id *and* school: another school's run is "not found"."""
    async with db.read() as session:
        row = (
            await session.execute(
                select(invitation_runs).where(R.id == run_id, R.school_id == school_id)
            )
        ).first()
    if row is None:
        return None
    m = row._mapping
    return InvitationRun(
        run_id=m["id"],
        kind=RosterKind(m["kind"]),
        status=InvitationRunStatus(
            run_status(m["chunks"], m["chunks_handled"], m["queued"], m["sent"], m["failed"])
        ),
        requested=m["requested"],
        skipped_active=m["skipped_active"],
        chunks=m["chunks"],
        chunks_handled=m["chunks_handled"],
        queued=m["queued"],
        sent=m["sent"],
        failed=m["failed"],
        created_at=m["created_at"],
    )


async def on_invitations_sent(event: InvitationsSent, session: AsyncSession) -> None:
    """A chunk of a run was handled: its mailed invitations are queued mails."""
    if event.request_id is None:
        return
    mailed = sum(1 for i in event.invitations if i.mailed)
    await session.execute(
        update(invitation_runs)
        .where(R.id == event.request_id, R.school_id == event.school_id)
        .values(
            chunks_handled=R.chunks_handled + 1,
            queued=R.queued + mailed,
            updated_at=event.occurred_at,
        )
    )


async def on_emails_sent(event: EmailsSent, session: AsyncSession) -> None:
    if not event.sent and not event.failed:
        return
    await session.execute(
        update(invitation_runs)
        .where(R.id == event.run_id)
        .values(
            sent=R.sent + event.sent,
            failed=R.failed + event.failed,
            updated_at=event.occurred_at,
        )
    )


def runs_consumer() -> EventConsumer:
    """The queue roster.events.invitation-runs (the notifier's EmailsSent)."""
    (queue,) = [q for q in queues_of("roster") if q.concern == "invitation-runs"]
    return EventConsumer(queue, {EmailsSent.routing_key: on_emails_sent})
