"""The list's status column (R-MEMBER-1): a projection of the membership service's events.

Events about a person no longer in the roster change nothing (the person may have been removed
after the invitation was sent).
"""

from __future__ import annotations

from ck_contracts.membership import InvitationSent, MembershipActivated, MembershipEnded
from ck_contracts.messaging import Event
from ck_contracts.roster import MembershipStatus
from ck_contracts.topology import queues_of
from ck_runtime.consumers import EventConsumer
from sqlalchemy import case, update
from sqlalchemy.ext.asyncio import AsyncSession

from ck_roster.tables import people

CONCERN = "membership-status"


async def on_invitation_sent(event: InvitationSent, session: AsyncSession) -> None:
    """An invitation does not undo an active membership (events may arrive out of order)."""
    active = MembershipStatus.ACTIVE.value
    await session.execute(
        update(people)
        .where(people.c.id == event.person_id)
        .values(
            status=case((people.c.status == active, active), else_=MembershipStatus.INVITED.value),
            activation_code=event.activation_code,
            updated_at=event.occurred_at,
        )
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
            InvitationSent.routing_key: on_invitation_sent,
            MembershipActivated.routing_key: on_activated,
            MembershipEnded.routing_key: on_ended,
        },
    )
