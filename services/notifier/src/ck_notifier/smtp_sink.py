"""A real SMTP server (aiosmtpd) that keeps every message it receives as a .eml file.

For local runs (`ck-smtp-sink --dir var/mail`) and for tests, which start it in-process and
read the mails the notifier actually sent:

    sink = SmtpSink(tmp_path, "127.0.0.1", port)
    sink.start()
    ...
    mails = read_mails(tmp_path)
    sink.stop()

Each message is one file, written to a temporary name and renamed, so a reader never sees half
a mail. Files sort in the order the messages arrived. The envelope is kept in two headers on
top (Return-Path, X-Original-To), as a delivering mail server does.

Fast enough to be the benchmark's server (50,000 mails a minute and more): aiosmtpd reads a
message body one line at a time (about 100 awaits for a 5 kB mail, most of its cost); the sink
reads it in a few large pieces instead (`_BulkDataSMTP`), parses plain addresses in MAIL and
RCPT with a regular expression instead of the standard library's header parser, and writes the
file straight from the event loop without fsync (a test and development server: losing the
last mails in a power cut is acceptable, a thread hop and a disk flush per mail are not).
"""

from __future__ import annotations

import argparse
import asyncio
import email
import itertools
import logging
import os
import re
import signal
import threading
import time
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any, AnyStr

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import MISSING, SMTP, Envelope, Session

SUFFIX = ".eml"
_counter = itertools.count()
_counter_lock = threading.Lock()


def _next_name() -> str:
    with _counter_lock:
        number = next(_counter)
    return f"{time.time_ns():020d}-{os.getpid()}-{number:06d}{SUFFIX}"


def store(directory: Path, content: bytes) -> Path:
    """Write one message atomically: a temporary file in the same folder, then a rename."""
    name = _next_name()
    temporary = directory / f".{name}.tmp"
    with temporary.open("wb") as handle:
        handle.write(content)
    target = directory / name
    os.replace(temporary, target)
    return target


class _StoreHandler:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        # Stored with the local line ending, as a Maildir keeps mails, not the wire's CRLF.
        content = (envelope.original_content or b"").replace(b"\r\n", b"\n")
        recipients = ", ".join(envelope.rcpt_tos)
        top = f"Return-Path: <{envelope.mail_from or ''}>\nX-Original-To: {recipients}\n"
        store(self.directory, top.encode() + content)
        return "250 Message accepted for delivery"

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        # RFC 2920, as real mail servers offer it: the notifier then sends MAIL, RCPT and DATA
        # in one write (_BulkDataSMTP.push answers them in one write too).
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]]


_END = b".\r\n"
# "<plain@address.example> PARAMS": the shape clients send, parsed without the standard
# library's header parser (about 70 µs per address, a third of the sink's time per mail).
_PLAIN_PATH = re.compile(r"\s*<([A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9.-]+)>(.*)", re.DOTALL)


