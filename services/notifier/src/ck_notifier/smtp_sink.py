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
"""

from __future__ import annotations

import argparse
import asyncio
import email
import itertools
import logging
import os
import signal
import threading
import time
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

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
        handle.flush()
        os.fsync(handle.fileno())
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
        await asyncio.to_thread(store, self.directory, top.encode() + content)
        return "250 Message accepted for delivery"


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
        controller = Controller(
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
    sink = SmtpSink(args.directory, args.host, args.port)
    sink.start()
    print(f"ck-smtp-sink: SMTP on {args.host}:{args.port}, mails in {args.directory}", flush=True)
    stopped = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopped.set())
    stopped.wait()
    sink.stop()


if __name__ == "__main__":
    main()
