"""Database access: one async engine per service, SQLite by default, PostgreSQL in production."""

from __future__ import annotations

import asyncio
import collections
import enum
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, NamedTuple

from opentelemetry import trace
from sqlalchemy import event, text
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
)
from sqlalchemy.engine import CursorResult, Dialect, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool
from sqlalchemy.util import greenlet_spawn

from ck_runtime import json_codec, tracing
from ck_runtime.logs import get_logger

log = get_logger(__name__)

READ_ONLY_OPTION = "ck_read_only"
# session.info key: the transaction erased personal data (see erases_personal_data).
_SCRUB_KEY = "ck_scrub_after_commit"


def rowcount(result: object) -> int:
    """How many rows an INSERT, UPDATE or DELETE touched. `session.execute()` is typed to return
    a Result, which has no rowcount; for these statements the object is a CursorResult."""
    if not isinstance(result, CursorResult):
        raise TypeError(f"{type(result).__name__} has no rowcount: not an INSERT, UPDATE, DELETE")
    return int(result.rowcount)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _run_statement(
    connection: Any, operation: str, parameters: Any, many: bool, begin: str | None = None
) -> tuple[Any, list[Any] | None, int, int | None]:
    """On aiosqlite's thread: one statement from cursor to close, in one call, after the
    transaction's BEGIN when it is the transaction's first statement (_Trips)."""
    cursor = connection._conn.cursor()  # aiosqlite.Connection._conn: the sqlite3 connection
    try:
        if begin is not None:
            cursor.execute(begin)
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else None
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


class StepKind(enum.Enum):
    """What a step is for, which says what a refusal of it means: the guard found the first
    answer, the record found another delivery's, a deferred write changed other rows than its
    handler expected (the command runs again without deferring)."""

    GUARD = "guard"
    RECORD = "record"
    WRITE = "write"


class Step(NamedTuple):
    """One statement of a command's last trip (CommandUnit.commit, Database.defer): a Core
    statement built once (module level), its values, and what it must do. `rows`: for an
    INSERT, UPDATE or DELETE the number of rows it must change (None: any); for a SELECT, 0
    means it must find no row. A step that does otherwise ends the transaction, rolled back
    (StepRefused)."""

    statement: Any
    values: dict[str, Any]
    rows: int | None = None
    kind: StepKind = StepKind.WRITE


class StepRefused(Exception):
    """A step did not do what it must (Step.rows); the command's transaction was rolled back.
    `row`: what a SELECT step found."""

    def __init__(self, step: Step, row: Any = None) -> None:
        super().__init__("step refused")
        self.step = step
        self.row = row


class _Prepared(NamedTuple):
    """A statement compiled once for SQLite, and how SQLAlchemy turns values into its
    parameters (the same construct_params and bind processors as its execution context)."""

    sql: str
    compiled: Any
    order: tuple[str, ...]
    processors: dict[str, Callable[[Any], Any]]

    def parameters(self, values: dict[str, Any]) -> tuple[Any, ...]:
        given = self.compiled.construct_params(values, escape_names=False)
        processors = self.processors
        return tuple(
            processors[key](given[key]) if key in processors else given[key] for key in self.order
        )


# (id of the statement, the value keys) -> its prepared form; the statement itself is kept
# in the value so that its id cannot be reused. Only statements built once come here.
_prepared: dict[tuple[int, tuple[str, ...]], tuple[Any, _Prepared]] = {}


def _prepare(dialect: Dialect, statement: Any, values: dict[str, Any]) -> _Prepared:
    key = (id(statement), tuple(values))
    found = _prepared.get(key)
    if found is not None:
        return found[1]
    compiled = statement.compile(dialect=dialect, column_keys=list(values))
    if (
        compiled.insert_prefetch
        or compiled.update_prefetch
        or compiled.literal_execute_params
        or compiled.post_compile_params
        or not compiled.positional
    ):
        # Python-side defaults or expanding parameters: SQLAlchemy's execution context does
        # more than construct_params, so such a statement cannot be a step.
        raise ValueError("statement cannot run as a prepared step")
    prepared = _Prepared(
        compiled.string, compiled, tuple(compiled.positiontup), dict(compiled._bind_processors)
    )
    _prepared[key] = (statement, prepared)
    return prepared


