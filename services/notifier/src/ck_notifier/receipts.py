"""Receipts: the SMTP server's acceptance of each mail, written promptly and in small groups.

A worker asks for a receipt the moment the server accepts a mail and goes on with the next
one (MAIL, RCPT); it waits for the receipt only before the next DATA (ck_notifier.sender), so
each pool connection has at most one accepted mail without a written receipt. A write goes
out when a worker waits at DATA or when every worker of the pass has a receipt pending, and
takes all that are pending: at most one per connection, so up to the pool's size per write.

Writes are frequent (about one per pool-size mails), so each is as cheap as the backend
allows: on SQLite a plain sqlite3 connection on the event loop, under the process's write lock
(no thread hop); on PostgreSQL asyncpg's executemany on a connection the pass holds, with
synchronous_commit off. Measured per write: a session's transaction about 1 ms of CPU (the
notifier's CPU per mail doubled), SQLAlchemy Core about 0.5 ms, aiosqlite's executemany
0.15 ms, sqlite3 on the loop a few tens of microseconds. The values are bound as SQLAlchemy
binds them (store.receipt_rows), so the ids match outgoing_mails.id.
"""

from __future__ import annotations

import asyncio
import sqlite3
from types import TracebackType
from typing import Any
from uuid import UUID

from ck_runtime.clock import Clock
from ck_runtime.db import Database
from ck_runtime.logs import get_logger
from sqlalchemy import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from ck_notifier.store import receipt_rows

log = get_logger(__name__)

Receipt = asyncio.Future[bool]  # True once written, False if the write failed


class Receipts:
    """One pass's receipts. `async with Receipts(db, clock, workers) as receipts:`; on the way
    out every receipt asked for is written (or failed) and the connection goes back."""

    def __init__(self, db: Database, clock: Clock, workers: int) -> None:
        self._db = db
        self._clock = clock
        self._full = max(workers, 1)  # a write as soon as this many are pending
        self._connection: AsyncConnection | None = None
        self._sync: sqlite3.Connection | None = None
        self._driver: Any = None  # the driver's connection (aiosqlite, asyncpg) under it
        self._pending: list[tuple[UUID, Receipt]] = []
        self._needed = False  # a worker waits for a pending receipt
        self._writer: asyncio.Task[None] | None = None
        self.failed = False  # a write failed (the database): the pass hands out no more mails

    async def __aenter__(self) -> Receipts:
        return self

    async def __aexit__(
        self,
        _type: type[BaseException] | None,
        _exc: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        try:
            while self._pending or (self._writer is not None and not self._writer.done()):
                self._needed = True
                self._start()
                assert self._writer is not None
                await asyncio.shield(self._writer)
        finally:
            await self._release()

    def record(self, mail_id: UUID) -> Receipt:
        """The server accepted this mail: a receipt, written soon."""
        receipt: Receipt = asyncio.get_running_loop().create_future()
        self._pending.append((mail_id, receipt))
        if len(self._pending) >= self._full:
            self._start()
        return receipt

    async def written(self, receipt: Receipt) -> bool:
        """Until the receipt is written (now, if it was still waiting for company)."""
        if not receipt.done():
            self._needed = True
            self._start()
        return await receipt

    async def _release(self) -> None:
        if self._sync is not None:
            self._sync.close()
            self._sync = None
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            if not self._db.sqlite:
                await self._driver.execute("RESET synchronous_commit")  # back to the pool as it was
        except Exception:
            await connection.invalidate()  # not back to the pool with the setting
        await connection.close()

    def _start(self) -> None:
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write(), name="mail-receipts")

    async def _write(self) -> None:
        while self._pending and (self._needed or len(self._pending) >= self._full):
            self._needed = False
            batch, self._pending = self._pending, []
            try:
                await self._insert([mail_id for mail_id, _ in batch])
                written = True
            except Exception as exc:
                # The pass still records these mails with its outcomes; only the crash
                # guarantee is off for them until then.
                log.warning("mail.receipts_failed", mails=len(batch), error=type(exc).__name__)
                self.failed = True
                written = False
            for _, receipt in batch:
                if not receipt.done():
                    receipt.set_result(written)

    async def _insert(self, mail_ids: list[UUID]) -> None:
        statement, rows = receipt_rows(self._db.engine.dialect, mail_ids, self._clock.now())
        async with self._db.write_lock():  # SQLite: no other writer of this process now
            if self._db.sqlite and self._insert_here(statement, rows):
                return
            if self._connection is None:
                self._connection = await self._db.engine.connect()
                self._driver = (await self._connection.get_raw_connection()).driver_connection
                if not self._db.sqlite:
                    # A receipt must outlive the notifier, not the database server: the commit
                    # returns once PostgreSQL has it, without waiting for the disk (a flush
                    # per write made the pass wait on fsync: 40% fewer mails per second).
                    await self._driver.execute("SET synchronous_commit TO off")
            await self._driver.executemany(statement, rows)

    def _insert_here(self, statement: str, rows: list[tuple[Any, Any]]) -> bool:
        """SQLite, on the event loop: a few rows into a local file take microseconds, less than
        handing them to aiosqlite's thread and back. False when another process holds the
        lock (a `ck-notifier replay`): then the caller waits for it off the loop."""
        if self._sync is None:
            path = make_url(self._db.url).database or ""
            # At most 50 ms on the loop waiting for another process's lock.
            self._sync = sqlite3.connect(path, isolation_level=None, timeout=0.05)
            self._sync.execute("PRAGMA synchronous=NORMAL")  # as the engine's connections
        try:
            self._sync.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:
            return False
        try:
            self._sync.executemany(statement, rows)
            self._sync.execute("COMMIT")
        except BaseException:
            self._sync.execute("ROLLBACK")
            raise
        return True
