"""Reused SMTP connections (aiosmtplib) that reconnect when they drop: `SmtpClient` is one
connection, `SmtpPool` the few the sender uses at once.

Errors come out as `DeliveryError`, classified for the sender:
- permanent: the server refused this mail for good (5xx); retrying cannot help.
- outage: no usable connection (refused, timed out, dropped, 421); other mails fail alike.
- otherwise transient for this mail only (4xx).
Descriptions never hold an e-mail address: servers like to echo the recipient.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Awaitable, Callable

import aiosmtplib

from ck_notifier.settings import NotifierSettings

_ADDRESS = re.compile(r"[^\s<>\"'(),;:]+@[^\s<>\"'(),;:]+")
MAX_DESCRIPTION = 500


class DeliveryError(Exception):
    def __init__(self, description: str, *, permanent: bool = False, outage: bool = False):
        super().__init__(description)
        self.description = description
        self.permanent = permanent
        self.outage = outage


def describe(exc: BaseException) -> str:
    """Exception class, SMTP code and server text, with every e-mail address blanked out."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) and exc.recipients:
        first = exc.recipients[0]
        text = f"{type(exc).__name__} {first.code}: {first.message}"
    elif isinstance(exc, aiosmtplib.SMTPResponseException):
        text = f"{type(exc).__name__} {exc.code}: {exc.message}"
    else:
        detail = str(exc)
        text = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    return _ADDRESS.sub("[adres]", " ".join(text.split()))[:MAX_DESCRIPTION]


def classify(exc: Exception) -> DeliveryError:
    description = describe(exc)
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        return DeliveryError(description, permanent=bool(codes) and min(codes) >= 500)
    if isinstance(exc, aiosmtplib.SMTPResponseException) and exc.code != 421:
        return DeliveryError(description, permanent=500 <= exc.code < 600)
    if isinstance(exc, aiosmtplib.SMTPNotSupported | ValueError):
        return DeliveryError(description, permanent=True)  # e.g. an address the server can't take
    return DeliveryError(description, outage=True)


_DROPPED = (aiosmtplib.SMTPServerDisconnected, ConnectionError)


async def _transaction(
    smtp: aiosmtplib.SMTP,
    sender: str,
    recipient: str,
    message: bytes,
    before_data: Callable[[], Awaitable[object]] | None = None,
) -> None:
    """MAIL, RCPT and DATA as aiosmtplib's sendmail does them, without its parsing of both
    addresses (about 140 µs per mail; the consumer checked the recipient, MAIL_FROM is ours).
    before_data() is awaited after RCPT: nothing is accepted before DATA ends, so the sender
    can let the previous mail's receipt be written meanwhile (ck_notifier.receipts)."""
    if smtp.is_ehlo_or_helo_needed:
        try:
            await smtp.ehlo()
        except aiosmtplib.SMTPHeloError:
            if not smtp.is_connected:
                raise
            await smtp.helo()
    options = [f"SIZE={len(message)}".encode()] if smtp.supports_extension("size") else []
    if not (sender.isascii() and recipient.isascii()):
        # RFC 6531: an internationalised address needs the server's SMTPUTF8.
        if not smtp.supports_extension("smtputf8"):
            raise aiosmtplib.SMTPNotSupported(
                "the mail server does not accept international addresses (no SMTPUTF8)"
            )
        options.append(b"SMTPUTF8")
    try:
        response = await smtp.execute_command(b"MAIL", f"FROM:<{sender}>".encode(), *options)
        if response.code != 250:
            raise aiosmtplib.SMTPSenderRefused(response.code, response.message, sender)
        response = await smtp.execute_command(b"RCPT", f"TO:<{recipient}>".encode())
        if response.code not in (250, 251):
            raise aiosmtplib.SMTPRecipientsRefused(
                [aiosmtplib.SMTPRecipientRefused(response.code, response.message, recipient)]
            )
        if before_data is not None:
            await before_data()
        await smtp.data(message)
    except (aiosmtplib.SMTPResponseException, aiosmtplib.SMTPRecipientsRefused):
        # Reset the envelope, so the connection can carry the next mail.
        with contextlib.suppress(ConnectionError, aiosmtplib.SMTPException):
            await smtp.rset()
        raise