def _run_steps(
    connection: Any, begin: str | None, steps: list[tuple[str, tuple[Any, ...], int | None]]
) -> tuple[int | None, Any]:
    """On aiosqlite's thread, one hand-over: (BEGIN,) every step, COMMIT. At the first step
    that does not do what it must: ROLLBACK, and (its index, the row a SELECT found). Any
    error: ROLLBACK and raise."""
    cursor = connection._conn.cursor()
    try:
        if begin is not None:
            cursor.execute(begin)
        try:
            for index, (sql, parameters, rows) in enumerate(steps):
                cursor.execute(sql, parameters)
                if cursor.description is not None:
                    found = cursor.fetchone()
                    if rows == 0 and found is not None:
                        cursor.execute("ROLLBACK")
                        return index, found
                elif rows is not None and cursor.rowcount != rows:
                    cursor.execute("ROLLBACK")
                    return index, None
            cursor.execute("COMMIT")
        except BaseException:
            if connection._conn.in_transaction:
                cursor.execute("ROLLBACK")
            raise
        return None, None
    finally:
        cursor.close()


class _Trips:
    """What a SQLite connection owes its thread, kept on the aiosqlite connection (the adapter
    has fixed slots). Every hand-over to aiosqlite's thread costs more CPU than SQLite's work
    for a statement by key, so two are saved per transaction:

    - `begin`: the BEGIN of a transaction SQLAlchemy began, sent in the same hand-over as the
      transaction's first statement instead of one of its own. SQLAlchemy's ORM begins at the
      first statement anyway, so the lock is taken at the same moment as before.
    - `dirty`: something may have run on the connection since its last commit or rollback
      (set at checkout, since the driver connection can be used directly, and before every
      statement is queued). A commit or rollback of a clean connection is a no-op for SQLite
      (isolation_level None: only an explicit BEGIN opens a transaction), so it is skipped:
      the pool's rollback when a session that has committed gives its connection back.
      Cleared only once a commit or rollback has returned, so a statement still queued
      behind a cancelled caller is always followed by a real one (the queue is FIFO)."""

    __slots__ = ("begin", "dirty")

    def __init__(self) -> None:
        self.begin: str | None = None
        self.dirty = True


def _trips(adapted: Any) -> _Trips:
    trips: _Trips = adapted._connection.ck_trips  # the aiosqlite.Connection
    return trips


class _OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """SQLAlchemy's aiosqlite cursor hands every step to aiosqlite's thread on its own: open
    the cursor, execute, fetch the rows, close; each hand-over is a queue put, a thread wake-up
    and a wake-up of the event loop (about 0.15 ms of CPU on this machine, more than SQLite's
    own work for a statement by key). This cursor does the four in one hand-over; the rows are
    buffered as SQLAlchemy's cursor buffers them, so results read the same."""

    __slots__ = ("_description", "_lastrowid", "_rowcount")

    def __init__(self, adapt_connection: Any) -> None:
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]
        self._soft_closed_memoized = {}  # type: ignore[assignment]
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> Any:
        return self._lastrowid

    @property
    def arraysize(self) -> int:
        return 1

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        pass

    async def _async_soft_close(self) -> None:
        return None  # closed on the driver's thread already

    def close(self) -> None:
        self._rows.clear()

    async def _run(self, operation: Any, parameters: Any, many: bool) -> None:
        trips = _trips(self._adapt_connection)
        async with self._adapt_connection._execute_mutex:
            begin, trips.begin = trips.begin, None
            trips.dirty = True
            description, rows, rowcount, lastrowid = await self._connection._execute(
                _run_statement, self._connection, operation, parameters, many, begin
            )
        self._description, self._rowcount, self._lastrowid = description, rowcount, lastrowid
        self._rows = collections.deque(rows or ())

    async def _execute_async(self, operation: Any, parameters: Any) -> Any:
        await self._run(operation, parameters, False)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> Any:
        await self._run(operation, seq_of_parameters, True)


