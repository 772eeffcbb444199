"""The notifier as it runs: real RabbitMQ, real database (SQLite and PostgreSQL), real SMTP.

Events are published through the broker as any service's outbox relay publishes them; the
mails are read back from the SMTP sink's folder. Each test looks only at its own events (the
Message-ID carries the event id): the test session's broker is shared.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID, uuid4

import aio_pika
import pytest
from ck_contracts.messaging import dead_letter_queue, event_queue
from ck_contracts.notifier import EmailRequested, MailTemplate
from ck_notifier.smtp_sink import SmtpSink, read_mails
from ck_notifier.tables import outgoing_mails
from ck_runtime.db import Database
from sqlalchemy import func, select

T = TypeVar("T")
LINK = "http://127.0.0.1:8000/wachtwoord-instellen?token=Zm9vYmFyYmF6cXV4cXV1eA"
EMAIL_QUEUE = event_queue("notifier", "email")


def _request(**changes: Any) -> EmailRequested:
    values: dict[str, Any] = {
        "school_id": uuid4(),
        "template": MailTemplate.WELCOME_BUDGET_HOLDER,
        "to": "budgethouder@roc-zuid.example",
        "context": {
            "recipient_name": "Sanne Bakker",
            "school_name": "ROC Zuid & Co",
            "school_number": "10289",
            "link": LINK,
        },
        "correlation_id": uuid4().hex,
    }
    values.update(changes)
    return EmailRequested(**values)


async def wait_for(
    condition: Callable[[], Awaitable[T | None]], what: str, timeout: float = 30.0
) -> T:
    """Poll until condition() gives something truthy; fail after a generous deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = await condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def mail_row(db: Database, mail_id: UUID) -> dict[str, Any] | None:
    async with db.read() as session:
        row = (
            await session.execute(select(outgoing_mails).where(outgoing_mails.c.id == mail_id))
        ).first()
    return dict(row._mapping) if row is not None else None


def mails_of(mail_dir: Path, event_id: UUID) -> list[EmailMessage]:
    return [m for m in read_mails(mail_dir) if m["Message-ID"] == f"<{event_id}@cjp.nl>"]


def status_is(db: Database, mail_id: UUID, status: str) -> Callable[[], Awaitable[Any]]:
    async def check() -> dict[str, Any] | None:
        row = await mail_row(db, mail_id)
        return row if row is not None and row["status"] == status else None

    return check


def arrived(mail_dir: Path, event_id: UUID) -> Callable[[], Awaitable[list[EmailMessage]]]:
    async def check() -> list[EmailMessage]:
        return await asyncio.to_thread(mails_of, mail_dir, event_id)

    return check


async def test_requested_mail_arrives_in_dutch_with_the_link(
    start_notifier: Any, publish: Any, sink: SmtpSink, mail_dir: Path
) -> None:
    await asyncio.to_thread(sink.start)
    runtime = await start_notifier()
    event = _request()
    await publish(event)

    (mail,) = await wait_for(arrived(mail_dir, event.id), "the welcome mail")
    assert mail["To"] == "budgethouder@roc-zuid.example"
    assert mail["X-Original-To"] == "budgethouder@roc-zuid.example"  # the SMTP envelope
    assert mail["From"] == "MBO Cultuurkaart <noreply@cjp.nl>"
    assert mail["Subject"] == "Welkom bij het schoolportaal van de MBO Cultuurkaart: ROC Zuid & Co"
    assert mail["Content-Language"] == "nl"
    text = mail.get_body(("plain",))
    html = mail.get_body(("html",))
    assert text is not None and html is not None
    assert "Beste Sanne Bakker," in text.get_content()
    assert "schoolnummer van ROC Zuid & Co is 10289" in text.get_content()
    assert LINK in text.get_content()
    assert "7 dagen geldig en werkt één keer" in text.get_content()
    assert f'href="{LINK}"' in html.get_content()
    assert "ROC Zuid &amp; Co" in html.get_content()

    row = await wait_for(status_is(runtime.db, event.id, "sent"), "the mail marked sent")
    assert row["attempts"] == 1 and row["template"] == "welcome_budget_holder"
    assert row["correlation_id"] == event.correlation_id
    # R-AVG-2: the notifier keeps no address and no text of a mail the server accepted.
    assert row["recipient"] is None and row["subject"] is None
    assert row["text_body"] is None and row["html_body"] is None


