"""All SQL of the roster service: the upload's replace (R-ROSTER-4), hand edits (R-ROSTER-5),
the list (R-ROSTER-6), the people an invitation is for (R-MEMBER-2) and the export's rows.

The matching and the diff are plain functions without I/O (`plan_replace`); `replace_roster`
applies a plan with bulk statements in the caller's transaction: one SELECT of what is there,
deletes by id in chunks, executemany updates of changed rows only, executemany inserts.

The list is fast for 50,000 people: text filters are case-insensitive substring matches on the
lower-cased shadow columns (a plain LIKE with escaped wildcards: the same on SQLite and
PostgreSQL); studiejaar matches exactly and statuses any-of. Every sort ends on the id, so
paging is stable. The invitation's and the export's reads use the list's own filter
(`conditions`) and select plain columns: a few tuples, never ORM objects or Person models.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from datetime import datetime
from itertools import repeat
from operator import attrgetter
from typing import Any, TypeVar
from uuid import UUID

from ck_contracts.roster import (
    JobStart,
    JobStatus,
    ListFilter,
    ListRequest,
    MembershipStatus,
    Person,
    PersonFields,
    PersonPage,
    RosterKind,
    RosterReason,
    Selection,
)
from ck_runtime.db import Database, rowcount
from ck_runtime.errors import NotFound
from sqlalchemy import (
    ColumnElement,
    Select,
    Text,
    and_,
    bindparam,
    delete,
    func,
    select,
    text,
    type_coerce,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from ck_roster.domain.ids import time_ordered_hexes, time_ordered_id
from ck_roster.domain.matching import (
    TEXT_FIELDS,
    TEXT_INDEX,
    YEAR,
    Existing,
    RemovedTeacher,
    ReplacePlan,
    columns_of,
    digest,
    digests_of,
    name_key,
    name_keys_of_lowered,
    plan_replace,
    year_texts,
)
from ck_roster.domain.people import People
from ck_roster.tables import LOWERED_FIELDS, known_schools, people, roster_jobs

T = TypeVar("T")
_DICT = attrgetter("__dict__")
# A job's progress: told the number of rows stored so far (ck_roster.jobs).
Progress = Callable[[int], Awaitable[None]]
INSERT_BATCH = 5000  # rows per executemany of an upload's inserts
# SQLite: rows per INSERT ... VALUES (...), (...): each statement executed costs a step, a
# reset and a round of the GIL, ~15 % of inserting a row. 1,000 x 27 columns stays under the
# 32,766 parameters SQLite allows since 3.32.
SQLITE_ROWS_PER_INSERT = 1000
CHUNK = 2000  # rows per statement: well under SQLite's and asyncpg's parameter limits
ID_CHUNK = 2000  # ids per IN (...) of a selection: under SQLite's and asyncpg's parameter limits


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic garbage collector off during an upload's replace: it creates hundreds of
    thousands of small acyclic objects (tuples, strings) while the file's people are alive, and
    every generation-2 pass would walk them all. Reference counting still frees everything."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def field_columns(rows: Sequence[PersonFields]) -> list[Sequence[Any]]:
    """The values of FIELD_COLUMNS (field_row) of every row, a column at a time. The name keys
    are made from the lower-cased shadow columns (lower-cased once, not twice)."""
    columns = columns_of(rows)
    years = year_texts(columns[YEAR])
    lowered = {f: list(map(str.lower, columns[TEXT_INDEX[f]])) for f in LOWERED_FIELDS}
    return [
        *columns,
        *lowered.values(),
        name_keys_of_lowered(lowered, years),
        digests_of(columns, years),
    ]


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
    """The roster's people. The ids are as the driver returns them (no per-row conversion to
    UUID at 50,000 rows): use `as_uuid` on the few that leave the plan."""
    query = select(
        type_coerce(people.c.id, Text), people.c.email_lower, people.c.match_key, people.c.digest
    ).where(_roster(school_id, kind))
    # Streamed in batches: only the Existing tuples of 50,000 people are kept, not also the
    # driver's rows and SQLAlchemy's rows of all of them at once.
    existing: list[Existing] = []
    result = await (await session.connection()).stream(query)
    async for batch in result.partitions(5000):
        existing += map(Existing._make, batch)
    return existing


def as_uuid(value: Any) -> UUID:
    """A stored id as the driver returns it (hex text on SQLite, a UUID on PostgreSQL)."""
    return value if isinstance(value, UUID) else UUID(hex=value)


async def replace_roster(
    session: AsyncSession,
    school_id: UUID,
    kind: RosterKind,
    rows: Sequence[PersonFields],
    now: datetime,
    progress: Progress | None = None,
) -> ReplacePlan:
    """Replace the roster with the file's rows in the caller's transaction. The ids in the
    plan's `removed` and `changed` are UUIDs; those of `kept` are as the database returned them.
    `progress` is told how many of the file's rows are stored so far (a job's progress)."""
    with gc_paused():
        async with _small_page_cache(session):
            return await _replace_roster(session, school_id, kind, rows, now, progress)


# SQLite's page cache of the upload's connection while it writes (KiB). ck_runtime.db gives every
# connection 64 MiB so that the list reads a roster from memory; an upload of 50,000 people
# dirties about 30 MB of pages, which stayed in that cache until the transaction ended: 30 MB
# more resident memory at the upload's peak, for no gain (the pages go to the WAL at the
# commit either way). With a small cache they go to the WAL while the upload writes; the CPU
# of the upload measured the same (bench/profile_roster_upload.py). Memory-mapped reads are off
# for the upload too: a re-upload reads the whole roster (its keys, the rows it deletes), and
# every page of the file it touched through the map counted in the process's resident memory
# (~30 MB at 50,000 people; read() into the small cache measured the same CPU).
UPLOAD_PAGE_CACHE_KIB = 4096


@contextlib.asynccontextmanager
async def _small_page_cache(session: AsyncSession) -> AsyncIterator[None]:
    connection = await session.connection()
    if connection.dialect.name != "sqlite":
        yield
        return
    before = (await connection.exec_driver_sql("PRAGMA cache_size")).scalar()
    mapped = (await connection.exec_driver_sql("PRAGMA mmap_size")).scalar()
    await connection.exec_driver_sql(f"PRAGMA cache_size=-{UPLOAD_PAGE_CACHE_KIB}")
    await connection.exec_driver_sql("PRAGMA mmap_size=0")
    # Closed when the transaction ends instead of going back to the pool: what SQLite keeps
    # of the upload on its connection (the page cache, the prepared 1,000-row INSERT) would
    # stay resident under the next file's peak (measured in one process: 120.7 MB after an
    # upload, 109 with the connection closed; PRAGMA shrink_memory after the commit gave
    # back 6.6 of the 11.7 MB). The pool opens a new one when it needs it.
    if connection.sync_connection is not None:
        connection.sync_connection.detach()
    try:
        yield
    finally:
        with contextlib.suppress(Exception):  # a broken connection is discarded anyway
            await connection.exec_driver_sql(f"PRAGMA cache_size={int(before or -2000)}")
            await connection.exec_driver_sql(f"PRAGMA mmap_size={int(mapped or 0)}")


async def _replace_roster(
    session: AsyncSession,
    school_id: UUID,
    kind: RosterKind,
    rows: Sequence[PersonFields],
    now: datetime,
    progress: Progress | None = None,
) -> ReplacePlan:
    plan = plan_replace(await load_existing(session, school_id, kind), rows)
    plan.removed = list(map(as_uuid, plan.removed))
    plan.changed = [(as_uuid(pid), row) for pid, row in plan.changed]
    # Deletes first: the rows' data is gone (R-AVG-2), and an address a removed person had
    # can never collide with an added one.
    for ids in chunks(plan.removed):
        statement = delete(people).where(people.c.id.in_(ids))
        if kind == RosterKind.TEACHERS:  # the weborders service erases their name (R-AVG-2)
            deleted = await session.execute(statement.returning(*_TEACHER_COLUMNS))
            plan.removed_teachers += [_removed_teacher(row) for row in deleted]
        else:
            await session.execute(statement)
    if plan.changed:
        columns = field_values(plan.changed[0][1]).keys()
        changes = (
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
            await session.execute(changes, params)
    kept = len(plan.kept)
    if progress is not None:
        await progress(kept)
    plan.added_ids = await insert_people(
        session, school_id, kind, plan.added, now, progress, already=kept
    )
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
    progress: Progress | None = None,
    *,
    already: int = 0,
) -> list[Any]:
    """Insert new people in bulk; their ids, as the driver took them (see ReplacePlan). The
    values are converted for the database once per column (the ids once per row) and handed
    to the driver's executemany: at 50,000 rows SQLAlchemy's per-row, per-column bind
    processing would cost more than the database itself."""
    if not rows:
        return []
    connection = await session.connection()
    dialect = connection.dialect

    def bind(column: str, value: Any) -> Any:
        processor = people.c[column].type.bind_processor(dialect)
        value = processor(value) if processor is not None else value
        if dialect.name == "sqlite":
            # What the sqlite3 driver would do to this value on every row (its datetime
            # adapter is Python code: 100,000 calls per upload), done once.
            adapter = sqlite3.adapters.get((type(value), sqlite3.PrepareProtocol))
            if adapter is not None:
                value = adapter(value)
        return value

    id_processor = people.c.id.type.bind_processor(dialect)
    same = {  # the values every row of the upload has
        "school_id": bind("school_id", school_id),
        "kind": kind.value,
        "status": MembershipStatus.NEW.value,
        "activation_code": "",
        "created_at": bind("created_at", now),
        "updated_at": bind("updated_at", now),
    }
    varying = [c for c in INSERT_COLUMNS if c not in same]  # id, then FIELD_COLUMNS
    if dialect.name == "sqlite":
        statements = _sqlite_multirow(dialect.identifier_preparer.quote, varying, same)
    else:
        sql = str(people.insert().compile(dialect=dialect, column_keys=list(INSERT_COLUMNS)))
        statements = _one_statement(sql, varying, same)
    # In id order: the rows are stored clustered on (school, kind, id), so they are appended
    # instead of scattered. Time-ordered ids (domain.ids) made and sorted as hex text (UUID
    # objects cost more to make and to compare than inserting the rows). The people get them
    # in the order of their lower-cased achternaam, so the list's index (school, kind,
    # achternaam_lower, id) is appended to as well.
    if isinstance(rows, People):  # columns: reordered a column at a time, no objects made
        surnames = list(map(str.lower, rows.columns[TEXT_INDEX["achternaam"]]))
        rows = rows.take(sorted(range(len(rows)), key=surnames.__getitem__))
    else:
        surnames = [v["achternaam"].lower() for v in map(_DICT, rows)]
        rows = [rows[i] for i in sorted(range(len(rows)), key=surnames.__getitem__)]
    del surnames
    ids = _new_ids(len(rows), now, id_processor)
    # Each batch's values are made while the driver stores the previous one (SQLite and
    # asyncpg do the storing without holding the GIL).
    running: asyncio.Task[Any] | None = None
    try:
        for start in range(0, len(rows), INSERT_BATCH):
            batch = rows[start : start + INSERT_BATCH]
            params = statements([ids[start : start + INSERT_BATCH], *field_columns(batch)])
            if running is not None:
                await running
                if progress is not None:
                    await progress(already + start)
            running = asyncio.create_task(_execute_all(connection, params))
            await asyncio.sleep(0)  # hand it to the driver before the next batch is made
        if running is not None:
            await running
            if progress is not None:
                await progress(already + len(rows))
    finally:
        if running is not None and not running.done():  # cancelled or failed half-way
            running.cancel()
            with contextlib.suppress(BaseException):
                await running
    return ids


Params = list[Sequence[Any]]
# A batch's varying columns (id, then FIELD_COLUMNS; lists of one length) as statements and
# their parameters.
Statements = Callable[[list[Sequence[Any]]], list[tuple[str, Params]]]


def _one_statement(sql: str, varying: list[str], same: dict[str, Any]) -> Statements:
    """A batch as one executemany of the one-row INSERT (asyncpg pipelines it itself)."""
    where = {c: i for i, c in enumerate(varying)}

    def statements(columns: list[Sequence[Any]]) -> list[tuple[str, Params]]:
        size = len(columns[0])
        ordered = [
            columns[where[c]] if c in where else repeat(same[c], size) for c in INSERT_COLUMNS
        ]
        return [(sql, list(zip(*ordered, strict=True)))]

    return statements


def _sqlite_multirow(
    quote: Callable[[str], str], varying: list[str], same: dict[str, Any]
) -> Statements:
    """A batch as INSERTs of SQLITE_ROWS_PER_INSERT rows each, the rest as one INSERT of as
    many rows. The values every row has are bound once per statement: the INSERT names their
    columns first, the first row binds them as its first "?"s and every later row names them
    ?1..?n (binding a parameter costs a copy of the value: 6 of 27 per row). The other values
    are plain "?"s (numbered on by SQLite), in one flat tuple per statement filled a column at
    a time by slice assignment (no tuple per row). Numbered parameters only for the constants:
    SQLite looks a numbered one up in a list of those seen, a scan per reference, so 21,000 of
    them made preparing the statement quadratic (the store took twice as long)."""
    constants = list(same.values())
    first = len(constants) + 1  # the number of a statement's first varying parameter
    width = len(varying)
    names = ", ".join(quote(c) for c in [*same, *varying])
    # Identifiers from the table's definition, quoted by the dialect; values are parameters.
    # OR ROLLBACK: a row the constraints refuse ends the whole transaction at once, as the
    # upload's failure does anyway (nothing of the file is stored). With the default ABORT,
    # SQLite must be able to undo just the failing statement: it copied every page the
    # statement changed into a statement journal, past 64 KiB a temporary file (/var/tmp/etilqs_*,
    # ~8,100 page writes per 50,000 rows, and personal data outside the database file).
    into = f"INSERT OR ROLLBACK INTO {quote(people.name)} ({names}) VALUES "  # noqa: S608
    again = ", ".join(f"?{n}" for n in range(1, first))
    anonymous = ", ".join("?" * width)

    @functools.cache
    def sql(rows: int) -> str:
        later = f"({again}, {anonymous})"
        return into + ", ".join(
            [f"({', '.join('?' * (first - 1 + width))})", *[later] * (rows - 1)]
        )

    def flat(columns: list[Sequence[Any]], start: int, rows: int) -> tuple[Any, ...]:
        values: list[Any] = [None] * (first - 1 + rows * width)
        values[: first - 1] = constants
        for j, column in enumerate(columns):
            values[first - 1 + j :: width] = column[start : start + rows]
        return tuple(values)  # SQLAlchemy takes a list of tuples (or dicts) only

    def statements(columns: list[Sequence[Any]]) -> list[tuple[str, Params]]:
        size = len(columns[0])
        per = SQLITE_ROWS_PER_INSERT
        whole = size - size % per
        done: list[tuple[str, Params]] = []
        if whole:
            done.append((sql(per), [flat(columns, start, per) for start in range(0, whole, per)]))
        if size > whole:
            done.append((sql(size - whole), [flat(columns, whole, size - whole)]))
        return done

    return statements


async def _execute_all(connection: AsyncConnection, statements: list[tuple[str, Params]]) -> None:
    for sql, params in statements:
        await connection.exec_driver_sql(sql, params)


def _new_ids(count: int, now: datetime, processor: Any) -> list[Any]:
    """`count` time-ordered ids of `now` in ascending order (domain.ids: the shared id index
    is appended to, not scattered over), converted for the driver."""
    hexes = time_ordered_hexes(count, now)
    if processor is not None and hexes:
        sample = hexes[0]
        if processor(UUID(hex=sample)) == sample:  # SQLite: 32 hex digits, as made here
            return hexes
        return [processor(UUID(hex=h)) for h in hexes]
    return [UUID(hex=h) for h in hexes]


def new_person_values(
    school_id: UUID, kind: RosterKind, fields: PersonFields, now: datetime
) -> dict[str, Any]:
    """One new person's row by column name (hand edits; bulk inserts use insert_people)."""
    return {
        "id": time_ordered_id(now),
        "school_id": school_id,
        "kind": kind.value,
        **field_values(fields),
        "status": MembershipStatus.NEW.value,
        "activation_code": "",
        "created_at": now,
        "updated_at": now,
    }


