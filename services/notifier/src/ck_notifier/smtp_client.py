"""Reused SMTP connections (aiosmtplib) that reconnect when they drop: `SmtpClient` is one
connection, `SmtpPool` the few the sender uses at once.

Errors come out as `DeliveryError`, classified for the sender:
- permanent: the server refused this mail for good (5xx); retrying cannot help.
- outage: no usable connection (refused, timed out, dropped, 421); other mails fail alike.
- otherwise transient for this mail only (4xx).
Descriptions never hold an e-mail address: servers like to echo the recipient.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Awaitable, Callable

import aiosmtplib
from aiosmtplib.protocol import SMTPProtocol
from aiosmtplib.response import SMTPResponse

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


def _envelope_options(smtp: aiosmtplib.SMTP, sender: str, recipient: str, size: int) -> list[bytes]:
    options = [f"SIZE={size}".encode()] if smtp.supports_extension("size") else []
    if not (sender.isascii() and recipient.isascii()):
        # RFC 6531: an internationalised address needs the server's SMTPUTF8.
        if not smtp.supports_extension("smtputf8"):
            raise aiosmtplib.SMTPNotSupported(
                "the mail server does not accept international addresses (no SMTPUTF8)"
            )
        options.append(b"SMTPUTF8")
    return options


def _wire_content(message: bytes) -> bytes:
    """The DATA content with its end: dot-stuffed (RFC 5321 4.5.2), then ".". The message is
    compose()'s, whose line ends are all CRLF already (aiosmtplib's normalising regex cost
    more than the rest of the content's handling)."""
    if not message.endswith(b"\r\n"):
        message += b"\r\n"
    stuffed = message.replace(b"\r\n.", b"\r\n..")
    if stuffed.startswith(b"."):
        stuffed = b"." + stuffed
    return stuffed + b".\r\n"


async def _transaction(
    smtp: aiosmtplib.SMTP,
    sender: str,
    recipient: str,
    message: bytes,
    before_data: Callable[[], Awaitable[object]] | None = None,
) -> None:
    """One mail: MAIL, RCPT and DATA, without aiosmtplib's parsing of both addresses (about
    140 µs per mail; the consumer checked the recipient, MAIL_FROM is ours).

    With a server that offers PIPELINING (RFC 2920; nearly all do, ck-smtp-sink too) MAIL, RCPT
    and DATA go out in one write and their three replies come back together; then the content
    in a second write: two round trips and two writes per mail instead of four each (a round
    trip to another process is the sender's cost and, on a busy machine, its wait).

    before_data() is awaited before the content goes out (after RCPT, or after DATA's 354 when
    pipelining): nothing is accepted before the content ends, so the sender lets the previous
    mail's receipt be written meanwhile (ck_notifier.receipts)."""
    if smtp.is_ehlo_or_helo_needed:
        try:
            await smtp.ehlo()
        except aiosmtplib.SMTPHeloError:
            if not smtp.is_connected:
                raise
            await smtp.helo()
    options = _envelope_options(smtp, sender, recipient, len(message))
    try:
        protocol = smtp.protocol
        if isinstance(protocol, _PipeliningProtocol) and smtp.supports_extension("pipelining"):
            await _pipelined(smtp, protocol, sender, recipient, options, message, before_data)
            return
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


def _command(*parts: bytes) -> bytes:
    line = b" ".join(parts)
    if _CONTROL.search(line):  # as aiosmtplib refuses it: no command injection via an address
        raise ValueError("Command arg contains a prohibited control character")
    return line + b"\r\n"


_CONTROL = re.compile(rb"[\x00-\x1f\x7f]")


async def _pipelined(
    smtp: aiosmtplib.SMTP,
    protocol: _PipeliningProtocol,
    sender: str,
    recipient: str,
    options: list[bytes],
    message: bytes,
    before_data: Callable[[], Awaitable[object]] | None,
) -> None:
    group = (
        _command(b"MAIL", f"FROM:<{sender}>".encode(), *options)
        + _command(b"RCPT", f"TO:<{recipient}>".encode())
        + b"DATA\r\n"
    )
    content = _wire_content(message)
    timeout = smtp.timeout
    try:
        mail, rcpt, data = await protocol.exchange(group, 3, timeout)
        if data.code == 354 and (mail.code != 250 or rcpt.code not in (250, 251)):
            # RFC 2920 forbids a server this (DATA without a recipient); whatever the content
            # would become, it must not be sent: the connection goes, nothing is sent.
            smtp.close()
            raise aiosmtplib.SMTPServerDisconnected("DATA accepted without a recipient")
        if mail.code != 250:
            raise aiosmtplib.SMTPSenderRefused(mail.code, mail.message, sender)
        if rcpt.code not in (250, 251):
            raise aiosmtplib.SMTPRecipientsRefused(
                [aiosmtplib.SMTPRecipientRefused(rcpt.code, rcpt.message, recipient)]
            )
        if data.code != 354:
            raise aiosmtplib.SMTPDataError(data.code, data.message)
        if before_data is not None:
            await before_data()
        (done,) = await protocol.exchange(content, 1, timeout)
    except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError):
        smtp.close()  # as aiosmtplib does: a connection out of step is not used again
        raise
    if done.code != 250:
        raise aiosmtplib.SMTPDataError(done.code, done.message)


