"""All of the membership service's SQL (SQLAlchemy Core): the operations', the event
handlers' and the retention rules'."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any
from uuid import UUID

from ck_contracts.membership import EndReason, MembershipEnded
from ck_contracts.roster import RosterKind
from ck_runtime.db import erases_personal_data, rowcount
from ck_runtime.outbox import add_to_outbox
from ck_runtime.retention import RetentionRule, delete_expired
from sqlalchemy import (
    Row,
    Table,
    any_,
    bindparam,
    case,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from ck_membership import domain
from ck_membership.tables import (
    OPEN,
    InvitationStatus,
    MembershipState,
    activation_failures,
    invitations,
    memberships,
)

# The member's own details and their card number, erased when the person leaves the roster
# (R-AVG-2): an id-only row stays (status ended, removed_from_roster).
PERSONAL_COLUMNS = ("voornaam", "achternaam", "email", "geboortedatum", "card_number")


def _postgres(session: AsyncSession) -> bool:
    return session.bind is not None and session.bind.dialect.name == "postgresql"


def dialect_insert(session: AsyncSession) -> Any:
    """INSERT with ON CONFLICT for the session's database."""
    return postgresql.insert if _postgres(session) else sqlite.insert


def among(session: AsyncSession, column: Any, values: Collection[Any]) -> Any:
    """`column IN values` for up to a chunk's worth of values.

    On PostgreSQL as `= ANY(one array parameter)`: one statement text for any number of
    values (one prepared statement), and should the planner ever scan (a freshly filled table
    has no statistics yet) it hashes the array instead of comparing each row with 500
    parameters one by one. SQLite looks each value of an IN list up in the index.
    """
    if _postgres(session):
        return column == any_(bindparam(None, list(values), type_=postgresql.ARRAY(column.type)))
    return column.in_(list(values))


# --- codes and card numbers ------------------------------------------------------------------
async def new_unique_codes(session: AsyncSession, count: int) -> list[str]:
    """`count` new activation codes that no invitation has: one look-up per round (a clash in
    2**60 codes is all but impossible; the unique index stays the last word)."""
    codes: set[str] = set()
    while len(codes) < count:
        candidates = {domain.new_code() for _ in range(count - len(codes))} - codes
        taken = set(
            (
                await session.execute(
                    select(invitations.c.code).where(among(session, invitations.c.code, candidates))
                )
            ).scalars()
        )
        codes |= candidates - taken
    return list(codes)


class NoFreeCardNumber(Exception):
    pass


async def new_card_number(session: AsyncSession, tries: int = 10) -> str:
    for _ in range(tries):
        number = domain.new_card_number()
        query = select(memberships.c.person_id).where(memberships.c.card_number == number)
        if (await session.execute(query)).first() is None:
            return number
    raise NoFreeCardNumber  # 10 clashes in 9 * 10**11 numbers: something else is wrong


# --- throttling ------------------------------------------------------------------------------
async def failures_in(session: AsyncSession, keys: list[str]) -> dict[str, domain.Failures]:
    """The buckets' current states (a bucket without failures has no row)."""
    rows = await session.execute(
        select(
            activation_failures.c.bucket,
            activation_failures.c.failures,
            activation_failures.c.window_start,
        ).where(activation_failures.c.bucket.in_(keys))
    )
    return {row.bucket: domain.Failures(row.failures, row.window_start) for row in rows}


async def record_failure(session: AsyncSession, keys: list[str], now: datetime) -> None:
    """One more failed attempt in each bucket (domain.after_failure), in one statement: a
    bucket without a row starts at 1, one whose window has passed starts again, any other
    counts up. Concurrent failures never read-then-write, so none is lost. The keys come
    sorted (domain.buckets), so concurrent statements lock the rows in the same order.
    Then expired rows are deleted (on PostgreSQL only those no one else holds: this never
    waits)."""
    cutoff = now - domain.FAILURE_WINDOW
    table = activation_failures
    statement = dialect_insert(session)(table).values(
        [{"bucket": key, "window_start": now, "failures": 1} for key in keys]
    )
    expired = table.c.window_start <= cutoff
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["bucket"],
            set_={
                "failures": case((expired, 1), else_=table.c.failures + 1),
                "window_start": case(
                    (expired, statement.excluded.window_start), else_=table.c.window_start
                ),
            },
        )
    )
    stale = select(table.c.bucket).where(table.c.window_start <= cutoff)
    if _postgres(session):
        stale = stale.with_for_update(skip_locked=True)
    await session.execute(delete(table).where(table.c.bucket.in_(stale)))