async def insert_person(session: AsyncSession, values: dict[str, Any]) -> None:
    """One person added by hand (new_person_values)."""
    await session.execute(people.insert().values(**values))


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
        raise NotFound(RosterReason.UNKNOWN_SCHOOL)


async def email_taken(
    session: AsyncSession, school_id: UUID, kind: RosterKind, email_lower: str
) -> bool:
    query = select(people.c.id).where(_roster(school_id, kind), people.c.email_lower == email_lower)
    return (await session.execute(query.limit(1))).first() is not None


_TEACHER_COLUMNS = (people.c.id, people.c.voornaam, people.c.achternaam, people.c.email)


def _removed_teacher(row: Any) -> RemovedTeacher:
    return RemovedTeacher(as_uuid(row.id), row.voornaam, row.achternaam, row.email)


async def delete_person(
    session: AsyncSession, school_id: UUID, person_id: UUID, kind: RosterKind | None = None
) -> tuple[RosterKind, RemovedTeacher | None] | None:
    """Delete one person of this school (of this kind, when given): their kind, and for a
    teacher what TeacherRemoved carries; None when nothing matched."""
    query = delete(people).where(people.c.id == person_id, people.c.school_id == school_id)
    if kind is not None:
        query = query.where(people.c.kind == kind.value)
    result = await session.execute(query.returning(people.c.kind, *_TEACHER_COLUMNS))
    row = result.first()
    if row is None:
        return None
    found = RosterKind(row.kind)
    return found, (_removed_teacher(row) if found == RosterKind.TEACHERS else None)


