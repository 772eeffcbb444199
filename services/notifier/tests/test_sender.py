"""The sender against real SMTP servers and the real databases, without the broker: reused
connections (one, and a pool), reconnecting, outages, refusals, erasure after sending, replay,
clean stop, and several senders on one PostgreSQL database."""

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
from ck_notifier.rendering import RenderedMail
from ck_notifier.sender import MailSender
from ck_notifier.settings import NotifierSettings
from ck_notifier.smtp_sink import SmtpSink, read_mails
from ck_notifier.store import Doorbell, add_mail, add_mails, mail_row, replay
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


async def _queue_many(db: Database, count: int) -> list[UUID]:
    """count mails in one batch insert, as the EmailsRequested consumer queues them."""
    now = utcnow()
    rows = [
        mail_row(
            mail_id=uuid4(),
            template="invitation",
            recipient=f"student{n}@school.example",
            rendered=RenderedMail(f"Uitnodiging {n}", f"Tekst {n}\n", f"<p>Tekst {n}</p>\n"),
            correlation_id=None,
            now=now,
        )
        for n in range(count)
    ]
    async with db.transaction() as session:
        await add_mails(session, rows)
    return [row["id"] for row in rows]


def _message_ids(mail_dir: Path) -> list[str]:
    return [m["Message-ID"] for m in read_mails(mail_dir)]


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
    assert await sender.send_due() == 3  # a pool of 4, but three mails need one connection
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


async def test_an_international_address_goes_out_with_smtputf8(
    db: Database, database_url: str, sink: SmtpSink, mail_dir: Path, smtp_port: int
) -> None:
    """Students' names are not all ASCII (yılmaz@...): RFC 6531 addresses are delivered."""
    await asyncio.to_thread(sink.start)
    sender = MailSender(db, _settings(database_url, smtp_port), Doorbell())
    ids = await _queue(db, "yılmaz.ali@school.example", "plain@school.example")
    assert await sender.send_due() == 2
    await sender.client.close()
    assert sorted(str(m["To"]) for m in read_mails(mail_dir)) == [
        "plain@school.example",
        "yılmaz.ali@school.example",
    ]
    assert [row["status"] for row in await _rows(db, ids)] == ["sent", "sent"]


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
    assert sender.client.connection_attempts == 1  # one attempt for the pass, not one per mail
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


async def test_a_big_batch_goes_over_a_pool_of_reused_connections(
    db: Database, database_url: str, sink: SmtpSink, mail_dir: Path, smtp_port: int
) -> None:
    await asyncio.to_thread(sink.start)
    settings = _settings(database_url, smtp_port, smtp_connections=4, batch_size=150)
    sender = MailSender(db, settings, Doorbell())
    ids = await _queue_many(db, 400)
    handled = []
    while passed := await sender.send_due():
        handled.append(passed)
    assert handled == [150, 150, 100]  # one read and one write per pass
    assert sender.client.connections_opened == 4  # opened by the first pass, then reused
    await sender.client.close()

    received = _message_ids(mail_dir)
    assert sorted(received) == sorted(f"<{i}@cjp.nl>" for i in ids)  # each exactly once
    rows = await _rows(db, ids)
    assert {(r["status"], r["attempts"]) for r in rows} == {("sent", 1)}
    assert {(r["recipient"], r["subject"], r["text_body"], r["html_body"]) for r in rows} == {
        (None, None, None, None)
    }


async def test_a_pool_during_an_outage_tries_one_connection_and_recovers(
    db: Database, database_url: str, sink: SmtpSink, mail_dir: Path, smtp_port: int
) -> None:
    settings = _settings(database_url, smtp_port, smtp_connections=4)
    sender = MailSender(db, settings, Doorbell())
    ids = await _queue_many(db, 120)
    assert await sender.send_due() == 120  # the sink is not running
    assert sender.client.connection_attempts == 1
    assert sender.client.connections_opened == 0
    rows = await _rows(db, ids)
    assert {(r["status"], r["attempts"]) for r in rows} == {("pending", 1)}
    assert all(r["last_error"].startswith("SMTPConnectError") for r in rows)
    assert all(r["recipient"] is not None for r in rows)  # still needed

    await asyncio.to_thread(sink.start)
    await asyncio.sleep(0.25)  # past the backoff
    assert await sender.send_due() == 120
    assert await sender.send_due() == 0
    await sender.client.close()
    assert sorted(_message_ids(mail_dir)) == sorted(f"<{i}@cjp.nl>" for i in ids)
    assert {(r["status"], r["attempts"]) for r in await _rows(db, ids)} == {("sent", 2)}