async def personal_link_matches(session: AsyncSession, code: str, key: str) -> bool:
    """Whether `key` is the personal link's key of the invitation with this code (any status:
    the handler says whether it is still open). The same work whether the code exists or not."""
    found = (
        await session.execute(select(invitations.c.id).where(invitations.c.code == code))
    ).scalar_one_or_none()
    return domain.link_matches(found, key)


def _of_school(table: Table, school_id: UUID | None) -> list[Any]:
    """A tenant guard: an event or a command about one school never touches another's rows."""
    return [] if school_id is None else [table.c.school_id == school_id]


# --- ending memberships ----------------------------------------------------------------------
async def end_active_membership(
    session: AsyncSession,
    person_id: UUID,
    reason: EndReason,
    now: datetime,
    school_id: UUID | None = None,
) -> bool:
    """Active -> ended, with MembershipEnded in the outbox. False when there was no active
    membership (of that school, when given). The conditional update makes two concurrent ends
    publish one event."""
    condition = [
        memberships.c.person_id == person_id,
        memberships.c.status == MembershipState.ACTIVE,
        *_of_school(memberships, school_id),
    ]
    result = await session.execute(
        update(memberships)
        .where(*condition)
        .values(status=MembershipState.ENDED, ended_at=now, end_reason=reason.value)
    )
    if rowcount(result) != 1:
        return False
    row = (
        await session.execute(
            select(memberships.c.school_id, memberships.c.kind).where(
                memberships.c.person_id == person_id
            )
        )
    ).one()
    await add_to_outbox(
        session,
        MembershipEnded(
            school_id=row.school_id,
            person_id=person_id,
            kind=RosterKind(row.kind),
            reason=reason,
        ),
    )
    return True


async def erase_personal_details(
    session: AsyncSession, person_id: UUID, school_id: UUID | None = None
) -> None:
    """Blank what the member told us and their card number. A number freed this way may be
    given out again one day (a chance of 1 in 9 x 10^11 per activation for each freed number,
    as for the number a re-activation replaces); no service links it to the removed person by
    then (the budget service forgets it on the same PersonRemoved)."""
    erases_personal_data(session)
    await session.execute(
        update(memberships)
        .where(memberships.c.person_id == person_id, *_of_school(memberships, school_id))
        .values(dict.fromkeys(PERSONAL_COLUMNS))
    )
    await session.execute(  # issue 13: the reminder's address of any invitation
        update(invitations)
        .where(invitations.c.person_id == person_id, *_of_school(invitations, school_id))
        .values(email=None, voornaam=None)
    )


async def revoke_open_invitation(
    session: AsyncSession, person_id: UUID, now: datetime, school_id: UUID | None = None
) -> int:
    result = await session.execute(
        update(invitations)
        .where(
            invitations.c.person_id == person_id,
            invitations.c.status == OPEN,
            *_of_school(invitations, school_id),
        )
        .values(status=InvitationStatus.REVOKED, closed_at=now, email=None, voornaam=None)
    )
    return rowcount(result)


# --- activation ------------------------------------------------------------------------------
async def invitation_by_code(session: AsyncSession, code: str) -> Row[Any] | None:
    return (await session.execute(select(invitations).where(invitations.c.code == code))).first()


async def claim_invitation(session: AsyncSession, invitation_id: UUID, now: datetime) -> bool:
    """Open -> used; False when another activation of the same code was first."""
    claimed = await session.execute(
        update(invitations)
        .where(invitations.c.id == invitation_id, invitations.c.status == InvitationStatus.OPEN)
        .values(status=InvitationStatus.USED, closed_at=now, email=None, voornaam=None)
    )
    return rowcount(claimed) == 1


async def save_membership(session: AsyncSession, values: dict[str, Any]) -> bool:
    """The activated membership; False when the person has an active one already.

    A person whose membership ended may activate again (after a new invitation): the row is
    theirs, with a new card number. An active membership is never overwritten."""
    statement = dialect_insert(session)(memberships).values(**values)
    upsert = statement.on_conflict_do_update(
        index_elements=["person_id"],
        set_={k: statement.excluded[k] for k in values if k != "person_id"},
        where=memberships.c.status == MembershipState.ENDED,
    )
    return rowcount(await session.execute(upsert)) == 1


