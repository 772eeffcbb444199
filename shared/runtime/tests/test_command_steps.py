"""Deferred writes (Database.defer) and a command's last trip (CommandUnit.commit): on SQLite
the guard, the deferred writes, the record and COMMIT go to aiosqlite's thread in one
hand-over; a deferred write that changes another number of rows than expected rolls the
command back and it runs again without deferring. Exactly-once holds on both databases."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from ck_contracts.operations import Audience, Operation
from ck_contracts.rpc import ErrorCode, RpcRequest
from ck_runtime import commands
from ck_runtime.db import Database, _prepare
from ck_runtime.errors import Invalid
from ck_runtime.rpc_server import Call, RpcRouter
from ck_testkit import migrated_database
from ck_testkit.clocks import manual
from pydantic import BaseModel
from sqlalchemy import Column, Integer, MetaData, String, Table, event, select
from sqlalchemy.dialects import sqlite

_metadata = MetaData()
UNIQUE = Table(
    "test_unique_effects",
    _metadata,
    Column("n", Integer, primary_key=True, autoincrement=True),
    Column("what", String(50), unique=True),
)
_INSERT_ONCE = {
    "sqlite": sqlite.insert(UNIQUE).on_conflict_do_nothing(),
    "postgresql": __import__("sqlalchemy.dialects.postgresql", fromlist=["insert"])
    .insert(UNIQUE)
    .on_conflict_do_nothing(),
}


class Put(BaseModel):
    what: str
    fail: bool = False


PUT = Operation[Put, bool]("roster", "put", Put, bool, Audience.PUBLIC)
router = RpcRouter()
runs: list[tuple[str, bool]] = []  # (what, deferred)


@router.handles(PUT)
async def put(call: Call, payload: Put) -> bool:
    """True: inserted; False: there was one already (as the weborder's Idempotency-Key)."""
    statement = _INSERT_ONCE[call.db.engine.dialect.name]
    values = {"what": payload.what}
    if call.db.defer(statement, values, rows=1):
        runs.append((payload.what, True))
        if payload.fail:
            raise Invalid()
        return True
    runs.append((payload.what, False))
    async with call.db.transaction() as session:
        inserted = (await session.execute(statement, values)).rowcount == 1
    if payload.fail:
        raise Invalid()
    return inserted


LATE = Operation[Put, bool]("roster", "late", Put, bool, Audience.PUBLIC)


@router.handles(LATE)
async def late(call: Call, payload: Put) -> bool:
    """A statement after a deferred write would not see it: refused, not run."""
    call.db.defer(_INSERT_ONCE[call.db.engine.dialect.name], {"what": payload.what})
    async with call.db.transaction() as session:
        await session.execute(select(UNIQUE.c.what))
    return True


async def _database(url: str) -> Database:
    db = await migrated_database(url)
    async with db.engine.begin() as connection:
        await connection.run_sync(UNIQUE.create)
    return db


async def _rows(db: Database) -> list[str]:
    async with db.read() as session:
        return list((await session.execute(select(UNIQUE.c.what).order_by(UNIQUE.c.n))).scalars())


def _request(what: str, fail: bool = False, request_id: str | None = None) -> RpcRequest:
    payload = {"what": what, "fail": fail}
    return RpcRequest(op="put", payload=payload, request_id=request_id or uuid.uuid4().hex)


async def test_a_deferred_write_is_committed_once(database_url: str) -> None:
    db = await _database(database_url)
    runs.clear()
    first = _request("a")
    answer = await router.dispatch(first, db, clock=manual())
    assert answer["ok"] and answer["result"] is True
    assert await router.dispatch(first, db, clock=manual()) == answer  # the first answer
    # The repeat's handler ran up to its deferral (the guard goes with the writes), and the
    # guard refused its write: one row, no second attempt without deferring.
    assert runs == [("a", True), ("a", True)]
    assert await _rows(db) == ["a"]
    await db.dispose()


async def test_a_deferred_write_that_changes_nothing_runs_again_without(
    database_url: str,
) -> None:
    db = await _database(database_url)
    runs.clear()
    await router.dispatch(_request("a"), db, clock=manual())
    answer = await router.dispatch(_request("a"), db, clock=manual())
    assert answer["ok"] and answer["result"] is False  # what the handler saw without deferring
    assert runs == [("a", True), ("a", True), ("a", False)]
    assert await _rows(db) == ["a"]
    await db.dispose()


async def test_a_refused_command_makes_no_deferred_write(database_url: str) -> None:
    db = await _database(database_url)
    runs.clear()
    refused = _request("b", fail=True)
    answer = await router.dispatch(refused, db, clock=manual())
    assert answer["error"]["code"] == ErrorCode.INVALID
    assert await _rows(db) == []
    await db.dispose()


async def test_on_sqlite_the_command_is_one_hand_over(tmp_path: Path) -> None:
    db = await _database(f"sqlite+aiosqlite:///{tmp_path / 'steps.sqlite3'}")
    await db.engine.dispose()  # the next connection is made with the watch in place
    calls = 0
    sql: list[str] = []

    def watch(dbapi_connection: Any, _record: Any) -> None:
        aiosqlite_connection = dbapi_connection._connection
        real = aiosqlite_connection._execute

        async def counted(fn: Any, *args: Any, **kwargs: Any) -> Any:
            nonlocal calls
            calls += 1
            return await real(fn, *args, **kwargs)

        aiosqlite_connection._execute = counted
        aiosqlite_connection._conn.set_trace_callback(sql.append)

    event.listen(db.engine.sync_engine, "connect", watch)
    await router.dispatch(_request("warm"), db, clock=manual())  # the connection is made
    before, sql[:] = calls, []
    await router.dispatch(_request("c"), db, clock=manual())
    assert calls - before == 1
    assert sql[0] == "BEGIN IMMEDIATE" and sql[-1] == "COMMIT"
    assert [s.split()[0] for s in sql] == ["BEGIN", "SELECT", "INSERT", "INSERT", "COMMIT"]
    assert await _rows(db) == ["warm", "c"]
    await db.dispose()


async def test_prepared_steps_send_what_sqlalchemy_sends(tmp_path: Path) -> None:
    """The one-trip path compiles a step once and binds its values itself: the SQL and the
    parameters must be SQLAlchemy's own, types and all (UUIDs, times, bytes)."""
    db = await _database(f"sqlite+aiosqlite:///{tmp_path / 'same.sqlite3'}")
    sent: list[tuple[str, Any]] = []

    def capture(_c: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        sent.append((statement, parameters))

    event.listen(db.engine.sync_engine, "before_cursor_execute", capture)
    now = datetime(2026, 12, 1, 9, 0, 0, 123456, tzinfo=UTC)
    request = RpcRequest(op="put", payload={"what": "x"}, request_id=uuid.uuid4().hex)
    record = commands.record_step(request, {"ok": True}, now, "sqlite")
    for step in (commands.find_step(request, now), record):
        async with db.transaction() as session:
            await session.execute(step.statement, step.values)
        prepared = _prepare(db.engine.dialect, step.statement, step.values)
        assert (prepared.sql, tuple(prepared.parameters(step.values))) == (
            sent[-1][0],
            tuple(sent[-1][1]),
        )
    await db.dispose()


async def test_a_statement_after_a_deferred_write_is_refused(sqlite_url: str) -> None:
    db = await _database(sqlite_url)
    request = RpcRequest(op="late", payload={"what": "d"}, request_id=uuid.uuid4().hex)
    answer = await router.dispatch(request, db, clock=manual())
    assert answer["error"]["code"] == ErrorCode.INTERNAL  # rolled back, nothing recorded
    assert await _rows(db) == []
    await db.dispose()


async def test_on_sqlite_the_trip_keeps_its_connection(tmp_path: Path) -> None:
    """No pool checkout per command (its CPU was more than the trip's hand-over); after a
    trip that fails, the connection goes back to the pool as before."""
    db = await _database(f"sqlite+aiosqlite:///{tmp_path / 'kept.sqlite3'}")
    checkouts = 0

    def count(*_: Any) -> None:
        nonlocal checkouts
        checkouts += 1

    event.listen(db.engine.sync_engine, "checkout", count)
    await router.dispatch(_request("warm"), db, clock=manual())
    before = checkouts
    first = _request("e")
    await router.dispatch(first, db, clock=manual())
    await router.dispatch(first, db, clock=manual())  # refused by the guard: still clean
    await router.dispatch(_request("f"), db, clock=manual())
    assert checkouts == before
    kept = db._trip_connection
    assert kept is not None and db.engine.pool.checkedout() == 1  # type: ignore[attr-defined]

    def broken(*_: Any, **__: Any) -> Any:
        raise OSError("disk gone")

    driver = kept.dbapi_connection._connection
    real, driver._execute = driver._execute, broken
    try:
        with pytest.raises(OSError):
            await router.dispatch(_request("g"), db, clock=manual())
    finally:
        driver._execute = real
    assert db._trip_connection is None
    assert db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    await router.dispatch(_request("h"), db, clock=manual())
    assert await _rows(db) == ["warm", "e", "f", "h"]
    await db.dispose()
