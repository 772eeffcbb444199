"""The weborders service's event queues.

weborders.events.budget: the budget's answers in the approval saga. Every transition is a
conditional update from in_behandeling, so a redelivered or late event (another event id, so
the inbox lets it through) changes nothing: BudgetDebited -> goedgekeurd (+ WeborderSettled for
a weborder), BudgetDebitRefused -> geweigerd with the budget's reason. BudgetCredited records
that a cancelled approval's amount is back. CardPaymentMade becomes a card-payment row (export,
dossier), once per payment id.

weborders.events.roster: who is on each school's roster (`roster_people`, ids only): the ids of
an upload's new people (RosterPeopleAdded, up to 1,000 per event) and of a person added by hand
(PersonAdded); the dossier and a weborder's participants accept no one else (R-DOSSIER-1).
PersonRemoved takes the person off, deletes the student's dossier notes, their weborder
participations and the person link of their card payments, and leaves a tombstone (ids only) so
a late card payment, or an addition delivered after the removal, does not bring them back
(R-AVG-2; the roster never reuses an id). TeacherRemoved erases a removed teacher's name and
address where they arranged something (on_teacher_removed).

Issue 13: BudgetDebited and BudgetDebitRefused of a weborder also mail its provider
(ck_weborders.mails), in the transaction of the change, so the mail goes when the status moved.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from ck_contracts.budget import BudgetCredited, BudgetDebited, BudgetDebitRefused, CardPaymentMade
from ck_contracts.messaging import Event
from ck_contracts.notifier import MailTemplate
from ck_contracts.roster import (
    PersonAdded,
    PersonRemoved,
    RosterKind,
    RosterPeopleAdded,
    TeacherRemoved,
)
from ck_contracts.topology import EventQueue, queues_of
from ck_contracts.weborders import DebitKind, WeborderSettled, WeborderStatus
from ck_runtime.clock import Clock
from ck_runtime.consumers import EventConsumer, PoisonMessage
from ck_runtime.db import erases_personal_data
from ck_runtime.logs import get_logger
from ck_runtime.outbox import add_to_outbox
from sqlalchemy.ext.asyncio import AsyncSession

from ck_weborders import mails, store
from ck_weborders.tables import weborders as weborders_table

log = get_logger(__name__)
S = WeborderStatus
E = TypeVar("E", bound=Event)


def _queue(concern: str) -> EventQueue:
    (queue,) = [q for q in queues_of("weborders") if q.concern == concern]
    return queue


def _with_clock(
    handler: Callable[[E, AsyncSession, Clock], Awaitable[None]], clock: Clock
) -> Callable[[E, AsyncSession], Awaitable[None]]:
    async def handle(event: E, session: AsyncSession) -> None:
        await handler(event, session, clock)

    return handle


def _kind(kind: str) -> DebitKind:
    try:
        return DebitKind(kind)
    except ValueError:
        raise PoisonMessage(f"unknown debit kind {kind!r}") from None


async def _settle(
    session: AsyncSession, event: BudgetDebited | BudgetDebitRefused, values: dict[str, Any]
) -> bool:
    """in_behandeling -> values; False when the order had already moved on (or is unknown)."""
    done = await store.settle(
        session, _kind(event.kind), event.reference_id, event.school_id, values
    )
    if not done:
        log.info("saga.stale", kind=event.kind, reference_id=str(event.reference_id))
    return done


async def _mail_provider(
    session: AsyncSession, weborder_id: Any, template: MailTemplate, portal_url: str
) -> None:
    """Issue 13: the provider hears the outcome (goedgekeurd, or geweigerd with the reason)."""
    row = await store.weborder_row(session, weborders_table.c.id == weborder_id)
    if row is not None:
        await mails.weborder_decided(session, row, template, portal_url, reason=row.reason)


async def on_debited(
    event: BudgetDebited, session: AsyncSession, clock: Clock, portal_url: str = ""
) -> None:
    values = {"status": S.APPROVED.value, "settled_at": clock.now()}
    if not await _settle(session, event, values):
        return
    if event.kind == DebitKind.WEBORDER.value:
        await _mail_provider(
            session, event.reference_id, MailTemplate.WEBORDER_APPROVED, portal_url
        )
        participants = await store.participants_of(session, [event.reference_id])
        await add_to_outbox(
            session,
            WeborderSettled(
                school_id=event.school_id,
                weborder_id=event.reference_id,
                participant_ids=participants.get(event.reference_id, []),
            ),
        )
    log.info("saga.debited", kind=event.kind, reference_id=str(event.reference_id))


async def on_refused(
    event: BudgetDebitRefused, session: AsyncSession, clock: Clock, portal_url: str = ""
) -> None:
    values = {"status": S.REFUSED.value, "reason": event.reason[:500]}
    if await _settle(session, event, values):
        if event.kind == DebitKind.WEBORDER.value:
            await _mail_provider(
                session, event.reference_id, MailTemplate.WEBORDER_REFUSED, portal_url
            )
        log.info("saga.refused", kind=event.kind, reference_id=str(event.reference_id))


async def on_credited(event: BudgetCredited, session: AsyncSession, clock: Clock) -> None:
    if event.kind != DebitKind.WEBORDER.value:
        log.info("saga.credit_ignored", kind=event.kind, reference_id=str(event.reference_id))
        return
    await store.mark_credited(session, event.reference_id, clock.now())
    log.info("saga.credited", reference_id=str(event.reference_id))


async def on_card_payment(event: CardPaymentMade, session: AsyncSession, clock: Clock) -> None:
    if event.school_id is None:
        raise PoisonMessage(f"CardPaymentMade {event.payment_id} names no school")
    removed = await store.removed_of(session, [event.person_id])
    await store.add_card_payment(
        session,
        payment_id=event.payment_id,
        school_id=event.school_id,
        person_id=None if event.person_id in removed else event.person_id,
        provider_id=event.provider_id,
        amount_cents=event.amount_cents,
        description=event.description[:200],
        paid_at=event.paid_at,
    )
    log.info("card_payment.recorded", payment_id=str(event.payment_id))


def budget_consumer(clock: Clock, portal_url: str = "") -> EventConsumer:
    """portal_url: the links in the provider's mails (issue 13)."""
    return EventConsumer(
        _queue("budget"),
        {
            BudgetDebited.routing_key: _with_clock(
                functools.partial(on_debited, portal_url=portal_url), clock
            ),
            BudgetDebitRefused.routing_key: _with_clock(
                functools.partial(on_refused, portal_url=portal_url), clock
            ),
            BudgetCredited.routing_key: _with_clock(on_credited, clock),
            CardPaymentMade.routing_key: _with_clock(on_card_payment, clock),
        },
    )