# --- the list (R-ROSTER-6) ------------------------------------------------------------------------
# The column a sort field orders by: the lower-cased shadow where there is one.
SORT_COLUMNS: dict[str, Any] = {
    **{f: people.c[f"{f}_lower"] for f in LOWERED_FIELDS},
    "mobiel": people.c.mobiel,
    "studiejaar": people.c.studiejaar,
    "status": people.c.status,
}
TEXT_FILTERS = TEXT_FIELDS
PERSON_COLUMNS = (
    people.c.id,
    people.c.kind,
    *(people.c[f] for f in TEXT_FIELDS),
    people.c.studiejaar,
    people.c.status,
    people.c.activation_code,
)


def like_pattern(text: str) -> str:
    """A LIKE pattern matching `text` anywhere, case-insensitively (with `ESCAPE '\\'`)."""
    escaped = text.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def conditions(school_id: UUID, kind: RosterKind, filt: ListFilter) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [
        people.c.school_id == school_id,
        people.c.kind == kind.value,
    ]
    for name in TEXT_FILTERS:
        value = getattr(filt, name).strip()
        if not value:
            continue
        column = people.c[f"{name}_lower"] if name in LOWERED_FIELDS else people.c[name]
        where.append(column.like(like_pattern(value), escape="\\"))
    if filt.studiejaar is not None:
        where.append(people.c.studiejaar == filt.studiejaar)
    if filt.statuses:
        where.append(people.c.status.in_([s.value for s in filt.statuses]))
    return where