class _OneTripConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = _OneTripCursor

    def commit(self) -> None:
        self._end(super().commit)

    def rollback(self) -> None:
        self._end(super().rollback)

    def _end(self, end: Callable[[], None]) -> None:
        """Commit or roll back only a connection something ran on (_Trips.dirty)."""
        trips = _trips(self)
        trips.begin = None
        if trips.dirty:
            end()
            trips.dirty = False


def _one_trip_cursors(dbapi_connection: Any, _record: Any) -> None:
    if type(dbapi_connection) is AsyncAdapt_aiosqlite_connection:
        dbapi_connection._connection.ck_trips = _Trips()
        dbapi_connection.__class__ = _OneTripConnection


def _checked_out(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    if type(dbapi_connection) is _OneTripConnection:
        _trips(dbapi_connection).dirty = True


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers run beside the one writer; busy_timeout makes concurrent consumers wait
    # for the lock instead of failing with "database is locked".
    # The driver's own implicit transactions are switched off; SQLAlchemy's "begin" event below
    # emits BEGIN itself (the recipe in SQLAlchemy's SQLite dialect documentation).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # 64 MiB page cache and memory-mapped reads: a 50,000-person roster stays in memory, so a
    # filtered, sorted list scans RAM instead of re-reading pages through the OS.
    cursor.execute("PRAGMA cache_size=-65536")
    cursor.execute("PRAGMA mmap_size=268435456")
    # Deleted personal data must not survive in the file (R-AVG-2): SQLite overwrites deleted
    # cells and freed pages with zeros instead of leaving them for a file reader to find.
    cursor.execute("PRAGMA secure_delete=ON")
    # The WAL file is reused from its start after a checkpoint, so frames with deleted data
    # would linger behind the new ones: with a limit of 0 the file is cut back to what the
    # first commit after each restart wrote. Database.scrub() empties it at once.
    cursor.execute("PRAGMA journal_size_limit=0")
    cursor.close()


def _sqlite_begin(conn: Any) -> None:
    # Writers take the lock at BEGIN (IMMEDIATE), so two writers queue on busy_timeout instead
    # of failing on a lock upgrade half-way; readers use a plain deferred BEGIN.
    readonly = conn.get_execution_options().get(READ_ONLY_OPTION, False)
    begin = "BEGIN" if readonly else "BEGIN IMMEDIATE"
    adapted = conn.connection.dbapi_connection
    if type(adapted) is _OneTripConnection:
        _trips(adapted).begin = begin  # sent with the first statement (_Trips)
    else:
        conn.exec_driver_sql(begin)


# What PostgreSQL and asyncpg put into error texts beyond the bound parameters (which
# hide_parameters hides): row values in DETAIL ("Key (email)=(...) already exists", "Failing
# row contains (...)"), the value that failed to convert ("invalid input for query argument
# $1: '...'", 'invalid input syntax for type uuid: "..."').
_ERROR_VALUES = (
    (re.compile(r"\nDETAIL:.*?(?=\nHINT:|\Z)", re.S), "\nDETAIL:  (hidden)"),
    (re.compile(r"(invalid input for query argument \$\d+:).*"), r"\1 (hidden)"),
    (re.compile(r'(invalid input syntax for type [\w ]+:) ".*"'), r"\1 (hidden)"),
)


def _without_values(message: str) -> str:
    for pattern, replacement in _ERROR_VALUES:
        message = pattern.sub(replacement, message)
    return message


def _hide_error_values(context: Any) -> None:
    """Strip personal data from a failed statement's exception and its causes before anything
    can log them (our logger, or a library's): the driver's DETAIL goes (asyncpg builds it into
    the text from `.detail`), and row values are cut out of the messages."""
    seen: set[int] = set()
    # SQLAlchemy's exception is not chained to the driver's yet: start from both.
    for start in (context.sqlalchemy_exception, context.original_exception):
        error: BaseException | None = start
        while error is not None and id(error) not in seen:
            seen.add(id(error))
            if isinstance(getattr(error, "detail", None), str):  # asyncpg's PostgresError
                error.detail = None  # type: ignore[attr-defined]
            if error.args and isinstance(error.args[0], str):
                error.args = (_without_values(error.args[0]), *error.args[1:])
            error = error.__cause__ or error.__context__


def create_engine(url: str, *, null_pool: bool = False) -> AsyncEngine:
    """null_pool: for short-lived engines (migrations) that must not keep connections.

    Every engine hides bound parameters in its errors (`hide_parameters`), and the values the
    database itself quotes in them (`_hide_error_values`): a failed statement that is logged,
    with its traceback, never carries a name, an address or a card number."""
    extra: dict[str, Any] = {
        "hide_parameters": True,
        # JSON columns (outbox bodies, audit details) through orjson (ck_runtime.json_codec)
        "json_serializer": json_codec.stored_text,
        "json_deserializer": json_codec.loads,
    }
    if null_pool:
        extra["poolclass"] = NullPool
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 10}, **extra)
        event.listen(engine.sync_engine, "handle_error", _hide_error_values)
        event.listen(engine.sync_engine, "connect", _one_trip_cursors)
        event.listen(engine.sync_engine, "checkout", _checked_out)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        # SQLite has one writer: BEGIN IMMEDIATE takes the write lock at the start of a
        # transaction, so two writers queue up instead of deadlocking on lock upgrade.
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
        return engine
    if null_pool:
        engine = create_async_engine(url, **extra)
    else:
        engine = create_async_engine(
            url, pool_size=10, max_overflow=10, pool_pre_ping=True, **extra
        )
    event.listen(engine.sync_engine, "handle_error", _hide_error_values)
    return engine


