"""The sender: a background job that hands due mails to the SMTP server.

A pass takes up to BATCH_SIZE due mails (oldest first) in one read, sends them at once over a
small pool of reused connections (SMTP_CONNECTIONS; a pass opens one more connection per 20
mails, so a single mail still goes over one connection) and records every outcome in one
transaction: one UPDATE for the mails sent (recipient and text erased, R-AVG-2), one
executemany for the failed tries. A failed try is counted and the mail waits (exponential
backoff); after max_attempts, or when the server refuses it for good (5xx), it becomes
`failed` for an operator to replay.

When the server cannot be reached, the pass stops connecting: the pass opens its first
connection before anything else, and when that fails every mail of the pass counts the same
failed try, so an outage costs one connection attempt per pass, not one per mail (or per pool
connection), and the next pass comes on the poll, not at once. Mails wait while the server is
down and go out once it is back. An extra pool
connection that cannot be opened while the first one works (a server limiting connections)
only makes the pass use fewer connections.

Crash safety. Each mail the server accepts gets a receipt (table mail_receipts) written at
once, a few per transaction (ck_notifier.receipts), while the pass goes on; the pass's own
record at its end marks them sent and deletes the receipts. A worker starts its next mail
(MAIL, RCPT, DATA: one pipelined group when the server offers PIPELINING) while the previous
receipt is written but waits for that receipt before the mail's content (the server accepts
only once the content ends), so each pool connection has at most one mail the server may have
accepted without a receipt.
A sender killed (SIGKILL, power) at any moment therefore sends at most `smtp_connections`
mails again, never the rest of the pass: mails with a receipt are not due (due_mails skips
them) and the next pass of any sender marks them sent. What is sent again keeps its
Message-ID (derived from the mail id), so it can be recognised. Shutdown stops handing out
mails, lets the ones in flight finish and records them.

Several replicas on PostgreSQL: the pass's rows are taken with FOR UPDATE SKIP LOCKED and the
transaction stays open while they are sent, so no two senders ever take the same mail, and a
sender that dies releases its rows at once (no lease to expire). The price is one open
transaction (one database connection) per replica for the length of a pass, bounded by the
batch size and the SMTP timeout; with the default 200 mails and a healthy server that is well
under a second. A lease column (claim, commit, send, record) would free the transaction but
cost one more write per mail and a lease timeout before a crashed replica's mails go out.
Receipts are written beside the locked rows, in a table of their own, on another connection.
With SQLite (one process per file) the pass reads without a lock and writes the outcomes in
one short transaction afterwards, never holding the write lock while talking SMTP (receipts
take it for a moment each). Erasing the addresses and texts stays in that one transaction per
pass, with its WAL scrub (a scrub per receipt would cost a checkpoint per few mails).
"""

from __future__ import annotations

import asyncio
import functools
import math
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from uuid import UUID

from ck_runtime.clock import Clock, current_clock
from ck_runtime.db import Database
from ck_runtime.logs import bind_correlation_id, get_logger
from ck_runtime.outbox import add_to_outbox
from ck_runtime.service import Background, ServiceRuntime
from sqlalchemy.ext.asyncio import AsyncSession

from ck_notifier.domain import Mail, after_failure, compose, envelope_sender
from ck_notifier.receipts import Receipt, Receipts
from ck_notifier.settings import NotifierSettings
from ck_notifier.smtp_client import DeliveryError, SmtpClient, SmtpPool, describe
from ck_notifier.store import (
    Doorbell,
    FailedTry,
    delete_receipts,
    due_mails,
    mark_failed_tries,
    mark_sent,
    receipts_among,
    run_progress,
    runs_of,
    unrecorded_receipts,
)
from ck_notifier.tables import MailStatus

log = get_logger(__name__)

MAILS_PER_CONNECTION = 20  # a pass uses one more pool connection per this many mails

Outcome = tuple[Mail, DeliveryError | None]