# --- invitation chunks -----------------------------------------------------------------------
async def active_members(session: AsyncSession, ids: list[UUID]) -> set[UUID]:
    return set(
        (
            await session.execute(
                select(memberships.c.person_id).where(
                    among(session, memberships.c.person_id, ids),
                    memberships.c.status == MembershipState.ACTIVE,
                )
            )
        ).scalars()
    )


async def open_invitations(session: AsyncSession, ids: list[UUID]) -> dict[UUID, tuple[UUID, str]]:
    """person -> (invitation id, code) of their open invitation."""
    return {
        row.person_id: (row.id, row.code)
        for row in await session.execute(
            select(invitations.c.person_id, invitations.c.id, invitations.c.code).where(
                among(session, invitations.c.person_id, ids),
                invitations.c.status == OPEN,
            )
        )
    }


async def mark_resent(
    session: AsyncSession, invitation_ids: list[UUID], now: datetime, school_name: str
) -> None:
    await session.execute(
        update(invitations)
        .where(among(session, invitations.c.id, invitation_ids), invitations.c.status == OPEN)
        .values(
            last_sent_at=now,
            send_count=invitations.c.send_count + 1,
            school_name=school_name,
        )
    )


async def add_invitations(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    await session.execute(insert(invitations), rows)


# --- issue 13: invitation reminders ----------------------------------------------------------
async def remember_recipients(session: AsyncSession, recipients: list[dict[str, Any]]) -> None:
    """The address and first name the invitation mail went to (id, email, voornaam), for a
    reminder; an empty address (no mail) is stored as NULL."""
    if recipients:
        await session.execute(
            update(invitations)
            .where(invitations.c.id == bindparam("b_id"), invitations.c.status == OPEN)
            .values(email=bindparam("b_email"), voornaam=bindparam("b_voornaam")),
            [
                {"b_id": r["id"], "b_email": r["email"] or None, "b_voornaam": r["voornaam"]}
                for r in recipients
            ],
        )


async def reminders_due(
    session: AsyncSession, sent_before: datetime, most: int, limit: int
) -> list[Row[Any]]:
    """Open invitations with an address, last mailed before `sent_before`, with fewer than
    `most` reminders. On PostgreSQL locked SKIP LOCKED: replicas take other rows."""
    query = (
        select(invitations)
        .where(
            invitations.c.status == OPEN,
            invitations.c.last_sent_at <= sent_before,
            invitations.c.reminders_sent < most,
            invitations.c.email.is_not(None),
        )
        .order_by(invitations.c.last_sent_at, invitations.c.id)
        .limit(limit)
    )
    if _postgres(session):
        query = query.with_for_update(skip_locked=True)
    return list((await session.execute(query)).all())


async def mark_reminded(
    session: AsyncSession, invitation_id: UUID, reminders_sent: int, now: datetime
) -> bool:
    """The conditional UPDATE that makes each reminder once-only: True for the one caller
    that moved the count from `reminders_sent`."""
    result = await session.execute(
        update(invitations)
        .where(
            invitations.c.id == invitation_id,
            invitations.c.status == OPEN,
            invitations.c.reminders_sent == reminders_sent,
        )
        .values(reminders_sent=reminders_sent + 1, last_sent_at=now)
    )
    return rowcount(result) == 1


# --- retention (ck_runtime.retention, R-AVG-2) ---------------------------------------------------
def retention_rules() -> list[RetentionRule]:
    """Activation throttle rows (a bucket: a keyed hash of a client address, a code prefix, or
    everyone, and its failed attempts), once their window has passed: a new failure starts a
    new window anyway (domain.after_failure). `record_failure` also clears expired windows,
    but only when someone fails again.

    Everything else the service keeps about a person is erased when the person leaves the
    roster (consumers.on_person_removed): the member's details and the card number go at once;
    what stays are ids, statuses, times and the used or revoked code."""
    return [
        delete_expired(
            "activation_failures.stale",
            activation_failures,
            activation_failures.c.window_start,
            domain.FAILURE_WINDOW,
        ),
    ]