def page_query(request: ListRequest) -> Select[Any]:
    """The ids of one page: only (sort value, id) pairs are sorted, never whole rows."""
    column = SORT_COLUMNS[request.sort]
    order = (
        (column.desc(), people.c.id.desc()) if request.descending else (column.asc(), people.c.id)
    )
    return (
        select(people.c.id)
        .where(*conditions(request.school_id, request.kind, request.filter))
        .order_by(*order)
        .limit(request.page_size)
        .offset((request.page - 1) * request.page_size)
    )


async def count_people(session: AsyncSession, request: ListRequest) -> int:
    where = conditions(request.school_id, request.kind, request.filter)
    return int((await session.execute(select(func.count()).where(*where))).scalar() or 0)


async def page_of_people(session: AsyncSession, request: ListRequest) -> list[Person]:
    ids = list((await session.execute(page_query(request))).scalars())
    rows = {}
    if ids:
        query = select(*PERSON_COLUMNS).where(
            people.c.school_id == request.school_id,
            people.c.kind == request.kind.value,
            people.c.id.in_(ids),
        )
        rows = {row.id: row for row in (await session.execute(query)).all()}
    return [person_of(rows[pid]) for pid in ids if pid in rows]


# PostgreSQL, for the list's reads only: walk the one school's range of the primary key (a
# bitmap scan of its 50,000 rows) rather than the whole table, and no parallel workers (the
# count and the page already run at the same time, one per core). With a few schools in the
# table the planner would otherwise scan every school's rows: 32 -> 16 ms per query on two
# schools of 50,000, and the gap grows with every school that joins.
_PG_LIST_SETTINGS = (
    "SET LOCAL enable_seqscan = off",
    "SET LOCAL max_parallel_workers_per_gather = 0",
)


