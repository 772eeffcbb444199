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
"""

from __future__ import annotations

import uuid
from typing import Any

from ck_contracts.budget import BudgetCredited, BudgetDebited, BudgetDebitRefused, CardPaymentMade
from ck_contracts.messaging import Event, utcnow
from ck_contracts.roster import (
    PersonAdded,
    PersonRemoved,
    RosterKind,
    RosterPeopleAdded,
    TeacherRemoved,
)
from ck_contracts.topology import queues_of
from ck_contracts.weborders import DebitKind, WeborderSettled, WeborderStatus
from ck_runtime.consumers import EventConsumer, PoisonMessage
from ck_runtime.db import erases_personal_data
from ck_runtime.logs import get_logger
from ck_runtime.outbox import add_to_outbox
from sqlalchemy import Table, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ck_weborders import store
from ck_weborders.tables import (
    card_payments,
    dossier_notes,
    offer_requests,
    removed_people,
    roster_people,
    schooltoer_orders,
    weborder_participants,
    weborders,
)

log = get_logger(__name__)
S = WeborderStatus


def _queue(concern: str) -> Any:
    (queue,) = [q for q in queues_of("weborders") if q.concern == concern]
    return queue


def _table(kind: str) -> Table:
    if kind == DebitKind.WEBORDER.value:
        return weborders
    if kind == DebitKind.SCHOOLTOER.value:
        return schooltoer_orders
    raise PoisonMessage(f"unknown debit kind {kind!r}")


async def _settle(
    session: AsyncSession, event: BudgetDebited | BudgetDebitRefused, values: dict[str, Any]
) -> bool:
    """in_behandeling -> values; False when the order had already moved on (or is unknown)."""
    table = _table(event.kind)
    where = (table.c.id == event.reference_id) & (table.c.status == S.APPROVING.value)
    if event.school_id is not None:
        where = where & (table.c.school_id == event.school_id)
    done = await session.execute(update(table).where(where).values(**values))
    if done.rowcount != 1:  # type: ignore[attr-defined]
        log.info("saga.stale", kind=event.kind, reference_id=str(event.reference_id))
        return False
    return True


async def on_debited(event: BudgetDebited, session: AsyncSession) -> None:
    values = {"status": S.APPROVED.value, "settled_at": utcnow()}
    if not await _settle(session, event, values):
        return
    if event.kind == DebitKind.WEBORDER.value:
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


async def on_refused(event: BudgetDebitRefused, session: AsyncSession) -> None:
    values = {"status": S.REFUSED.value, "reason": event.reason[:500]}
    if await _settle(session, event, values):
        log.info("saga.refused", kind=event.kind, reference_id=str(event.reference_id))


async def on_credited(event: BudgetCredited, session: AsyncSession) -> None:
    if event.kind != DebitKind.WEBORDER.value:
        log.info("saga.credit_ignored", kind=event.kind, reference_id=str(event.reference_id))
        return
    await session.execute(
        update(weborders)
        .where(
            weborders.c.id == event.reference_id,
            weborders.c.status == S.CANCELLED.value,
            weborders.c.credited_at.is_(None),
        )
        .values(credited_at=utcnow())
    )
    log.info("saga.credited", reference_id=str(event.reference_id))


async def on_card_payment(event: CardPaymentMade, session: AsyncSession) -> None:
    if event.school_id is None:
        raise PoisonMessage(f"CardPaymentMade {event.payment_id} names no school")
    removed = await session.execute(
        select(removed_people.c.person_id).where(removed_people.c.person_id == event.person_id)
    )
    await session.execute(
        store.insert(session, card_payments)
        .values(
            id=event.payment_id,
            school_id=event.school_id,
            person_id=None if removed.first() is not None else event.person_id,
            provider_id=event.provider_id,
            amount_cents=event.amount_cents,
            description=event.description[:200],
            paid_at=event.paid_at,
        )
        .on_conflict_do_nothing()
    )
    log.info("card_payment.recorded", payment_id=str(event.payment_id))


def budget_consumer() -> EventConsumer:
    return EventConsumer(
        _queue("budget"),
        {
            BudgetDebited.routing_key: on_debited,
            BudgetDebitRefused.routing_key: on_refused,
            BudgetCredited.routing_key: on_credited,
            CardPaymentMade.routing_key: on_card_payment,
        },
    )


async def _on_roster(
    session: AsyncSession, event: Event, kind: RosterKind, person_ids: list[uuid.UUID]
) -> int:
    """Put people on the school's roster (ids only), except those already removed: the
    roster never reuses an id, so a tombstone means an addition arrived after its removal."""
    if event.school_id is None:
        raise PoisonMessage(f"{event.routing_key} {event.id} names no school")
    removed = set(
        (
            await session.execute(
                select(removed_people.c.person_id).where(removed_people.c.person_id.in_(person_ids))
            )
        ).scalars()
    )
    rows = [
        {"person_id": pid, "school_id": event.school_id, "kind": kind.value}
        for pid in dict.fromkeys(person_ids)
        if pid not in removed
    ]
    if rows:
        await session.execute(store.insert(session, roster_people).on_conflict_do_nothing(), rows)
    return len(rows)


async def on_people_added(event: RosterPeopleAdded, session: AsyncSession) -> None:
    count = await _on_roster(session, event, event.kind, event.person_ids)
    log.info("roster.people_added", upload_id=str(event.upload_id), people=count)


async def on_person_added(event: PersonAdded, session: AsyncSession) -> None:
    await _on_roster(session, event, event.kind, [event.person_id])
    log.info("roster.person_added", person_id=str(event.person_id))


async def on_person_removed(event: PersonRemoved, session: AsyncSession) -> None:
    person = event.person_id
    erases_personal_data(session)
    await session.execute(
        store.insert(session, removed_people)
        .values(person_id=person, removed_at=utcnow())
        .on_conflict_do_nothing()
    )
    await session.execute(delete(roster_people).where(roster_people.c.person_id == person))
    notes = await session.execute(delete(dossier_notes).where(dossier_notes.c.person_id == person))
    links = await session.execute(
        delete(weborder_participants).where(weborder_participants.c.person_id == person)
    )
    payments = await session.execute(
        update(card_payments).where(card_payments.c.person_id == person).values(person_id=None)
    )
    log.info(
        "dossier.person_removed",
        person_id=str(person),
        notes=notes.rowcount,  # type: ignore[attr-defined]
        participations=links.rowcount,  # type: ignore[attr-defined]
        card_payments=payments.rowcount,  # type: ignore[attr-defined]
    )


async def on_teacher_removed(event: TeacherRemoved, session: AsyncSession) -> None:
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
    school = event.school_id
    arranged = 0
    if email:
        done = await session.execute(
            update(weborders)
            .where(
                weborders.c.school_id == school, func.lower(weborders.c.docent_plus_email) == email
            )
            .values(docent_plus_email="")
        )
        arranged = done.rowcount  # type: ignore[attr-defined]
    requests = await session.execute(
        update(offer_requests)
        .where(
            offer_requests.c.school_id == school,
            func.lower(offer_requests.c.requested_by).in_(who),
        )
        .values(requested_by="")
    )
    notes = await session.execute(
        update(dossier_notes)
        .where(dossier_notes.c.school_id == school, func.lower(dossier_notes.c.author).in_(who))
        .values(author="")
    )
    log.info(
        "teacher.erased",
        person_id=str(event.person_id),
        weborders=arranged,
        requests=requests.rowcount,  # type: ignore[attr-defined]
        notes=notes.rowcount,  # type: ignore[attr-defined]
    )


def roster_consumer() -> EventConsumer:
    return EventConsumer(
        _queue("roster"),
        {
            RosterPeopleAdded.routing_key: on_people_added,
            PersonAdded.routing_key: on_person_added,
            PersonRemoved.routing_key: on_person_removed,
            TeacherRemoved.routing_key: on_teacher_removed,
        },
    )
