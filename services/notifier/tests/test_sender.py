"""The sender against real SMTP servers and the real databases, without the broker: one reused
connection, reconnecting, outages, refusals, erasure after sending, clean stop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from ck_contracts.messaging import utcnow
from ck_notifier.outgoing import Doorbell, add_mail
from ck_notifier.rendering import RenderedMail
from ck_notifier.sender import MailSender
from ck_notifier.settings import NotifierSettings
from ck_notifier.smtp_sink import SmtpSink, read_mails
from ck_notifier.tables import outgoing_mails
from ck_runtime.db import Database
from ck_runtime.migrations import upgrade_async
from ck_runtime.settings import load_settings
from sqlalchemy import select


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    await upgrade_async("notifier", database_url)
    database = Database(database_url)
    yield database
    await database.dispose()


def _settings(database_url: str, smtp_port: int, **overrides: object) -> NotifierSettings:
    values: dict[str, object] = {
        "database_url": database_url,
        "smtp_port": smtp_port,
        "smtp_timeout_seconds": 5.0,
        "retry_base_seconds": 0.05,
        "retry_max_seconds": 0.2,
        "poll_seconds": 0.05,
    }
    values.update(overrides)
    return load_settings(NotifierSettings, "notifier", **values)


async def _queue(db: Database, *recipients: str) -> list[UUID]:
    ids = [uuid4() for _ in recipients]
    async with db.transaction() as session:
        for mail_id, recipient in zip(ids, recipients, strict=True):
            await add_mail(
                session,
                mail_id=mail_id,
                template="welcome_budget_holder",
                recipient=recipient,
                rendered=RenderedMail(f"Onderwerp {mail_id}", "Tekst\n", "<p>Tekst</p>\n"),
                correlation_id=None,
                now=utcnow(),
            )
    return ids


async def _rows(db: Database, ids: list[UUID]) -> list[dict[str, Any]]:
    async with db.read() as session:
        result = await session.execute(select(outgoing_mails).where(outgoing_mails.c.id.in_(ids)))
        by_id = {row.id: dict(row._mapping) for row in result}
    return [by_id[i] for i in ids]


async def test_many_mails_go_over_one_connection(
    db: Database, database_url: str, sink: SmtpSink, mail_dir: Path, smtp_port: int
) -> None:
    await asyncio.to_thread(sink.start)
    sender = MailSender(db, _settings(database_url, smtp_port), Doorbell())
    ids = await _queue(db, "a@school.example", "b@school.example", "c@school.example")
    assert await sender.send_due() == 3
    ids += await _queue(db, "d@school.example")
    assert await sender.send_due() == 1
    assert sender.client.connections_opened == 1
    await sender.client.close()

    mails = read_mails(mail_dir)
    assert [m["To"] for m in mails] == [f"{c}@school.example" for c in "abcd"]
    assert [m["Message-ID"] for m in mails] == [f"<{i}@cjp.nl>" for i in ids]
    for row in await _rows(db, ids):
        assert row["status"] == "sent" and row["attempts"] == 1 and row["sent_at"] is not None
        # R-AVG-2: once the server has the mail, the notifier forgets address and text.
        assert (row["recipient"], row["subject"], row["text_body"], row["html_body"]) == (
            None,
            None,
            None,
            None,
        )
        assert row["template"] == "welcome_budget_holder"


async def test_reconnects_when_the_server_dropped_the_connection(
    db: Database, database_url: str, sink: SmtpSink, mail_dir: Path, smtp_port: int
) -> None:
    await asyncio.to_thread(sink.start)
    sender = MailSender(db, _settings(database_url, smtp_port), Doorbell())
    first = await _queue(db, "a@school.example")
    assert await sender.send_due() == 1
    await asyncio.to_thread(sink.stop)  # the server goes away, and with it our connection
    await asyncio.to_thread(sink.start)
    second = await _queue(db, "b@school.example")
    assert await sender.send_due() == 1
    await sender.client.close()
    (row,) = await _rows(db, second)
    assert (row["status"], row["attempts"]) == ("sent", 1)  # the reconnect cost no try
    assert sender.client.connections_opened == 2
    assert [m["Message-ID"] for m in read_mails(mail_dir)] == [
        f"<{first[0]}@cjp.nl>",
        f"<{second[0]}@cjp.nl>",
    ]


async def test_an_outage_counts_a_try_for_each_mail_and_they_wait(
    db: Database, database_url: str, sink: SmtpSink, mail_dir: Path, smtp_port: int
) -> None:
    sender = MailSender(db, _settings(database_url, smtp_port), Doorbell())
    ids = await _queue(db, "a@school.example", "b@school.example")
    before = utcnow()
    assert await sender.send_due() == 2  # the sink is not running
    assert sender.client.connections_opened == 0
    for row in await _rows(db, ids):
        assert (row["status"], row["attempts"]) == ("pending", 1)
        assert row["next_attempt_at"] > before
        assert row["last_error"].startswith("SMTPConnectError")
        assert row["recipient"] is not None  # still needed to send it later

    await asyncio.to_thread(sink.start)
    await asyncio.sleep(0.25)  # past the backoff (0.05 s, settings above)
    assert await sender.send_due() == 2
    await sender.client.close()
    assert [r["status"] for r in await _rows(db, ids)] == ["sent", "sent"]
    assert len(read_mails(mail_dir)) == 2


class _Picky:
    """A real SMTP server that refuses some recipients: 550 for weiger@, 451 for later@."""

    def __init__(self) -> None:
        self.accepted: list[str] = []

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address.startswith("weiger@"):
            return f"550 5.1.1 <{address}>: Recipient address rejected"
        if address.startswith("later@"):
            return "451 4.7.1 Greylisted, please try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.accepted.extend(envelope.rcpt_tos)
        return "250 OK"


async def test_refusals_fail_for_good_or_wait_and_the_connection_goes_on(
    db: Database, database_url: str, smtp_port: int
) -> None:
    handler = _Picky()
    controller = Controller(handler, hostname="127.0.0.1", port=smtp_port)
    await asyncio.to_thread(controller.start)
    try:
        # A long retry pause: the greylisted mail must not fall due again within this pass.
        settings = _settings(
            database_url, smtp_port, max_attempts=5, retry_base_seconds=30, retry_max_seconds=60
        )
        sender = MailSender(db, settings, Doorbell())
        ids = await _queue(db, "weiger@school.example", "later@school.example", "ok@school.example")
        assert await sender.send_due() == 3
        await sender.client.close()
    finally:
        await asyncio.to_thread(controller.stop)
    refused, greylisted, accepted = await _rows(db, ids)
    assert (refused["status"], refused["attempts"]) == ("failed", 1)  # 5xx: no use trying again
    assert refused["last_error"].startswith("SMTPRecipientsRefused 550")
    assert "@" not in refused["last_error"]  # the server echoed the address; we do not keep it
    assert refused["recipient"] == "weiger@school.example"  # kept for a replay
    assert (greylisted["status"], greylisted["attempts"]) == ("pending", 1)  # 4xx: later
    assert accepted["status"] == "sent"
    assert handler.accepted == ["ok@school.example"]
    assert sender.client.connections_opened == 1


async def test_run_answers_the_doorbell_and_stops_cleanly_when_cancelled(
    db: Database, database_url: str, sink: SmtpSink, mail_dir: Path, smtp_port: int
) -> None:
    await asyncio.to_thread(sink.start)
    doorbell = Doorbell()
    # A long poll: only the doorbell can make it send promptly.
    sender = MailSender(db, _settings(database_url, smtp_port, poll_seconds=60), doorbell)
    task = asyncio.create_task(sender.run())
    await asyncio.sleep(0.1)  # let it go idle
    (mail_id,) = await _queue(db, "a@school.example")
    doorbell.ring()
    for _ in range(400):
        if read_mails(mail_dir):
            break
        await asyncio.sleep(0.05)
    assert [m["Message-ID"] for m in read_mails(mail_dir)] == [f"<{mail_id}@cjp.nl>"]
    assert sender.client.connected
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not sender.client.connected  # QUIT on the way out