def erases_personal_data(session: AsyncSession) -> None:
    """Mark the session's transaction as one that deletes or blanks personal data (a person
    leaving the roster, a mail's address after sending): on SQLite the WAL is scrubbed right
    after the commit (Database.transaction)."""
    session.info[_SCRUB_KEY] = True


class _Unit:
    """One command's unit of work (Database.command): a transaction that begins at the
    command's first write and commits only when the command is answered, so the answer can be
    recorded with the effects (ck_runtime.commands)."""

    def __init__(self, guard: Step | None, may_defer: bool) -> None:
        self.session: AsyncSession | None = None
        self.lock: asyncio.Lock | None = None  # the SQLite writer lock, while held
        self.guard = guard  # must find no row, first in the transaction (a repeat's check)
        # The block that began the transaction failed and the transaction was rolled back:
        # the next write (or the record of the answer) begins it again, with the guard.
        self.undone = False
        self.may_defer = may_defer
        self.deferred: list[Step] = []  # Database.defer: sent with the commit
        self.after_commit: list[Callable[[], None]] = []


_unit: ContextVar[_Unit | None] = ContextVar("ck_unit_of_work", default=None)


class Database:
    """The engine and a session factory. `transaction()` is the unit of work."""

    def __init__(self, url: str, service: str | None = None) -> None:
        """service: whose traces the statements belong to (ck_runtime.tracing), if any."""
        self.url = url
        self.engine = create_engine(url)
        self.sqlite = is_sqlite(url)
        self._service = service
        # With tracing on, sessions whose transactions trace their statements when sampled.
        traced = tracing.traced_session_class(service) if service is not None else None
        options: dict[str, Any] = {"expire_on_commit": False}
        if traced is not None:
            options["sync_session_class"] = traced
        self._sessions = async_sessionmaker(self.engine, **options)
        # A reader sees one snapshot for all its queries, as on SQLite (its deferred BEGIN):
        # PostgreSQL's default READ COMMITTED takes one per statement, so a page reading a
        # balance and then its ledger lines could show a payment in the lines but not in the
        # balance. A read-only REPEATABLE READ transaction never fails a serialization check.
        readers: dict[str, Any] = {READ_ONLY_OPTION: True}
        if not self.sqlite:
            readers["isolation_level"] = "REPEATABLE READ"
        self._readers = async_sessionmaker(self.engine.execution_options(**readers), **options)
        # SQLite has one writer at a time. Writers of this process queue here, in order,
        # instead of each holding a connection and sleeping in SQLite's busy handler (which
        # retries with growing pauses: under load that gave p99s of a second). Other
        # processes on the same file still meet the busy timeout.
        self._writer = asyncio.Lock() if self.sqlite else None
        # The connection of the commands' one trip on SQLite, kept between trips (used only
        # under the writer lock): a pool checkout and check-in per command cost ~45 µs of
        # CPU (greenlets, pool events), more than the trip's own hand-over (issue 15).
        self._trip_connection: Any = None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One transaction: commits on success, rolls back on any exception.
        Never open one inside another (on SQLite the second would wait for the first).

        A transaction marked with `erases_personal_data(session)` is followed, once committed
        and before this block returns, by `scrub()` on SQLite: the WAL file is checkpointed and
        emptied, so no copy of what was erased stays on disk.

        Inside a command (`command()`), the block is a savepoint of the command's one
        transaction instead: a block that fails is undone as before, and what the blocks did
        is committed together when the command is answered (and scrubbed then)."""
        unit = _unit.get()
        if unit is not None:
            _no_deferred(unit)
            if unit.session is None or unit.undone:
                # The block that begins the command's transaction needs no savepoint: before
                # it the transaction holds only the guard's read, so undoing the block is
                # rolling the transaction back. (A savepoint here cost two more statements
                # and two SQL compilations per command, which SQLAlchemy does not cache.)
                session = await self._begin_unit(unit)
                try:
                    yield session
                except BaseException:
                    await session.rollback()
                    session.info.pop(_SCRUB_KEY, None)  # nothing of the block stays
                    unit.undone = True
                    raise
                return
            async with unit.session.begin_nested():
                yield unit.session
            return
        if self._writer is None:
            async with self._sessions() as session, session.begin():
                yield session
            return
        async with self._writer:
            async with self._sessions() as session:
                async with session.begin():
                    yield session
                scrub = session.info.pop(_SCRUB_KEY, False)
            if scrub:
                await self._checkpoint()

    @asynccontextmanager
    async def write_lock(self) -> AsyncIterator[None]:
        """This process's SQLite write lock, the one `transaction()` takes, for code that
        writes through a connection of its own (many short transactions on one connection:
        the notifier's receipts); nothing to take on PostgreSQL."""
        if self._writer is None:
            yield
            return
        async with self._writer:
            yield

    async def scrub(self) -> bool:
        """SQLite: copy the WAL into the database file and truncate the WAL to zero bytes
        (`PRAGMA wal_checkpoint(TRUNCATE)`). With secure_delete on, the database file holds no
        deleted content, so afterwards neither file does. False when a reader kept an older
        snapshot past the busy timeout: the next scrub (every retention pass makes one) tries
        again. PostgreSQL: nothing to do (dead tuples are VACUUM's business, see
        docs/architecture.md, Retention)."""
        if self._writer is None:
            return True
        async with self._writer:  # this process's writers wait instead of meeting the lock
            return await self._checkpoint()

    async def _checkpoint(self) -> bool:
        """Never raises: the transaction before it has committed, and its caller must hear
        so. A scrub that could not finish is logged; the next one catches up."""
        try:
            async with self.engine.connect() as conn:
                # On the driver's connection: SQLAlchemy would open a transaction first (see
                # _sqlite_begin), and a checkpoint cannot run inside one.
                raw = await conn.get_raw_connection()
                driver: Any = raw.driver_connection
                cursor = await driver.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                row = await cursor.fetchone()
                await cursor.close()
        except Exception as exc:
            log.warning("storage.scrub_failed", error=type(exc).__name__)
            return False
        completed = row is not None and row[0] == 0
        if not completed:
            log.warning("storage.scrub_incomplete")
        return completed

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session for queries only (on SQLite it does not take the write lock). Inside a
        command that has written already, the command's own session: it sees its writes."""
        unit = _unit.get()
        if unit is not None:
            _no_deferred(unit)
        if unit is not None and unit.session is not None and not unit.undone:
            yield unit.session
            return
        async with self._readers() as session:
            yield session

    def defer(self, statement: Any, values: dict[str, Any], rows: int | None = 1) -> bool:
        """Inside a command that may defer (Database.command): keep a write for the command's
        commit, where it is sent with the record of the answer (on SQLite in the same
        hand-over, see CommandUnit.commit), and True. Must come after the command's other
        statements. A write that then changes another number of rows than `rows` rolls the
        whole command back and the router runs it again without deferring (so its result is
        what the handler reads then). False outside a command that may defer: the caller
        runs the statement itself. The repeat check (the guard) goes with the deferred
        writes, so a repeat runs the handler's code up to here before it is refused: a handler
        that defers leaves every other effect to after_commit."""
        unit = _unit.get()
        if unit is None or not unit.may_defer:
            return False
        unit.deferred.append(Step(statement, values, rows))
        return True

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run `callback` once the command commits (a log line that must not claim a write
        that a deferred step may still undo); outside a command, at once."""
        unit = _unit.get()
        if unit is None:
            callback()
        else:
            unit.after_commit.append(callback)

    async def _begin_unit(self, unit: _Unit) -> AsyncSession:
        if unit.session is not None and not unit.undone:
            return unit.session
        if unit.session is None:
            await self._take_writer(unit)
            unit.session = self._sessions()
        unit.undone = False
        await unit.session.begin()
        guard = unit.guard
        if guard is not None:
            row = (await unit.session.execute(guard.statement, guard.values)).first()
            if row is not None:
                raise StepRefused(guard, row)
        return unit.session

    async def _take_writer(self, unit: _Unit) -> None:
        if self._writer is not None and unit.lock is None:
            await self._writer.acquire()
            unit.lock = self._writer

    def _one_trip(self) -> bool:
        """SQLite, and no trace recording this command's statements (a sampled trace gets
        them one by one through SQLAlchemy, as every other statement)."""
        return self.sqlite and not trace.get_current_span().is_recording()

    async def _commit_steps(self, unit: _Unit, steps: list[Step]) -> None:
        """The command's deferred writes and its record (`steps`), then COMMIT: on SQLite in
        one hand-over to the connection's thread (after BEGIN IMMEDIATE and the guard, when
        nothing ran before), else statement by statement in the session. StepRefused:
        rolled back."""
        if not self._one_trip():
            session = await self._begin_unit(unit)
            for step in steps:
                result = await session.execute(step.statement, step.values)
                if step.rows is not None and rowcount(result) != step.rows:
                    raise StepRefused(step)
            await session.commit()
            return
        if unit.session is not None and not unit.undone:
            connection = await unit.session.connection()
            raw = await connection.get_raw_connection()
            await self._trip(raw.dbapi_connection, None, steps)
            return
        if unit.session is not None:  # undone: its connection is clean, its lock held
            await unit.session.close()
            unit.session = None
        assert unit.guard is not None, "a command that defers has a guard"
        await self._take_writer(unit)
        raw, self._trip_connection = self._trip_connection, None
        if raw is None:
            raw = await self.engine.raw_connection()
        try:
            await self._trip(raw.dbapi_connection, "BEGIN IMMEDIATE", [unit.guard, *steps])
        except StepRefused:
            self._trip_connection = raw  # rolled back on the thread: clean
            raise
        except BaseException:
            # An error or a cancel: back to the pool as before (its reset, or its end).
            await greenlet_spawn(raw.close)
            raise
        self._trip_connection = raw  # committed on the thread: clean

    async def _trip(self, adapted: Any, begin: str | None, steps: list[Step]) -> None:
        dialect = self.engine.dialect
        sent = []
        for step in steps:
            prepared = _prepare(dialect, step.statement, step.values)
            sent.append((prepared.sql, prepared.parameters(step.values), step.rows))
        trips = _trips(adapted)
        async with adapted._execute_mutex:
            trips.dirty = True
            try:
                refused, row = await adapted._connection._execute(
                    _run_steps, adapted._connection, begin, sent
                )
            finally:
                # Committed or rolled back on the thread (an error too): nothing is open.
                trips.begin = None
                trips.dirty = False
        if refused is not None:
            raise StepRefused(steps[refused], row)

    @asynccontextmanager
    async def command(
        self, guard: Step | None = None, *, may_defer: bool = False
    ) -> AsyncIterator[CommandUnit]:
        """The scope of one command: every `transaction()` inside it joins one transaction,
        begun lazily at the first write (then `guard`, a SELECT that must find no row, runs in
        it first: the check for a repeat; StepRefused when it finds one). The caller ends it
        with `unit.commit(record)` or lets it roll back (any exception, or no commit).
        `may_defer`: writes may be kept for the commit (Database.defer); needs a guard."""
        unit = _Unit(guard, may_defer and guard is not None)
        token = _unit.set(unit)
        handle = CommandUnit(unit, self)
        try:
            yield handle
        finally:
            _unit.reset(token)
            try:
                if unit.session is not None:
                    if not handle.committed:
                        await unit.session.rollback()
                    scrub = handle.committed and unit.session.info.pop(_SCRUB_KEY, False)
                    await unit.session.close()
                    if scrub and self._writer is not None:
                        await self._checkpoint()
            finally:
                if unit.lock is not None:
                    unit.lock.release()
            if handle.committed:
                for callback in unit.after_commit:
                    callback()

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            found = tracing.tracer(self._service) if self._service is not None else None
            if found is not None and trace.get_current_span().is_recording():
                tracing.trace_statements(conn.sync_connection, found)
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        raw, self._trip_connection = self._trip_connection, None
        if raw is not None:
            await greenlet_spawn(raw.close)
        await self.engine.dispose()


def _no_deferred(unit: _Unit) -> None:
    if unit.deferred:
        raise RuntimeError("a statement after a deferred write (Database.defer comes last)")


class CommandUnit:
    """What Database.command() yields: did the command write, and the commit."""

    def __init__(self, unit: _Unit, db: Database) -> None:
        self._unit = unit
        self._db = db
        self.committed = False

    @property
    def wrote(self) -> bool:
        """True when the command opened a write transaction (even if a failed block's
        writes were undone: its answer is still the one to record) or deferred a write."""
        return self._unit.session is not None or bool(self._unit.deferred)

    def drop_deferred(self) -> None:
        """The command failed after deferring writes: they are not made (as a failed block's
        writes are undone)."""
        self._unit.deferred.clear()

    async def commit(self, *last: Step) -> None:
        """Send the deferred writes and `last` (the record of the answer), then commit;
        StepRefused (rolled back) when one of them, or the guard, does not do what it must."""
        unit = self._unit
        assert unit.session is not None or unit.deferred, "the command has not written"
        steps = [*unit.deferred, *last]
        unit.deferred = []
        await self._db._commit_steps(unit, steps)
        self.committed = True
