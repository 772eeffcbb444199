"""Teachers' memberships, projected from accounts.events.teachers, and the automatic end of
Docent+ access (R-ROLE-2, R-ROSTER-7).

Docent+ is for a teacher with an *active* CJP membership. The accounts service keeps its own
list of teacher memberships from the membership service's MembershipActivated/MembershipEnded
and the roster's PersonRemoved, so a grant is checked without asking another service, and the
access ends in the same transaction as the event that ends the membership. Students' events
arrive on the same queue (the routing keys do not carry the kind) and are ignored.

Ordering: membership events may arrive out of order, so an event older than the newest one
applied changes nothing. Removal from the roster is final: roster never reuses a person id.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID, uuid5

from ck_contracts.membership import MembershipActivated, MembershipEnded
from ck_contracts.notifier import BudgetHolderMailRequested, EmailRequested
from ck_contracts.roster import PersonRemoved, RosterKind
from ck_contracts.topology import queues_of
from ck_runtime.consumers import EventConsumer, PoisonMessage
from ck_runtime.logs import get_logger
from ck_runtime.outbox import add_to_outbox
from sqlalchemy.ext.asyncio import AsyncSession

from ck_accounts import store

log = get_logger(__name__)

CONCERN = "teachers"


async def _set(
    session: AsyncSession,
    person_id: UUID,
    school_id: UUID,
    *,
    active: bool,
    removed: bool,
    occurred_at: datetime,
) -> bool:
    """Apply one fact. Returns the teacher's resulting "active" state."""
    row = await store.teacher_membership(session, person_id)
    if row is None:
        await store.add_teacher_membership(
            session, person_id, school_id, active=active, removed=removed, changed_at=occurred_at
        )
        return active
    if row.removed:
        return False  # final
    if not removed and occurred_at < row.changed_at:
        return bool(row.active)  # an older membership event than the one applied
    await store.change_teacher_membership(
        session,
        person_id,
        active=active,
        removed=removed,
        changed_at=max(occurred_at, row.changed_at),
    )
    return active


def _school_of(event: MembershipActivated | MembershipEnded | PersonRemoved) -> UUID | None:
    if event.school_id is None:
        log.warning("teachers.event_without_school", type=event.routing_key)
    return event.school_id


async def on_activated(event: MembershipActivated, session: AsyncSession) -> None:
    if event.kind != RosterKind.TEACHERS or (school_id := _school_of(event)) is None:
        return
    await _set(
        session,
        event.person_id,
        school_id,
        active=True,
        removed=False,
        occurred_at=event.occurred_at,
    )


async def on_ended(event: MembershipEnded, session: AsyncSession) -> None:
    if event.kind != RosterKind.TEACHERS or (school_id := _school_of(event)) is None:
        return
    active = await _set(
        session,
        event.person_id,
        school_id,
        active=False,
        removed=False,
        occurred_at=event.occurred_at,
    )
    if (
        not active
        and (user_id := await store.delete_docent_plus(session, event.person_id)) is not None
    ):
        log.info("docent_plus.ended", user_id=str(user_id), reason=event.reason.value)


async def on_removed(event: PersonRemoved, session: AsyncSession) -> None:
    if event.kind != RosterKind.TEACHERS or (school_id := _school_of(event)) is None:
        return
    await _set(
        session,
        event.person_id,
        school_id,
        active=False,
        removed=True,
        occurred_at=event.occurred_at,
    )
    if (user_id := await store.delete_docent_plus(session, event.person_id)) is not None:
        log.info("docent_plus.ended", user_id=str(user_id), reason="removed_from_roster")


def teachers_consumer() -> EventConsumer:
    (queue,) = [q for q in queues_of("accounts") if q.concern == CONCERN]
    return EventConsumer(
        queue,
        {
            MembershipActivated.routing_key: on_activated,
            MembershipEnded.routing_key: on_ended,
            PersonRemoved.routing_key: on_removed,
        },
    )


# --- issue 13: mails to a school's budget holders -------------------------------------------------
# Budget, invoicing and weborders write a mail for "the budget holders of school X"
# (BudgetHolderMailRequested: content, no address). Only accounts knows who they are, so it
# addresses the mail here: one EmailRequested per active budget holder, with their name added.
# The mail's id (= the event id, the notifier's de-duplication key) is uuid5 of the request's
# id and the user's id, so a request delivered twice never becomes two mails.
MAILS_CONCERN = "mails"


def budget_holder_mail_id(request_id: UUID, user_id: UUID) -> UUID:
    return uuid5(request_id, str(user_id))


async def on_budget_holder_mail(event: BudgetHolderMailRequested, session: AsyncSession) -> None:
    if event.school_id is None:
        raise PoisonMessage(f"BudgetHolderMailRequested {event.id} names no school")
    holders = await store.budget_holders_of(session, event.school_id)
    mails = [
        EmailRequested(
            id=budget_holder_mail_id(event.id, holder.id),
            school_id=event.school_id,
            template=event.template,
            to=holder.email,
            context={**event.context, "recipient_name": holder.name},
            items=event.items,
        )
        for holder in holders
    ]
    if mails:
        await add_to_outbox(session, *mails)
    log.info(
        "budget_holder_mail.addressed",
        request_id=str(event.id),
        template=str(event.template),
        recipients=len(mails),
    )


def mails_consumer() -> EventConsumer:
    (queue,) = [q for q in queues_of("accounts") if q.concern == MAILS_CONCERN]
    return EventConsumer(queue, {BudgetHolderMailRequested.routing_key: on_budget_holder_mail})
