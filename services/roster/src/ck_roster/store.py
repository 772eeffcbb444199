"""Writing rosters: the upload's replace (R-ROSTER-4) and hand edits (R-ROSTER-5).

The matching and the diff are plain functions without I/O (`plan_replace`); `replace_roster`
applies a plan with bulk statements in the caller's transaction: one SELECT of what is there,
deletes by id in chunks, executemany updates of changed rows only, executemany inserts.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple, TypeVar
from uuid import UUID

from ck_contracts.roster import MembershipStatus, PersonFields, RosterKind
from ck_runtime.errors import NotFound
from sqlalchemy import and_, bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ck_roster.tables import LOWERED_FIELDS, TEXT_FIELDS, known_schools, people

T = TypeVar("T")
CHUNK = 2000  # rows per statement: well under SQLite's and asyncpg's parameter limits
_SEPARATOR = "\x1f"  # never in a trimmed spreadsheet cell that a person would type
UNKNOWN_SCHOOL = "Deze school is (nog) niet bekend."


# --- matching (no I/O) ---------------------------------------------------------------------------
def email_key(fields: PersonFields) -> str:
    """The e-mail address as matched and kept unique: lower case, "" when absent."""
    return fields.email.strip().lower()


def name_key(fields: PersonFields) -> str:
    """R-ROSTER-4's fallback: the same voornaam, achternaam, locatienaam, studiejaar and
    opleiding (compared case-insensitively, like the e-mail). Teachers have no studiejaar
    and opleiding: for them it is voornaam, achternaam and locatienaam."""
    v = fields.__dict__  # plain attribute values: this runs 50,000 times per upload
    year = v["studiejaar"]
    return _SEPARATOR.join(
        (
            v["voornaam"].strip().lower(),
            v["achternaam"].strip().lower(),
            v["locatienaam"].strip().lower(),
            "" if year is None else str(year),
            v["opleiding"].strip().lower(),
        )
    )


def digest(fields: PersonFields) -> str:
    """A hash of every field: a re-upload rewrites a kept person only when it changed."""
    v = fields.__dict__
    year = v["studiejaar"]
    text = _SEPARATOR.join([*(v[f] for f in TEXT_FIELDS), "" if year is None else str(year)])
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


class Existing(NamedTuple):
    """What the upload reads of a person already in the roster."""

    id: UUID
    email_lower: str
    match_key: str
    digest: str


@dataclass
class ReplacePlan:
    """The effect of an upload: who is kept (and of those, who changed), added, removed."""

    kept: list[tuple[UUID, PersonFields]] = field(default_factory=list)
    changed: list[tuple[UUID, PersonFields]] = field(default_factory=list)
    added: list[PersonFields] = field(default_factory=list)
    removed: list[UUID] = field(default_factory=list)


def plan_replace(existing: Sequence[Existing], rows: Sequence[PersonFields]) -> ReplacePlan:
    """Match the file's rows to the people already there (R-ROSTER-4).

    A row and a person match on the same e-mail (case-insensitive) when both have one;
    otherwise on the name key. When both have an address and the addresses differ they are
    different people, however alike their names. Each person matches at most one row.
    """
    by_email = {p.email_lower: p for p in existing if p.email_lower}
    by_name: dict[str, list[Existing]] = {}
    for person in existing:
        by_name.setdefault(person.match_key, []).append(person)
    taken: set[UUID] = set()
    plan = ReplacePlan()
    pending: list[PersonFields] = []
    for row in rows:  # first every e-mail match, so a name match never steals one
        email = email_key(row)
        person = by_email.get(email) if email else None
        if person is not None and person.id not in taken:
            taken.add(person.id)
            _keep(plan, person, row)
        else:
            pending.append(row)
    for row in pending:
        person = _name_match(by_name.get(name_key(row), ()), taken, bool(email_key(row)))
        if person is None:
            plan.added.append(row)
        else:
            taken.add(person.id)
            _keep(plan, person, row)
    plan.removed = [p.id for p in existing if p.id not in taken]
    return plan


def _name_match(
    candidates: Iterable[Existing], taken: set[UUID], has_email: bool
) -> Existing | None:
    for person in candidates:
        if person.id in taken or (has_email and person.email_lower):
            continue
        return person
    return None


def _keep(plan: ReplacePlan, person: Existing, row: PersonFields) -> None:
    plan.kept.append((person.id, row))
    if digest(row) != person.digest:
        plan.changed.append((person.id, row))


# --- rows ----------------------------------------------------------------------------------------
# The columns a person's fields fill, in the order of `field_row`.
FIELD_COLUMNS = (
    *TEXT_FIELDS,
    "studiejaar",
    *(f"{f}_lower" for f in LOWERED_FIELDS),
    "match_key",
    "digest",
)


def field_row(fields: PersonFields) -> tuple[Any, ...]:
    """The stored values of a person's fields (FIELD_COLUMNS), shadows and keys included."""
    v = fields.__dict__
    return (
        *(v[f] for f in TEXT_FIELDS),
        v["studiejaar"],
        *(v[f].lower() for f in LOWERED_FIELDS),
        name_key(fields),
        digest(fields),
    )