async def _on_roster(
    session: AsyncSession, event: Event, kind: RosterKind, person_ids: list[uuid.UUID]
) -> int:
    """Put people on the school's roster (ids only), except those already removed: the
    roster never reuses an id, so a tombstone means an addition arrived after its removal."""
    if event.school_id is None:
        raise PoisonMessage(f"{event.routing_key} {event.id} names no school")
    removed = await store.removed_of(session, person_ids)
    people = [pid for pid in dict.fromkeys(person_ids) if pid not in removed]
    await store.put_on_roster(session, event.school_id, kind, people)
    return len(people)


async def on_people_added(event: RosterPeopleAdded, session: AsyncSession, clock: Clock) -> None:
    count = await _on_roster(session, event, event.kind, event.person_ids)
    log.info("roster.people_added", upload_id=str(event.upload_id), people=count)


async def on_person_added(event: PersonAdded, session: AsyncSession, clock: Clock) -> None:
    await _on_roster(session, event, event.kind, [event.person_id])
    log.info("roster.person_added", person_id=str(event.person_id))


async def on_person_removed(event: PersonRemoved, session: AsyncSession, clock: Clock) -> None:
    erases_personal_data(session)
    counts = await store.remove_person(session, event.person_id, clock.now())
    log.info("dossier.person_removed", person_id=str(event.person_id), **counts)


async def on_teacher_removed(event: TeacherRemoved, session: AsyncSession, clock: Clock) -> None:
    """A teacher left the roster: where they arranged something, their name and address go
    (R-AVG-2): a weborder's Docent+ address, an offer request's requester, a dossier note's
    author. Matched within the school, case-insensitively, on the address and on the name as
    the portal writes a Docent+ account's name ("voornaam achternaam"; a user without a name
    is written as their address). Another user of the school with exactly that name loses
    their name on those rows too: erasing too much, never too little."""
    if event.school_id is None:
        raise PoisonMessage(f"TeacherRemoved {event.id} names no school")
    email = event.email.strip().lower()
    name = f"{event.voornaam} {event.achternaam}".strip()[:200].lower()
    who = [value for value in (name, email) if value]
    if not who:
        return
    erases_personal_data(session)
    counts = await store.erase_teacher(session, event.school_id, email, who)
    log.info("teacher.erased", person_id=str(event.person_id), **counts)


def roster_consumer(clock: Clock) -> EventConsumer:
    return EventConsumer(
        _queue("roster"),
        {
            RosterPeopleAdded.routing_key: _with_clock(on_people_added, clock),
            PersonAdded.routing_key: _with_clock(on_person_added, clock),
            PersonRemoved.routing_key: _with_clock(on_person_removed, clock),
            TeacherRemoved.routing_key: _with_clock(on_teacher_removed, clock),
        },
    )
