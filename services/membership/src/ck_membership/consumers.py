"""The membership service's event handlers, all on the roster's events: invitation chunks
(R-MEMBER-2, R-MEMBER-3) and removals (R-ROSTER-7).

An InvitationsRequested chunk (at most 500 people) is handled in one transaction with a fixed
number of statements, whatever its size: a 50,000-person invitation is 100 such chunks.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote
from uuid import UUID, uuid4, uuid5

from ck_contracts.membership import (
    EndReason,
    InvitationsRequested,
    InvitationsSent,
    Invitee,
    SentInvitation,
)
from ck_contracts.notifier import EmailsRequested, MailItem, MailTemplate
from ck_contracts.roster import PersonRemoved
from ck_contracts.topology import queues_of
from ck_runtime.clock import Clock
from ck_runtime.consumers import EventConsumer, PoisonMessage
from ck_runtime.db import Database
from ck_runtime.logs import get_logger
from ck_runtime.outbox import add_to_outbox
from ck_runtime.periodic import run_periodic
from ck_runtime.service import Background, ServiceRuntime
from sqlalchemy.ext.asyncio import AsyncSession

from ck_membership import domain, store
from ck_membership.settings import MembershipSettings
from ck_membership.tables import InvitationStatus

log = get_logger(__name__)
CONCERN = "roster"


def activation_link(portal_url: str, shown_code: str, invitation_id: UUID) -> str:
    """The personal link of the invitation mail; shown_code is the code as displayed. The
    `sleutel` (the invitation's id, domain.link_key) lets the link through every throttle."""
    key = domain.link_key(invitation_id)
    return f"{portal_url.rstrip('/')}/activeren?code={quote(shown_code)}&sleutel={key}"


def mail_id(invitation_id: UUID, request_id: UUID | str) -> UUID:
    """The same invitation in the same click is the same mail: a batch published twice (or a
    chunk handled twice) never makes a second mail; a new click (new request_id) does."""
    return uuid5(invitation_id, str(request_id))


async def on_invitations_requested(
    event: InvitationsRequested, session: AsyncSession, portal_url: str, now: datetime
) -> None:
    if event.school_id is None:
        raise PoisonMessage("InvitationsRequested without school_id")
    people: dict[UUID, Invitee] = {p.person_id: p for p in event.people}  # last one wins
    if not people:
        return
    ids = list(people)
    active = await store.active_members(session, ids)
    open_invitations = await store.open_invitations(session, ids)
    # A resend keeps the open invitation and its code; everyone else not active gets a new one.
    # Two clicks handled at once for the same person both insert: the partial unique index
    # refuses the second, its chunk is redelivered and then finds the invitation to resend.
    invitation_of: dict[UUID, tuple[UUID, str]] = {
        p: open_invitations[p] for p in ids if p in open_invitations and p not in active
    }
    resend = [invitation_id for invitation_id, _ in invitation_of.values()]
    fresh = [p for p in ids if p not in active and p not in open_invitations]
    if resend:
        await store.mark_resent(session, resend, now, event.school_name)
    if fresh:
        codes = await store.new_unique_codes(session, len(fresh))
        rows = []
        for person_id, code in zip(fresh, codes, strict=True):
            invitation_id = uuid4()
            invitation_of[person_id] = (invitation_id, code)
            rows.append(
                {
                    "id": invitation_id,
                    "school_id": event.school_id,
                    "person_id": person_id,
                    "kind": event.kind.value,
                    "code": code,
                    "status": InvitationStatus.OPEN,
                    "school_name": event.school_name,
                    "created_at": now,
                    "last_sent_at": now,
                    "send_count": 1,
                }
            )
        await store.add_invitations(session, rows)

    # Items are built with model_construct: every value is made here (500 validations less).
    request = str(event.request_id)
    mails: list[MailItem] = []
    sent: list[SentInvitation] = []
    for person_id in ids:  # the order of the chunk
        if person_id not in invitation_of:
            continue  # an active member: left alone (R-MEMBER-2)
        invitation_id, code = invitation_of[person_id]
        shown = domain.display_code(code)
        person = people[person_id]
        email = domain.normalise_email(person.email)
        mailed = bool(email)
        if mailed:
            mails.append(
                MailItem.model_construct(
                    id=mail_id(invitation_id, request),
                    to=email,
                    context={
                        "voornaam": person.voornaam,
                        "school_name": event.school_name,
                        "link": activation_link(portal_url, shown, invitation_id),
                        "code": shown,
                    },
                )
            )
        sent.append(
            SentInvitation.model_construct(
                person_id=person_id, activation_code=shown, mailed=mailed
            )
        )
    # Issue 13: where the mail went, for a reminder (kept while the invitation is open).
    await store.remember_recipients(
        session,
        [
            {
                "id": invitation_of[p][0],
                "email": domain.normalise_email(people[p].email),
                "voornaam": people[p].voornaam,
            }
            for p in ids
            if p in invitation_of
        ],
    )
    events: list[Any] = []
    if mails:
        events.append(
            EmailsRequested(
                school_id=event.school_id,
                template=MailTemplate.INVITATION,
                mails=mails,
                run_id=event.request_id,  # issue 14: the notifier reports the run's progress
            )
        )
    # Issue 14: one for every chunk, even one that invited no one, so the roster's invitation
    # run knows when all its chunks are handled.
    events.append(
        InvitationsSent(
            school_id=event.school_id,
            kind=event.kind,
            invitations=sent,
            request_id=event.request_id,
        )
    )
    if events:
        await add_to_outbox(session, *events)
    log.info(
        "invitations.handled",
        school_id=str(event.school_id),
        request_id=str(event.request_id),
        new=len(fresh),
        resent=len(resend),
        skipped_active=len(active),
        mailed=len(mails),
    )


async def on_person_removed(event: PersonRemoved, session: AsyncSession, now: datetime) -> None:
    """R-ROSTER-7: the open invitation is revoked, an active membership ends, and the member's
    own details and card number are erased (R-AVG-2): an id-only row stays."""
    school = event.school_id
    revoked = await store.revoke_open_invitation(session, event.person_id, now, school)
    ended = await store.end_active_membership(
        session, event.person_id, EndReason.REMOVED_FROM_ROSTER, now, school
    )
    await store.erase_personal_details(session, event.person_id, school)
    log.info(
        "person.removed",
        school_id=str(event.school_id),
        person_id=str(event.person_id),
        revoked=revoked,
        ended=ended,
    )


Handler = Callable[[Any, AsyncSession], Coroutine[Any, Any, None]]


def roster_consumer(portal_url: str, clock: Clock) -> EventConsumer:
    """The consumer of membership.events.roster."""
    (queue,) = [q for q in queues_of("membership") if q.concern == CONCERN]

    async def invitations_requested(event: InvitationsRequested, session: AsyncSession) -> None:
        await on_invitations_requested(event, session, portal_url, clock.now())

    async def person_removed(event: PersonRemoved, session: AsyncSession) -> None:
        await on_person_removed(event, session, clock.now())

    handlers: dict[str, Handler] = {
        InvitationsRequested.routing_key: invitations_requested,
        PersonRemoved.routing_key: person_removed,
    }
    return EventConsumer(queue, handlers)


# --- issue 13: invitation reminders ----------------------------------------------------------
# An invited member who has not activated `invitation_reminder_days` after the last mail gets a
# reminder with the same code and the same personal link (the invitation is unchanged, as on a
# resend, R-MEMBER-2), at most `invitation_reminders` times. Every replica runs the job
# (ck_runtime.periodic); the conditional UPDATE of reminders_sent (store.mark_reminded) makes
# each reminder once-only, and the mails are asked for in the same transaction. The mail id is
# uuid5(invitation id, "reminder-<n>"): the same reminder is the same mail for the notifier.
REMINDER_JOB = "membership.invitation_reminders"


def reminder_mail_id(invitation_id: UUID, number: int) -> UUID:
    return uuid5(invitation_id, f"reminder-{number}")


async def remind_invitations(db: Database, settings: MembershipSettings, clock: Clock) -> int:
    """One pass: a batch of due reminders. Returns how many this pass asked for."""
    if settings.invitation_reminders == 0:
        return 0
    now = clock.now()
    sent_before = now - timedelta(days=settings.invitation_reminder_days)
    by_school: dict[UUID, list[MailItem]] = {}
    async with db.transaction() as session:
        due = await store.reminders_due(
            session, sent_before, settings.invitation_reminders, settings.reminder_batch
        )
        for row in due:
            if not await store.mark_reminded(session, row.id, row.reminders_sent, now):
                continue
            shown = domain.display_code(row.code)
            by_school.setdefault(row.school_id, []).append(
                MailItem(
                    id=reminder_mail_id(row.id, row.reminders_sent + 1),
                    to=row.email,
                    context={
                        "voornaam": row.voornaam or "",
                        "school_name": row.school_name,
                        "link": activation_link(settings.portal_url, shown, row.id),
                        "code": shown,
                    },
                )
            )
        if by_school:
            await add_to_outbox(
                session,
                *(
                    EmailsRequested(
                        school_id=school_id, template=MailTemplate.INVITATION_REMINDER, mails=mails
                    )
                    for school_id, mails in by_school.items()
                ),
            )
    count = sum(len(mails) for mails in by_school.values())
    if count:
        log.info("invitations.reminded", count=count)
    return count


def reminder_scheduler(settings: MembershipSettings, clock: Clock) -> Background:
    async def invitation_reminders(runtime: ServiceRuntime) -> None:
        async def one_pass() -> bool:
            count = await remind_invitations(runtime.db, settings, clock)
            return count >= settings.reminder_batch

        await run_periodic(REMINDER_JOB, one_pass, settings.reminder_poll_seconds)

    return invitation_reminders
