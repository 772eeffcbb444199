"""Receipts: the SMTP server's acceptance of each mail, written as it comes (group commit).

A sender's workers ask for a receipt the moment the server accepts a mail and go on with the
next one; the receipt's write overlaps the next mail's MAIL and RCPT, and the worker waits for
it only before the next DATA (ck_notifier.sender). While one write is under way the receipts
that come in gather for the next, so a write carries at most one receipt per pool connection
and there are about mails / pool-size writes.
"""

from __future__ import annotations

import asyncio
from uuid import UUID

from ck_runtime.clock import Clock
from ck_runtime.db import Database
from ck_runtime.logs import get_logger

from ck_notifier.store import add_receipts

log = get_logger(__name__)


class Receipts:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock
        self._waiting: list[tuple[UUID, asyncio.Future[bool]]] = []
        self._writer: asyncio.Task[None] | None = None
        self.failed = False  # a write failed (the database): the pass hands out no more mails

    def record(self, mail_id: UUID) -> asyncio.Future[bool]:
        """Write a receipt; the future is True once it is committed, False if that failed."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.append((mail_id, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write(), name="mail-receipts")
        return future

    async def _write(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            try:
                async with self._db.transaction() as session:
                    await add_receipts(
                        session, [mail_id for mail_id, _ in batch], self._clock.now()
                    )
                written = True
            except Exception as exc:
                # The pass still records these mails with its outcomes; only the crash
                # guarantee is off for them until then.
                log.warning("mail.receipts_failed", mails=len(batch), error=type(exc).__name__)
                self.failed = True
                written = False
            for _, future in batch:
                if not future.done():
                    future.set_result(written)

    async def drain(self) -> None:
        """Until every receipt asked for is written (or failed)."""
        while self._writer is not None and not self._writer.done():
            await asyncio.shield(self._writer)