class _BulkDataSMTP(SMTP):
    """aiosmtpd's SMTP server with a DATA phase that reads the body in large pieces: up to each
    ".<CRLF>", which ends the data only at the start of a line (RFC 5321 4.1.1.4)."""

    # The stream reader's limit (aiosmtpd: 1001, the longest line RFC 5321 allows): large, so
    # a piece of body without ".<CRLF>" is read at once instead of in 1 kB overruns.
    line_length_limit = 1 << 16

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._held: list[bytes] = []

    async def push(self, status: AnyStr) -> None:
        """A reply; held while the client's next command is already here (it pipelined them),
        so the replies to a group go out in one write, not one each."""
        response = status.encode("utf-8") if isinstance(status, str) else status
        self._held.append(response + b"\r\n")
        if self._reader._buffer:  # type: ignore[attr-defined]  # more commands to answer first
            return
        held, self._held = self._held, []
        self._writer.write(b"".join(held))
        await self._writer.drain()

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        match = _PLAIN_PATH.fullmatch(arg)
        if match is None or ".." in match[1] or match[1].startswith("."):
            return super()._getaddr(arg)
        address, rest = match[1], match[2]
        if self.local_part_limit and len(address.rpartition("@")[0]) > self.local_part_limit:
            return None, None
        return address, rest

    async def smtp_DATA(self, arg: str) -> None:
        if await self.check_helo_needed() or await self.check_auth_needed("DATA"):
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        data = bytearray()
        limit = self.data_size_limit
        too_much = False
        while True:
            try:
                data += await self._reader.readuntil(_END)
            except asyncio.LimitOverrunError as exc:  # no ".<CRLF>" within the reader's limit
                data += await self._reader.read(exc.consumed)
                continue
            except asyncio.IncompleteReadError:  # the client went away in the middle
                self._writer.close()
                return
            if len(data) == len(_END) or data[-5:-3] == b"\r\n":
                break
            if limit and len(data) > limit:
                too_much = True
                del data[:-5]  # keep only what the end test needs
        if too_much or (limit and len(data) - len(_END) > limit):
            self._set_post_data_state()  # type: ignore[no-untyped-call]
            await self.push("552 Error: Too much mail data")
            return
        del data[-len(_END) :]
        # Undo the dot-stuffing (RFC 5321 4.5.2): a line starting with "." got one more.
        content = bytes(data).replace(b"\r\n.", b"\r\n")
        if content.startswith(b"."):
            content = content[1:]
        self.envelope.content = self.envelope.original_content = content
        status = await self._call_handler_hook("DATA")
        self._set_post_data_state()  # type: ignore[no-untyped-call]
        await self.push("250 OK" if status is MISSING else status)


class _Controller(Controller):
    def factory(self) -> SMTP:
        return _BulkDataSMTP(self.handler, **self.SMTP_kwargs)


class SmtpSink:
    """An SMTP server on host:port (a thread of its own) that stores mails in directory."""

    def __init__(self, directory: Path | str, host: str = "127.0.0.1", port: int = 8025) -> None:
        self.directory = Path(directory)
        self.host = host
        self.port = port
        self._controller: Controller | None = None

    @property
    def running(self) -> bool:
        return self._controller is not None

    def start(self) -> None:
        """Listen; returns once the server answers. Can be called again after stop()."""
        if self._controller is not None:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        controller = _Controller(
            _StoreHandler(self.directory),
            hostname=self.host,
            port=self.port,
            server_hostname="ck-smtp-sink",
            enable_SMTPUTF8=True,
            ready_timeout=10,
        )
        controller.start()
        self._controller = controller

    def stop(self) -> None:
        """Stop listening and drop open connections (clients see the server go away)."""
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    def __enter__(self) -> SmtpSink:
        self.start()
        return self

    def __exit__(self, *_exc: Any) -> None:
        self.stop()


def mail_files(directory: Path | str) -> list[Path]:
    folder = Path(directory)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix == SUFFIX and not p.name.startswith("."))


def count_mails(directory: Path | str) -> int:
    """How many mails the folder holds, without reading them (benchmarks poll 50,000)."""
    folder = Path(directory)
    if not folder.is_dir():
        return 0
    with os.scandir(folder) as entries:
        return sum(1 for e in entries if e.name.endswith(SUFFIX) and not e.name.startswith("."))


def read_mails(directory: Path | str) -> list[EmailMessage]:
    """Every mail stored in directory, oldest first, parsed with email.policy.default."""
    mails: list[EmailMessage] = []
    for path in mail_files(directory):
        message = email.message_from_bytes(path.read_bytes(), policy=default)
        mails.append(message)
    return mails


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="ck-smtp-sink", description="A local SMTP server that stores mails as .eml files."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--dir", type=Path, default=Path("var/mail"), dest="directory")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    stopped = threading.Event()
    # The handlers go in before the "listening" line: whoever waits for that line may stop
    # us at once, and a SIGTERM before the handler would end the process without sink.stop().
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopped.set())
    sink = SmtpSink(args.directory, args.host, args.port)
    sink.start()
    print(f"ck-smtp-sink: SMTP on {args.host}:{args.port}, mails in {args.directory}", flush=True)
    stopped.wait()
    sink.stop()


if __name__ == "__main__":
    main()
