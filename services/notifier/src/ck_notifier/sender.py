"""The sender: a background job that hands due mails to the SMTP server.

One pass takes due mails one by one, oldest first, sends each over the one reused connection
and records the outcome at once. Sent mails lose their recipient and text (R-AVG-2). A failed
try is counted and the mail waits (exponential backoff); after max_attempts, or when the
server refuses it for good (5xx), it becomes `failed` for an operator to replay.

When the server cannot be reached, the pass stops connecting: every other due mail of the pass
counts the same failed try, so an outage costs one connection attempt per pass, not one per
mail. Mails wait while the server is down and go out once it is back.

Delivery is at least once: a crash between the server's acceptance and the record sends the
mail again, with the same Message-ID (derived from the mail id) so it can be recognised.
With PostgreSQL the mail row stays locked (FOR UPDATE SKIP LOCKED) while it is sent, so the
senders of several replicas never take the same mail; with SQLite (one process per file) the
write lock is not held while talking SMTP.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from ck_contracts.messaging import utcnow
from ck_runtime.db import Database
from ck_runtime.logs import bind_correlation_id, get_logger
from ck_runtime.service import Background, ServiceRuntime
from sqlalchemy.ext.asyncio import AsyncSession

from ck_notifier.message import Mail, compose
from ck_notifier.outgoing import Doorbell, mark_failed_try, mark_sent, next_due
from ck_notifier.retries import after_failure
from ck_notifier.settings import NotifierSettings
from ck_notifier.smtp_client import DeliveryError, SmtpClient, describe
from ck_notifier.tables import MailStatus

log = get_logger(__name__)


class MailSender:
    def __init__(
        self,
        db: Database,
        settings: NotifierSettings,
        doorbell: Doorbell,
        client: SmtpClient | None = None,
    ) -> None:
        self._db = db
        self._settings = settings
        self._doorbell = doorbell
        self.client = client or SmtpClient(settings)
        self._outage: DeliveryError | None = None

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
                if handled >= self._settings.batch_size:
                    continue  # more may be due
                await self.client.close_if_idle()
                await self._doorbell.wait(self._settings.poll_seconds)
        finally:
            await self.client.close()

    async def send_due(self) -> int:
        """One pass over up to batch_size due mails. Returns how many were tried."""
        self._outage = None
        handled = 0
        while handled < self._settings.batch_size and await self._finish(self._one()):
            handled += 1
        return handled

    async def _finish(self, step: Awaitable[bool]) -> bool:
        """Shutdown waits for the mail in hand (sent and recorded) instead of cutting it off,
        which would send it again after the restart."""
        task = asyncio.ensure_future(step)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            await asyncio.wait([task], timeout=self._settings.smtp_timeout_seconds)
            if not task.done():
                task.cancel()
                await asyncio.wait([task], timeout=5)
            elif not task.cancelled():
                task.exception()  # retrieved: the shutdown reports nothing of it
            raise

    async def _one(self) -> bool:
        """Take the next due mail, try it, record the outcome. False when none is due."""
        now = utcnow()
        if self._db.sqlite:
            async with self._db.read() as session:
                mail = await next_due(session, now, lock=False)
            if mail is None:
                return False
            error = await self._try(mail)
            async with self._db.transaction() as session:
                await self._record(session, mail, error)
            return True
        async with self._db.transaction() as session:
            mail = await next_due(session, now, lock=True)
            if mail is None:
                return False
            error = await self._try(mail)
            await self._record(session, mail, error)
        return True

    async def _try(self, mail: Mail) -> DeliveryError | None:
        bind_correlation_id(mail.correlation_id)
        if self._outage is not None:
            return self._outage
        try:
            message = compose(mail, self._settings.mail_from)
        except (ValueError, TypeError) as exc:
            return DeliveryError(describe(exc), permanent=True)
        try:
            await self.client.send(message)
        except DeliveryError as exc:
            if exc.outage:
                self._outage = exc
            return exc
        return None

    async def _record(self, session: AsyncSession, mail: Mail, error: DeliveryError | None) -> None:
        now = utcnow()
        if error is None:
            await mark_sent(session, mail.id, now)
            log.info("mail.sent", mail_id=str(mail.id), template=mail.template)
            return
        s = self._settings
        outcome = after_failure(
            mail.attempts,
            now,
            permanent=error.permanent,
            max_attempts=s.max_attempts,
            base_seconds=s.retry_base_seconds,
            max_seconds=s.retry_max_seconds,
        )
        await mark_failed_try(session, mail.id, outcome, error.description)
        fields = {
            "mail_id": str(mail.id),
            "template": mail.template,
            "attempts": outcome.attempts,
            "error": error.description,
        }
        if outcome.status == MailStatus.FAILED:
            log.error("mail.failed", permanent=error.permanent, **fields)
        else:
            log.warning(
                "mail.retry_scheduled",
                next_attempt_at=outcome.next_attempt_at.isoformat(),
                **fields,
            )


def mail_sender(doorbell: Doorbell) -> Background:
    """The sender as a background job of the service runtime."""

    async def mail_sender(runtime: ServiceRuntime) -> None:
        settings = runtime.settings
        assert isinstance(settings, NotifierSettings)
        await MailSender(runtime.db, settings, doorbell).run()

    return mail_sender