async def _for_listing(session: AsyncSession) -> None:
    if (await session.connection()).dialect.name == "postgresql":
        for statement in _PG_LIST_SETTINGS:
            await session.execute(text(statement))


async def list_people(db: Database, request: ListRequest) -> PersonPage:
    """The count and the page each scan the school's roster: they run at the same time on two
    connections (two cores; the database drivers release the GIL while they work)."""

    async def total() -> int:
        async with db.read() as session:
            await _for_listing(session)
            return await count_people(session, request)

    async def page() -> list[Person]:
        async with db.read() as session:
            await _for_listing(session)
            return await page_of_people(session, request)

    count, items = await asyncio.gather(total(), page())
    return PersonPage(total=count, page=request.page, page_size=request.page_size, items=items)


def person_of(row: Any) -> Person:
    return Person(
        person_id=row.id,
        kind=RosterKind(row.kind),
        status=MembershipStatus(row.status),
        activation_code=row.activation_code,
        studiejaar=row.studiejaar,
        **{f: getattr(row, f) for f in TEXT_FIELDS},
    )


async def find_person(session: AsyncSession, school_id: UUID, person_id: UUID) -> Person | None:
    """One person of this school, or None."""
    query = select(*PERSON_COLUMNS).where(people.c.school_id == school_id, people.c.id == person_id)
    row = (await session.execute(query)).first()
    return None if row is None else person_of(row)