async def test_the_same_event_twice_gives_one_mail(
    start_notifier: Any, publish: Any, sink: SmtpSink, mail_dir: Path
) -> None:
    await asyncio.to_thread(sink.start)
    # prefetch 1: the broker hands over one message at a time, in order, so once the marker's
    # mail is there, the duplicate before it has been handled too.
    runtime = await start_notifier(prefetch=1)
    event, marker = _request(), _request()
    await publish(event)
    await wait_for(status_is(runtime.db, event.id, "sent"), "the first delivery sent")
    await publish(event)  # redelivered, e.g. after a relay crashed before marking it published
    await publish(marker)
    await wait_for(status_is(runtime.db, marker.id, "sent"), "the marker sent")

    assert len(await asyncio.to_thread(mails_of, mail_dir, event.id)) == 1
    async with runtime.db.read() as session:
        count = (
            await session.execute(
                select(func.count()).where(outgoing_mails.c.id.in_([event.id, marker.id]))
            )
        ).scalar()
    assert count == 2


async def test_mail_waits_while_smtp_is_down_and_arrives_once_it_is_back(
    start_notifier: Any, publish: Any, sink: SmtpSink, mail_dir: Path
) -> None:
    runtime = await start_notifier(max_attempts=100)  # the sink is not running yet
    event = _request()
    await publish(event)

    async def retried() -> dict[str, Any] | None:
        row = await mail_row(runtime.db, event.id)
        return row if row is not None and row["attempts"] >= 2 else None

    row = await wait_for(retried, "failed tries while the SMTP server is down")
    assert row["status"] == "pending"
    assert row["last_error"].startswith("SMTPConnectError")
    assert read_mails(mail_dir) == []

    await asyncio.to_thread(sink.start)
    await wait_for(status_is(runtime.db, event.id, "sent"), "the mail sent once the server is back")
    assert len(await asyncio.to_thread(mails_of, mail_dir, event.id)) == 1


def _cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NOTIFIER_DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "ck_notifier.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_after_max_attempts_the_mail_fails_and_replay_sends_it(
    start_notifier: Any, publish: Any, sink: SmtpSink, mail_dir: Path, database_url: str
) -> None:
    runtime = await start_notifier(max_attempts=3)  # the sink is not running
    event = _request()
    await publish(event)

    row = await wait_for(status_is(runtime.db, event.id, "failed"), "the mail given up")
    assert row["attempts"] == 3
    assert row["recipient"] == "budgethouder@roc-zuid.example"  # kept, so it can be replayed

    listing = await asyncio.to_thread(_cli, database_url, "failed")
    assert listing.returncode == 0, listing.stderr
    (line,) = [x for x in listing.stdout.splitlines() if str(event.id) in x]
    assert "welcome_budget_holder" in line and "SMTPConnectError" in line
    assert " 3 " in line
    assert "@" not in listing.stdout  # no addresses in what an operator sees

    await asyncio.to_thread(sink.start)
    replayed = await asyncio.to_thread(_cli, database_url, "replay", str(event.id))
    assert replayed.returncode == 0, replayed.stderr
    assert f"replayed: {event.id}" in replayed.stdout

    row = await wait_for(status_is(runtime.db, event.id, "sent"), "the replayed mail sent")
    assert row["recipient"] is None and row["text_body"] is None
    assert len(await asyncio.to_thread(mails_of, mail_dir, event.id)) == 1

    again = await asyncio.to_thread(_cli, database_url, "replay", str(event.id))
    assert again.returncode == 1  # no longer failed: nothing to replay
    assert f"no failed mail with id {event.id}" in again.stderr
    everything = await asyncio.to_thread(_cli, database_url, "replay", "--all")
    assert everything.returncode == 0 and "0 mail(s)" in everything.stdout


async def _dead_lettered(amqp_url: str, event_id: UUID) -> bool:
    """Takes messages off the email queue's dead-letter queue until this event's is found."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(dead_letter_queue(EMAIL_QUEUE), passive=True)
        while (message := await queue.get(no_ack=True, fail=False)) is not None:
            if message.message_id == str(event_id):
                return True
    return False


def _unknown_template() -> dict[str, Any]:
    body = _request().envelope()
    body["template"] = "no_such_template"
    return body


def _missing_link() -> dict[str, Any]:
    event = _request()
    context = {k: v for k, v in event.context.items() if k != "link"}
    return event.model_copy(update={"context": context}).envelope()


def _bad_address() -> dict[str, Any]:
    return _request(to="budgethouder-at-roc-zuid").envelope()


@pytest.mark.parametrize("make_body", [_unknown_template, _missing_link, _bad_address])
async def test_a_mail_that_cannot_be_made_is_dead_lettered_at_once(
    start_notifier: Any,
    publish: Any,
    sink: SmtpSink,
    mail_dir: Path,
    amqp_url: str,
    make_body: Callable[[], dict[str, Any]],
) -> None:
    await asyncio.to_thread(sink.start)
    runtime = await start_notifier()
    body = make_body()
    event_id = UUID(body["id"])
    await publish(body)

    async def found() -> bool:
        return await _dead_lettered(amqp_url, event_id)

    await wait_for(found, "the event on the dead-letter queue")
    assert await mail_row(runtime.db, event_id) is None
    assert await asyncio.to_thread(mails_of, mail_dir, event_id) == []