class SmtpClient:
    """Sends messages over one connection, opened on first use and kept between mails."""

    def __init__(self, settings: NotifierSettings) -> None:
        self._settings = settings
        self._smtp: aiosmtplib.SMTP | None = None
        self._last_used = 0.0
        self.connection_attempts = 0
        self.connections_opened = 0

    @property
    def connected(self) -> bool:
        return self._smtp is not None and self._smtp.is_connected

    async def connect(self) -> None:
        """Open the connection unless it stands. Raises DeliveryError (an outage)."""
        if not self.connected:
            await self._connect()

    async def _connect(self) -> aiosmtplib.SMTP:
        s = self._settings
        smtp = aiosmtplib.SMTP(
            hostname=s.smtp_host,
            port=s.smtp_port,
            username=s.smtp_username,
            password=s.smtp_password.get_secret_value() if s.smtp_password else None,
            use_tls=s.smtp_use_tls,
            start_tls=s.smtp_starttls,
            timeout=s.smtp_timeout_seconds,
        )
        self.connection_attempts += 1
        try:
            await smtp.connect()
        except Exception as exc:
            smtp.close()
            raise DeliveryError(describe(exc), outage=True) from exc
        self._smtp = smtp
        self.connections_opened += 1
        return smtp

    async def send(
        self,
        sender: str,
        recipient: str,
        message: bytes,
        before_data: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        """Hand one message (the bytes of message.compose) to the server. Raises
        DeliveryError. before_data() is awaited before DATA (again on a second connection)."""
        reused = self.connected
        smtp = self._smtp if reused and self._smtp is not None else await self._connect()
        try:
            await self._send_on(smtp, sender, recipient, message, before_data)
        except DeliveryError as error:
            if not (reused and isinstance(error.__cause__, _DROPPED)):
                raise
            # The server closed an idle connection we still thought open: one fresh try.
            await self._send_on(await self._connect(), sender, recipient, message, before_data)
        self._last_used = time.monotonic()

    async def _send_on(
        self,
        smtp: aiosmtplib.SMTP,
        sender: str,
        recipient: str,
        message: bytes,
        before_data: Callable[[], Awaitable[object]] | None,
    ) -> None:
        try:
            await _transaction(smtp, sender, recipient, message, before_data)
        except Exception as exc:
            error = classify(exc)
            if error.outage:
                self._drop()
            raise error from exc

    async def close_if_idle(self) -> None:
        if self._smtp is not None and time.monotonic() - self._last_used > (
            self._settings.smtp_idle_seconds
        ):
            await self.close()

    async def close(self) -> None:
        """QUIT politely when the connection still stands; close it in any case."""
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        if smtp.is_connected:
            try:
                await smtp.quit(timeout=5)
            except Exception:  # the server went away meanwhile: nothing left to be polite to
                smtp.close()
        else:
            smtp.close()

    def _drop(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            smtp.close()


class SmtpPool:
    """A few SmtpClients, used at once by the sender's workers. Connections open when a worker
    first needs one and stay open between passes (closed after SMTP_IDLE_SECONDS)."""

    def __init__(self, settings: NotifierSettings, size: int | None = None) -> None:
        self.clients = [SmtpClient(settings) for _ in range(size or settings.smtp_connections)]

    @property
    def connections_opened(self) -> int:
        return sum(client.connections_opened for client in self.clients)

    @property
    def connection_attempts(self) -> int:
        return sum(client.connection_attempts for client in self.clients)

    @property
    def connected(self) -> bool:
        return any(client.connected for client in self.clients)

    async def close_if_idle(self) -> None:
        for client in self.clients:
            await client.close_if_idle()

    async def close(self) -> None:
        for client in self.clients:
            await client.close()