# --- invitations and the export (R-MEMBER-2/3) ----------------------------------------------------
def selection_conditions(
    school_id: UUID, kind: RosterKind, selection: Selection
) -> list[list[ColumnElement[bool]]]:
    """The WHERE clauses that find the selected people: one list per statement (ticked ids go
    in chunks). The selection names one way of selecting (domain.invitations checks)."""
    if selection.all:
        return [conditions(school_id, kind, ListFilter())]
    if selection.filter is not None:
        return [conditions(school_id, kind, selection.filter)]
    base = conditions(school_id, kind, ListFilter())
    ids = list(dict.fromkeys(selection.person_ids))
    return [[*base, people.c.id.in_(ids[i : i + ID_CHUNK])] for i in range(0, len(ids), ID_CHUNK)]


_INVITE_COLUMNS = (people.c.id, people.c.email, people.c.voornaam, people.c.status)


async def selected_people(
    session: AsyncSession, school_id: UUID, kind: RosterKind, selection: Selection
) -> list[Any]:
    """(id, email, voornaam, status) rows of the selected people, in id order."""
    rows: list[Any] = []
    for where in selection_conditions(school_id, kind, selection):
        query = select(*_INVITE_COLUMNS).where(*where).order_by(people.c.id)
        rows.extend((await session.execute(query)).all())
    return rows


