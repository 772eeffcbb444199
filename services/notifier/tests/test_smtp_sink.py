"""The local SMTP sink is a real SMTP server over TCP that keeps each mail as one .eml file."""

from __future__ import annotations

import os
import smtplib
import subprocess
import time
from email.message import EmailMessage
from pathlib import Path

import pytest
from ck_notifier.smtp_sink import SmtpSink, mail_files, read_mails


def _message(subject: str, to: str = "ontvanger@school.example") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "noreply@cjp.nl"
    message["To"] = to
    message["Subject"] = subject
    message.set_content(f"Inhoud van {subject}: één keer.")
    return message


def _send(port: int, *messages: EmailMessage) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        for message in messages:
            client.send_message(message)


def test_sink_stores_every_message_as_a_file(tmp_path: Path, smtp_port: int) -> None:
    port = smtp_port
    with SmtpSink(tmp_path / "mail", "127.0.0.1", port):
        _send(port, _message("eerste"), _message("tweede", to="ander@school.example"))
    mails = read_mails(tmp_path / "mail")
    assert [m["Subject"] for m in mails] == ["eerste", "tweede"]
    assert mails[1]["X-Original-To"] == "ander@school.example"
    assert mails[1]["Return-Path"] == "<noreply@cjp.nl>"
    assert mails[0].get_content() == "Inhoud van eerste: één keer.\n"
    names = sorted(os.listdir(tmp_path / "mail"))
    assert len(names) == 2 and all(n.endswith(".eml") for n in names)  # no temporary files left


def test_sink_can_stop_and_start_again(tmp_path: Path, smtp_port: int) -> None:
    port = smtp_port
    sink = SmtpSink(tmp_path, "127.0.0.1", port)
    sink.start()
    _send(port, _message("voor"))
    sink.stop()
    with pytest.raises(OSError):
        _send(port, _message("tijdens"))
    sink.start()
    try:
        _send(port, _message("na"))
    finally:
        sink.stop()
    assert [m["Subject"] for m in read_mails(tmp_path)] == ["voor", "na"]


def test_read_mails_of_a_missing_folder_is_empty(tmp_path: Path) -> None:
    assert read_mails(tmp_path / "nothing-here") == []


def test_ck_smtp_sink_command(
    sink_command: tuple[subprocess.Popen[str], str], smtp_port: int, mail_dir: Path
) -> None:
    # The sink's own process: it must exit with 0 on SIGTERM (the fixture checks).
    _, first_line = sink_command
    assert "SMTP on 127.0.0.1" in first_line  # printed once it listens
    _send(smtp_port, _message("via het commando"))
    deadline = time.monotonic() + 10
    while not mail_files(mail_dir) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [m["Subject"] for m in read_mails(mail_dir)] == ["via het commando"]


def test_sink_keeps_dots_and_large_bodies_intact(tmp_path: Path, smtp_port: int) -> None:
    """The body is read in large pieces up to each ".<CRLF>": lines that start or end with a
    dot, a line that is only a dot, and a body far beyond the reader's limit arrive as sent."""
    lines = [
        ".begint met een punt",
        ".",
        "..twee punten",
        "eindigt met een punt.",
        *(f"regel {n} " + "x" * 70 for n in range(3000)),  # about 240 kB without ".<CRLF>"
        "laatste regel.",
    ]
    body = "\n".join(lines) + "\n"
    message = _message("punten")
    message.set_content(body, cte="7bit")
    with SmtpSink(tmp_path, "127.0.0.1", smtp_port):
        _send(smtp_port, message, _message("erna"))
    first, second = read_mails(tmp_path)
    assert first.get_content() == body
    assert second["Subject"] == "erna"  # the connection went on after the big one
