"""SQLite hand-overs (ck_runtime.db._Trips): a transaction's BEGIN goes to aiosqlite's thread
with its first statement, and the pool's rollback of a connection whose session committed is
skipped. What must hold besides the count: the write lock is held from the first statement,
the rows are committed, and a transaction that fails is rolled back."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from ck_runtime.db import Database
from sqlalchemy import event, text


class HandOvers:
    """Counts the calls to aiosqlite's thread and the SQL that SQLite ran, per connection."""

    def __init__(self, db: Database) -> None:
        self.calls = 0
        self.sql: list[str] = []
        event.listen(db.engine.sync_engine, "connect", self._watch)

    def _watch(self, dbapi_connection: Any, _record: Any) -> None:
        aiosqlite_connection = dbapi_connection._connection
        real = aiosqlite_connection._execute

        async def counted(fn: Any, *args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            return await real(fn, *args, **kwargs)

        aiosqlite_connection._execute = counted
        aiosqlite_connection._conn.set_trace_callback(self.sql.append)


@pytest.fixture
async def db(tmp_path: Path) -> Any:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'trips.sqlite3'}")
    async with database.engine.begin() as conn:
        await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
    yield database
    await database.dispose()


async def test_a_write_is_two_hand_overs_and_is_committed(db: Database, tmp_path: Path) -> None:
    await db.engine.dispose()  # the next connection is made with the watch in place
    watch = HandOvers(db)
    async with db.transaction() as session:
        await session.execute(text("INSERT INTO t (v) VALUES ('een')"))
    assert watch.sql[-3:] == ["BEGIN IMMEDIATE", "INSERT INTO t (v) VALUES ('een')", "COMMIT"]
    calls = watch.calls
    async with db.transaction() as session:
        await session.execute(text("INSERT INTO t (v) VALUES ('twee')"))
    # BEGIN with the INSERT, the COMMIT; the pool's rollback on return is skipped.
    assert watch.calls - calls == 2
    other = sqlite3.connect(tmp_path / "trips.sqlite3")
    assert [v for (v,) in other.execute("SELECT v FROM t ORDER BY id")] == ["een", "twee"]
    other.close()


async def test_the_write_lock_is_held_from_the_first_statement(
    db: Database, tmp_path: Path
) -> None:
    other = sqlite3.connect(tmp_path / "trips.sqlite3", timeout=0, isolation_level=None)
    async with db.transaction() as session:
        await session.execute(text("SELECT count(*) FROM t"))  # a read, but BEGIN IMMEDIATE
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
    other.execute("BEGIN IMMEDIATE")  # free again after the commit
    other.execute("ROLLBACK")
    other.close()


async def test_a_failed_transaction_is_rolled_back(db: Database, tmp_path: Path) -> None:
    with pytest.raises(RuntimeError):
        async with db.transaction() as session:
            await session.execute(text("INSERT INTO t (v) VALUES ('weg')"))
            raise RuntimeError("the command failed")
    async with db.transaction() as session:
        count = (await session.execute(text("SELECT count(*) FROM t"))).scalar_one()
    assert count == 0