async def export_rows(
    session: AsyncSession, school_id: UUID, kind: RosterKind, filt: ListFilter, names: list[str]
) -> list[Any]:
    """The listed people's `names` columns, in the list's order (achternaam, voornaam)."""
    query = (
        select(*(people.c[name] for name in names))
        .where(*conditions(school_id, kind, filt))
        .order_by(people.c.achternaam_lower, people.c.voornaam_lower, people.c.id)
    )
    return list((await session.execute(query)).all())


# --- jobs (issue 14) ------------------------------------------------------------------------------
UNFINISHED = (JobStatus.QUEUED.value, JobStatus.RUNNING.value)


async def create_job(session: AsyncSession, job_id: UUID, start: JobStart, now: datetime) -> None:
    await session.execute(
        roster_jobs.insert().values(
            id=job_id,
            school_id=start.school_id,
            kind=start.kind.value,
            action=start.action.value,
            status=JobStatus.QUEUED.value,
            filename=start.filename,
            created_at=now,
            updated_at=now,
        )
    )


async def update_job(session: AsyncSession, job_id: UUID, now: datetime, **values: Any) -> bool:
    """Progress or the end of an unfinished job (its counts, status, result); also its
    heartbeat (`updated_at`). False when the job is finished already (failed meanwhile)."""
    found = await session.execute(
        update(roster_jobs)
        .where(roster_jobs.c.id == job_id, roster_jobs.c.status.in_(UNFINISHED))
        .values(updated_at=now, **values)
    )
    return rowcount(found) > 0


async def job_exists(session: AsyncSession, job_id: UUID) -> bool:
    found = await session.execute(select(roster_jobs.c.id).where(roster_jobs.c.id == job_id))
    return found.first() is not None


async def get_job(session: AsyncSession, school_id: UUID, job_id: UUID) -> Any | None:
    """The job's row when it is this school's (R-ROLE-6: another school's job is not found)."""
    found = await session.execute(
        select(roster_jobs).where(roster_jobs.c.id == job_id, roster_jobs.c.school_id == school_id)
    )
    return found.first()


async def fail_unfinished_jobs(
    session: AsyncSession,
    now: datetime,
    *,
    before: datetime | None = None,
    job_ids: Sequence[UUID] | None = None,
) -> int:
    """Mark unfinished jobs failed (roster.job.interrupted): those whose heartbeat is older than
    `before`, or the given ones, or (neither given) all of them."""
    statement = update(roster_jobs).where(roster_jobs.c.status.in_(UNFINISHED))
    if before is not None:
        statement = statement.where(roster_jobs.c.updated_at < before)
    if job_ids is not None:
        statement = statement.where(roster_jobs.c.id.in_(list(job_ids)))
    found = await session.execute(
        statement.values(
            status=JobStatus.FAILED.value,
            reason=RosterReason.JOB_INTERRUPTED.value,
            updated_at=now,
            finished_at=now,
        )
    )
    return rowcount(found)