def field_values(fields: PersonFields) -> dict[str, Any]:
    """field_row by column name."""
    return dict(zip(FIELD_COLUMNS, field_row(fields), strict=True))


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _roster(school_id: UUID, kind: RosterKind) -> Any:
    return and_(people.c.school_id == school_id, people.c.kind == kind.value)


# --- statements ----------------------------------------------------------------------------------
async def load_existing(session: AsyncSession, school_id: UUID, kind: RosterKind) -> list[Existing]:
    query = select(people.c.id, people.c.email_lower, people.c.match_key, people.c.digest).where(
        _roster(school_id, kind)
    )
    return [Existing(*row) for row in (await session.execute(query)).all()]


async def replace_roster(
    session: AsyncSession,
    school_id: UUID,
    kind: RosterKind,
    rows: Sequence[PersonFields],
    now: datetime,
) -> ReplacePlan:
    """Replace the roster with the file's rows in the caller's transaction."""
    plan = plan_replace(await load_existing(session, school_id, kind), rows)
    # Deletes first: the rows' data is gone (R-AVG-2), and an address a removed person had
    # can never collide with an added one.
    for ids in chunks(plan.removed):
        await session.execute(delete(people).where(people.c.id.in_(ids)))
    if plan.changed:
        columns = field_values(plan.changed[0][1]).keys()
        statement = (
            update(people)
            .where(people.c.id == bindparam("b_id"))
            .values({c: bindparam(f"b_{c}") for c in [*columns, "updated_at"]})
        )
        for batch in chunks(plan.changed):
            params = [
                {"b_id": pid, "b_updated_at": now}
                | {f"b_{k}": v for k, v in field_values(row).items()}
                for pid, row in batch
            ]
            await session.execute(statement, params)
    await insert_people(session, school_id, kind, plan.added, now)
    return plan


INSERT_COLUMNS = (
    "id",
    "school_id",
    "kind",
    *FIELD_COLUMNS,
    "status",
    "activation_code",
    "created_at",
    "updated_at",
)


async def insert_people(
    session: AsyncSession,
    school_id: UUID,
    kind: RosterKind,
    rows: Sequence[PersonFields],
    now: datetime,
) -> None:
    """Insert new people in bulk. The values are converted for the database once per column
    (the ids once per row) and handed to the driver's executemany: at 50,000 rows SQLAlchemy's
    per-row, per-column bind processing would cost more than the database itself."""
    if not rows:
        return
    connection = await session.connection()
    dialect = connection.dialect

    def bind(column: str, value: Any) -> Any:
        processor = people.c[column].type.bind_processor(dialect)
        return processor(value) if processor is not None else value

    id_processor = people.c.id.type.bind_processor(dialect)
    head = (bind("school_id", school_id), kind.value)
    tail = (MembershipStatus.NEW.value, "", bind("created_at", now), bind("updated_at", now))
    sql = str(people.insert().compile(dialect=dialect, column_keys=list(INSERT_COLUMNS)))
    # In id order: the rows are stored clustered on (school, kind, id), so they are appended
    # instead of scattered.
    ids = sorted(uuid.uuid4() for _ in rows)
    for start in range(0, len(rows), 10_000):
        params = [
            (id_processor(pid) if id_processor else pid, *head, *field_row(r), *tail)
            for pid, r in zip(
                ids[start : start + 10_000], rows[start : start + 10_000], strict=True
            )
        ]
        await connection.exec_driver_sql(sql, params)


def new_person_values(
    school_id: UUID, kind: RosterKind, fields: PersonFields, now: datetime
) -> dict[str, Any]:
    """One new person's row by column name (hand edits; bulk inserts use insert_people)."""
    return {
        "id": uuid.uuid4(),
        "school_id": school_id,
        "kind": kind.value,
        **field_values(fields),
        "status": MembershipStatus.NEW.value,
        "activation_code": "",
        "created_at": now,
        "updated_at": now,
    }


async def lock_school(session: AsyncSession, school_id: UUID) -> None:
    """Serialise writes to one school's rosters: an upload and a hand edit (or two hand edits
    adding the same address) never interleave. Takes the school's row lock on PostgreSQL; on
    SQLite every write transaction holds the database's one write lock already. NotFound when
    the school is unknown."""
    found = await session.execute(
        select(known_schools.c.school_id)
        .where(known_schools.c.school_id == school_id)
        .with_for_update()
    )
    if found.first() is None:
        raise NotFound(UNKNOWN_SCHOOL)


async def email_taken(
    session: AsyncSession, school_id: UUID, kind: RosterKind, email_lower: str
) -> bool:
    query = select(people.c.id).where(_roster(school_id, kind), people.c.email_lower == email_lower)
    return (await session.execute(query.limit(1))).first() is not None


async def delete_person(
    session: AsyncSession, school_id: UUID, person_id: UUID
) -> RosterKind | None:
    """Delete one person of this school; their kind, or None when there is no such person."""
    result = await session.execute(
        delete(people)
        .where(people.c.id == person_id, people.c.school_id == school_id)
        .returning(people.c.kind)
    )
    kind = result.scalar()
    return RosterKind(kind) if kind is not None else None