class MailSender:
    def __init__(
        self,
        db: Database,
        settings: NotifierSettings,
        doorbell: Doorbell,
        client: SmtpPool | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._db = db
        self._clock = clock or current_clock()
        self._settings = settings
        self._doorbell = doorbell
        self.client = client or SmtpPool(settings)
        self._envelope_from = envelope_sender(settings.mail_from)
        self._stopping = False
        self.outage = False  # the last pass found the SMTP server unreachable

    async def run(self) -> None:
        """Until cancelled (shutdown): a pass, then wait for the doorbell or the poll."""
        pause = self._settings.poll_seconds
        try:
            while True:
                self._doorbell.clear()  # before reading: a commit from now on rings again
                try:
                    handled = await self.send_due()
                except Exception as exc:  # database unreachable or busy: try again later
                    log.warning("mail.pass_failed", error=type(exc).__name__, retry_in=pause)
                    await asyncio.sleep(pause)
                    pause = min(pause * 2, 30.0)
                    continue
                pause = self._settings.poll_seconds
                if handled >= self._settings.batch_size and not self.outage:
                    continue  # more may be due (during an outage: the next look is on the poll)
                await self.client.close_if_idle()
                await self._doorbell.wait(self._settings.poll_seconds)
        finally:
            await self.client.close()

    async def send_due(self) -> int:
        """One pass over up to batch_size due mails. Returns how many were tried."""
        return await self._finish(self._pass())

    async def _finish(self, step: Awaitable[int]) -> int:
        """Shutdown lets the mails in hand finish (sent and recorded) instead of cutting them
        off, which would send them again after the restart; it hands out no more."""
        task = asyncio.ensure_future(step)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            self._stopping = True
            await asyncio.wait([task], timeout=self._settings.smtp_timeout_seconds)
            if not task.done():
                task.cancel()
                await asyncio.wait([task], timeout=5)
            elif not task.cancelled():
                task.exception()  # retrieved: the shutdown reports nothing of it
            raise

    async def _pass(self) -> int:
        """Returns how many mails it handled: tried, or found accepted (a receipt left by a
        sender that died) and recorded."""
        now = self._clock.now()
        limit = self._settings.batch_size
        if self._db.sqlite:
            async with self._db.read() as session:
                accepted = await unrecorded_receipts(session, lock=False)
                mails = await due_mails(session, now, limit, lock=False)
            if not mails and not accepted:
                return 0
            outcomes = await self._send(mails)
            async with self._db.transaction() as session:
                await self._record(session, outcomes, accepted)
            return len(outcomes) + len(accepted)
        async with self._db.transaction() as session:
            accepted = await unrecorded_receipts(session, lock=True)
            mails = await due_mails(session, now, limit, lock=True)
            # A receipt committed after the due query's snapshot was taken, by a sender that
            # died just before these rows were locked: not to be sent again.
            late = await receipts_among(session, [mail.id for mail in mails])
            if late:
                accepted += late
                mails = [mail for mail in mails if mail.id not in late]
            if not mails and not accepted:
                return 0
            outcomes = await self._send(mails)
            await self._record(session, outcomes, accepted)
        return len(outcomes) + len(accepted)

    async def _send(self, mails: Sequence[Mail]) -> list[Outcome]:
        """Send the mails over the pool; the outcome of each mail tried (all of them, unless
        the sender is stopping)."""
        if not mails:
            return []
        waiting = deque(mails)
        outcomes: list[Outcome] = []
        clients = self.client.clients
        wanted = min(len(clients), max(1, math.ceil(len(mails) / MAILS_PER_CONNECTION)))
        receipts = Receipts(self._db, self._clock, workers=wanted)
        outage: DeliveryError | None = None
        try:
            await clients[0].connect()  # the pass's one connection attempt when SMTP is down
        except DeliveryError as error:
            outage = error

        async def work(client: SmtpClient, extra: bool) -> None:
            nonlocal outage
            receipt: Receipt | None = None  # of this connection's previous mail
            while waiting and outage is None and not self._stopping and not receipts.failed:
                mail = waiting.popleft()
                if extra and not client.connected:
                    try:
                        await client.connect()
                    except DeliveryError as error:
                        waiting.appendleft(mail)  # the others take it
                        log.warning("smtp.extra_connection_refused", error=error.description)
                        return
                gate = None if receipt is None else functools.partial(receipts.written, receipt)
                failure = await self._try(client, mail, gate)
                outcomes.append((mail, failure))
                if failure is None:
                    receipt = receipts.record(mail.id)
                elif failure.outage:
                    outage = failure

        if outage is None:
            async with receipts:  # every receipt written before the pass records
                await asyncio.gather(*(work(c, i > 0) for i, c in enumerate(clients[:wanted])))
        if outage is not None and not self._stopping:
            outcomes.extend((mail, outage) for mail in waiting)  # the same failed try
        self.outage = outage is not None
        return outcomes

    async def _try(
        self,
        client: SmtpClient,
        mail: Mail,
        previous_written: Callable[[], Awaitable[object]] | None = None,
    ) -> DeliveryError | None:
        """Send one mail; DATA waits for previous_written(): the receipt of the connection's
        previous mail."""
        try:
            message = compose(mail, self._settings.mail_from)
            assert mail.recipient is not None  # compose refuses a mail without one
        except (ValueError, TypeError) as exc:
            return DeliveryError(describe(exc), permanent=True)
        try:
            await client.send(self._envelope_from, mail.recipient, message, previous_written)
        except DeliveryError as exc:
            return exc
        return None

    async def _record(
        self, session: AsyncSession, outcomes: Sequence[Outcome], accepted: Sequence[UUID] = ()
    ) -> None:
        """The pass's outcomes in one transaction; `accepted`: mails a dead sender's receipts
        show the server accepted, recorded as sent now."""
        now = self._clock.now()
        s = self._settings
        sent = [mail.id for mail, error in outcomes if error is None]
        if accepted:
            log.warning("mails.recovered_receipts", mails=len(accepted))
        sent += accepted
        tries: list[tuple[Mail, DeliveryError, FailedTry]] = []
        for mail, error in outcomes:
            if error is None:
                continue
            outcome = after_failure(
                mail.attempts,
                now,
                permanent=error.permanent,
                max_attempts=s.max_attempts,
                base_seconds=s.retry_base_seconds,
                max_seconds=s.retry_max_seconds,
            )
            tries.append((mail, error, FailedTry(mail.id, outcome, error.description)))
        await mark_sent(session, sent, now)
        await delete_receipts(session, sent)
        await mark_failed_tries(session, [t for _, _, t in tries])
        # Issue 14: the progress of invitation runs, counts only, in this same transaction
        # (each mail counted once: it becomes sent, or failed for good, only here).
        given_up = [t.mail_id for _, _, t in tries if t.outcome.status == MailStatus.FAILED]
        progress = run_progress(await runs_of(session, sent), await runs_of(session, given_up))
        if progress:
            await add_to_outbox(session, *progress)
        if sent:
            log.info("mails.sent", mails=len(sent) - len(accepted))
        waiting = 0
        for mail, error, failed_try in tries:
            outcome = failed_try.outcome
            if outcome.status == MailStatus.FAILED:
                bind_correlation_id(mail.correlation_id)
                log.error(
                    "mail.failed",
                    mail_id=str(mail.id),
                    template=mail.template,
                    attempts=outcome.attempts,
                    permanent=error.permanent,
                    error=error.description,
                )
            elif error.outage:
                waiting += 1  # one line for the pass below, not one per mail
            else:
                bind_correlation_id(mail.correlation_id)
                log.warning(
                    "mail.retry_scheduled",
                    mail_id=str(mail.id),
                    template=mail.template,
                    attempts=outcome.attempts,
                    next_attempt_at=outcome.next_attempt_at.isoformat(),
                    error=failed_try.error,
                )
        if waiting:
            log.warning(
                "mails.smtp_unreachable",
                mails=waiting,
                error=next(e.description for _, e, _ in tries if e.outage),
            )


def mail_sender(doorbell: Doorbell) -> Background:
    """The sender as a background job of the service runtime."""

    async def mail_sender(runtime: ServiceRuntime) -> None:
        settings = runtime.settings
        assert isinstance(settings, NotifierSettings)
        await MailSender(runtime.db, settings, doorbell, clock=runtime.clock).run()

    return mail_sender