class _PipeliningProtocol(SMTPProtocol):
    """aiosmtplib's protocol, able to send a group of commands at once and read all their
    replies (RFC 2920). aiosmtplib reads one reply per command written and drops data that
    arrives while no command waits, which pipelined replies do; while a group is out this
    protocol keeps every byte, parses the replies as they come and wakes the sender once, when
    all are there (one future and one timer per group: aiosmtplib's wait_for per reply cost
    more than the rest of the exchange). Installed on a connection once aiosmtplib has opened
    it (greeting, EHLO, STARTTLS, AUTH are aiosmtplib's)."""

    _group: asyncio.Future[list[SMTPResponse]] | None = None
    _wanted = 0
    _replies: list[SMTPResponse]

    def data_received(self, data: bytes) -> None:
        group = self._group
        if group is None:
            super().data_received(data)
            return
        self._buffer.extend(data)
        if group.done():
            return
        try:
            while len(self._replies) < self._wanted:
                response = self._read_response_from_buffer()
                if response is None:
                    return
                self._replies.append(response)
        except Exception as exc:
            self._set_response_exception(group, exc)  # type: ignore[arg-type]
            return
        group.set_result(self._replies)

    def connection_lost(self, exc: Exception | None) -> None:
        group = self._group
        if group is not None and not group.done():
            lost = aiosmtplib.SMTPServerDisconnected("Connection lost")
            lost.__cause__ = exc
            self._set_response_exception(group, lost)  # type: ignore[arg-type]
        super().connection_lost(exc)

    async def exchange(
        self, payload: bytes, replies: int, timeout: float | None
    ) -> list[SMTPResponse]:
        """Write payload (one or more commands, or a message's content) in one go; the
        server's next `replies` replies."""
        if self._command_lock is None or self._buffer:
            raise aiosmtplib.SMTPServerDisconnected("Server not connected or out of step")
        async with self._command_lock:
            group: asyncio.Future[list[SMTPResponse]] = self._loop.create_future()
            self._group, self._wanted, self._replies = group, replies, []
            timer = None if timeout is None else self._loop.call_later(timeout, _expire, group)
            try:
                self.write(payload)
                responses = await group
            except BaseException:
                # Timed out, dropped, garbled or cancelled: replies may still come, and a
                # command sent now could land in the middle of a DATA. The connection goes.
                if self.transport is not None:
                    self.transport.close()
                raise
            finally:
                self._group = None
                if timer is not None:
                    timer.cancel()
            if self._buffer:  # more replies than commands: out of step with the server
                raise aiosmtplib.SMTPServerDisconnected("unexpected data from the server")
        return responses


# _PipeliningProtocol leans on aiosmtplib's private parts (pinned in uv.lock): a release that
# renames them makes the notifier send one command at a time again instead of failing.
_PRIVATE_PARTS_PRESENT = all(
    hasattr(SMTPProtocol, name)
    for name in ("_read_response_from_buffer", "_set_response_exception", "write")
)


def _expire(group: asyncio.Future[list[SMTPResponse]]) -> None:
    if not group.done():
        group.set_exception(
            aiosmtplib.SMTPReadTimeoutError("Timed out waiting for server response")
        )


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
        if type(smtp.protocol) is SMTPProtocol and _PRIVATE_PARTS_PRESENT:
            # The same object, able to pipeline now (see _PipeliningProtocol); it adds methods
            # and no state, so the switch is safe between commands. uvloop's transport keeps
            # the bound data_received it looked up at connect: handing it the protocol again
            # makes it look the methods up anew (asyncio's looks them up on every read).
            protocol = smtp.protocol
            protocol.__class__ = _PipeliningProtocol
            if protocol.transport is not None:
                protocol.transport.set_protocol(protocol)
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
