"""Receipts (ck_notifier.receipts) on both databases: written in groups, with the ids bound as
outgoing_mails.id is; on SQLite also while another process holds the write lock."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from uuid import uuid4

from ck_contracts.messaging import utcnow
from ck_notifier.receipts import Receipts
from ck_notifier.rendering import RenderedMail
from ck_notifier.store import add_mails, mail_row, unrecorded_receipts
from ck_runtime.clock import SystemClock
from ck_runtime.db import Database
from ck_runtime.migrations import upgrade_async
from sqlalchemy import make_url


async def test_receipts_mark_their_mails_as_accepted(database_url: str) -> None:
    await upgrade_async("notifier", database_url)
    db = Database(database_url)
    try:
        ids = [uuid4() for _ in range(6)]
        rows = [
            mail_row(
                mail_id=i,
                template="invitation",
                recipient="a@b.example",
                rendered=RenderedMail("S", "T", "H"),
                correlation_id=None,
                now=utcnow(),
            )
            for i in ids
        ]
        async with db.transaction() as session:
            await add_mails(session, rows)
        async with Receipts(db, SystemClock(), workers=4) as receipts:
            first = [receipts.record(i) for i in ids[:4]]  # a full group: written at once
            fifth = receipts.record(ids[4])
            assert await receipts.written(fifth)  # a worker waits: written now
            receipts.record(ids[5])  # written on the way out
        assert all(r.result() for r in first)
        async with db.read() as session:
            accepted = await unrecorded_receipts(session, lock=False)
        assert sorted(accepted) == sorted(ids)
    finally:
        await db.dispose()


async def test_a_receipt_waits_for_another_process_holding_the_sqlite_lock(
    sqlite_url: str,
) -> None:
    await upgrade_async("notifier", sqlite_url)
    db = Database(sqlite_url)
    other = sqlite3.connect(
        make_url(sqlite_url).database or "", isolation_level=None, check_same_thread=False
    )
    other.execute("BEGIN IMMEDIATE")  # e.g. `ck-notifier replay` in the middle of its write
    release = threading.Timer(0.5, lambda: other.execute("COMMIT"))
    try:
        release.start()
        async with Receipts(db, SystemClock(), workers=1) as receipts:
            assert await asyncio.wait_for(receipts.written(receipts.record(uuid4())), 30)
    finally:
        release.join()
        other.close()
        await db.dispose()