async def test_failed_mails_replayed_go_out_once(
    db: Database, database_url: str, sink: SmtpSink, mail_dir: Path, smtp_port: int
) -> None:
    settings = _settings(database_url, smtp_port, smtp_connections=4, max_attempts=1)
    sender = MailSender(db, settings, Doorbell())
    ids = await _queue_many(db, 60)
    assert await sender.send_due() == 60  # the sink is not running: the one try fails
    assert {r["status"] for r in await _rows(db, ids)} == {"failed"}
    assert await sender.send_due() == 0  # failed mails are not tried again by themselves

    await asyncio.to_thread(sink.start)
    async with db.transaction() as session:
        assert sorted(await replay(session, None, utcnow()), key=str) == sorted(ids, key=str)
    assert await sender.send_due() == 60
    assert await sender.send_due() == 0
    await sender.client.close()
    assert sorted(_message_ids(mail_dir)) == sorted(f"<{i}@cjp.nl>" for i in ids)
    assert {(r["status"], r["attempts"]) for r in await _rows(db, ids)} == {("sent", 1)}


async def test_refusals_in_a_batch_over_a_pool(
    db: Database, database_url: str, smtp_port: int
) -> None:
    handler = _Picky()
    controller = Controller(handler, hostname="127.0.0.1", port=smtp_port)
    await asyncio.to_thread(controller.start)
    try:
        settings = _settings(
            database_url,
            smtp_port,
            smtp_connections=4,
            max_attempts=5,
            retry_base_seconds=30,
            retry_max_seconds=60,
        )
        sender = MailSender(db, settings, Doorbell())
        # _Picky refuses weiger@ for good (550) and later@ for now (451).
        kinds = ("weiger@school.example", "later@school.example", "ok{n}@school.example")
        recipients = [kinds[n % 3].format(n=n) for n in range(90)]
        ids = await _queue(db, *recipients)
        assert await sender.send_due() == 90
        assert await sender.send_due() == 0  # the greylisted ones wait for their backoff
        assert sender.client.connections_opened == 4
        await sender.client.close()
    finally:
        await asyncio.to_thread(controller.stop)
    rows = await _rows(db, ids)
    by_kind: dict[str, set[tuple[str, int]]] = {}
    for recipient, row in zip(recipients, rows, strict=True):
        kind = recipient.split("@")[0].rstrip("0123456789")
        by_kind.setdefault(kind, set()).add((row["status"], row["attempts"]))
    assert by_kind == {"weiger": {("failed", 1)}, "later": {("pending", 1)}, "ok": {("sent", 1)}}
    assert sorted(handler.accepted) == sorted(r for r in recipients if r.startswith("ok"))
    # The refused and the waiting keep their address (a replay, the next try); the sent do not.
    assert all((row["recipient"] is None) == (row["status"] == "sent") for row in rows)


class _Slow:
    """Accepts every mail after a pause in DATA, and remembers the Message-IDs it accepted."""

    def __init__(self) -> None:
        self.accepted: list[str] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        await asyncio.sleep(0.2)
        content = envelope.original_content or b""
        for line in content.split(b"\r\n"):
            if line.lower().startswith(b"message-id:"):
                self.accepted.append(line.split(b":", 1)[1].strip().decode())
        return "250 OK"


async def test_shutdown_finishes_the_mails_in_flight_and_records_them(
    db: Database, database_url: str, smtp_port: int
) -> None:
    handler = _Slow()
    controller = Controller(handler, hostname="127.0.0.1", port=smtp_port)
    await asyncio.to_thread(controller.start)
    try:
        settings = _settings(database_url, smtp_port, smtp_connections=4)
        sender = MailSender(db, settings, Doorbell())
        ids = await _queue_many(db, 100)
        task = asyncio.create_task(sender.run())
        for _ in range(200):
            if handler.accepted:
                break
            await asyncio.sleep(0.02)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not sender.client.connected
    finally:
        await asyncio.to_thread(controller.stop)
    rows = await _rows(db, ids)
    sent = {f"<{r['id']}@cjp.nl>" for r in rows if r["status"] == "sent"}
    # Every mail the server accepted is recorded as sent (so a restart does not send it
    # again); the rest wait untouched, without a try counted.
    assert sent == set(handler.accepted)
    assert 0 < len(sent) < 100
    assert {(r["status"], r["attempts"]) for r in rows if r["status"] != "sent"} == {("pending", 0)}


async def test_two_senders_on_postgresql_never_take_the_same_mail(
    db: Database, database_url: str, sink: SmtpSink, mail_dir: Path, smtp_port: int
) -> None:
    if db.sqlite:
        pytest.skip("one sender per SQLite file; row locks are PostgreSQL's")
    await asyncio.to_thread(sink.start)
    settings = _settings(database_url, smtp_port, smtp_connections=2, batch_size=50)
    senders = [MailSender(db, settings, Doorbell()) for _ in range(3)]
    ids = await _queue_many(db, 400)

    async def drain(sender: MailSender) -> int:
        total = 0
        while passed := await sender.send_due():
            total += passed
        return total

    counts = await asyncio.gather(*(drain(s) for s in senders))
    for sender in senders:
        await sender.client.close()
    assert sum(counts) == 400
    assert sum(1 for c in counts if c) >= 2  # they did share the work
    received = _message_ids(mail_dir)
    assert len(received) == 400 and set(received) == {f"<{i}@cjp.nl>" for i in ids}
