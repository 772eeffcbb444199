"""The roster's event handlers. The list's status column (R-MEMBER-1) is a projection of the
membership service's events; the times are the events' own (`occurred_at`), so no clock.

Events about a person no longer in the roster change nothing (the person may have been removed
after the invitation was sent).
"""

from __future__ import annotations

from ck_contracts.membership import InvitationsSent, MembershipActivated, MembershipEnded
from ck_contracts.messaging import Event
from ck_contracts.roster import MembershipStatus
from ck_contracts.topology import queues_of
from ck_runtime.consumers import EventConsumer
from sqlalchemy import bindparam, case, update
from sqlalchemy.ext.asyncio import AsyncSession

from ck_roster import runs
from ck_roster.tables import people

CONCERN = "membership-status"


async def on_invitations_sent(event: InvitationsSent, session: AsyncSession) -> None:
    """An invitation does not undo an active membership (events may arrive out of order).
    One executemany for the whole chunk: a 50,000-person invitation is 100 such chunks.
    Issue 14: the chunk also counts in its invitation run (ck_roster.runs)."""
    await runs.on_invitations_sent(event, session)
    if not event.invitations:
        return
    active = MembershipStatus.ACTIVE.value
    await session.execute(
        update(people)
        .where(people.c.school_id == event.school_id, people.c.id == bindparam("pid"))
        .values(
            status=case((people.c.status == active, active), else_=MembershipStatus.INVITED.value),
            activation_code=bindparam("code"),
            updated_at=event.occurred_at,
        ),
        [{"pid": i.person_id, "code": i.activation_code} for i in event.invitations],
    )


async def _set_status(
    event: Event, person_id: object, status: MembershipStatus, session: AsyncSession
) -> None:
    await session.execute(
        update(people)
        .where(people.c.id == person_id)
        .values(status=status.value, updated_at=event.occurred_at)
    )


async def on_activated(event: MembershipActivated, session: AsyncSession) -> None:
    await _set_status(event, event.person_id, MembershipStatus.ACTIVE, session)


async def on_ended(event: MembershipEnded, session: AsyncSession) -> None:
    await _set_status(event, event.person_id, MembershipStatus.INACTIVE, session)


def status_consumer() -> EventConsumer:
    (queue,) = [q for q in queues_of("roster") if q.concern == CONCERN]
    return EventConsumer(
        queue,
        {
            InvitationsSent.routing_key: on_invitations_sent,
            MembershipActivated.routing_key: on_activated,
            MembershipEnded.routing_key: on_ended,
        },
    )
