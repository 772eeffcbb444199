"""EmailsRequested: a whole batch of mails in one transaction, never a mail twice, one bad
address spoils nothing but its own mail. Real databases (SQLite and PostgreSQL), and through
the real broker to the real SMTP sink."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from ck_contracts.messaging import utcnow
from ck_contracts.notifier import EmailsRequested, MailItem, MailTemplate
from ck_notifier.consumers import INVALID_RECIPIENT, emails_requested_handler
from ck_notifier.rendering import MissingContext
from ck_notifier.smtp_sink import SmtpSink, read_mails
from ck_notifier.store import Doorbell, list_failed, replay
from ck_notifier.tables import outgoing_mails
from ck_runtime.clock import SystemClock
from ck_runtime.db import Database
from ck_runtime.migrations import upgrade_async
from ck_testkit import eventually
from sqlalchemy import select
from structlog.testing import capture_logs

SCHOOL = "ROC <Zuid> & Co"


def _item(n: int, **changes: Any) -> MailItem:
    values: dict[str, Any] = {
        "id": uuid4(),
        "to": f"student{n}@roc-zuid.example",
        "context": {
            "voornaam": f"Student{n}",
            "school_name": SCHOOL,
            "link": f"https://portaal.example/activeren?code=K{n:09d}",
            "code": f"K{n:09d}",
        },
    }
    values.update(changes)
    return MailItem(**values)


def _batch(items: list[MailItem]) -> EmailsRequested:
    return EmailsRequested(
        school_id=uuid4(), template=MailTemplate.INVITATION, mails=items, correlation_id="c1"
    )


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    await upgrade_async("notifier", database_url)
    database = Database(database_url)
    yield database
    await database.dispose()


async def _rows(db: Database, ids: list[UUID]) -> dict[UUID, dict[str, Any]]:
    async with db.read() as session:
        result = await session.execute(select(outgoing_mails).where(outgoing_mails.c.id.in_(ids)))
        return {row.id: dict(row._mapping) for row in result}


async def _all_sent(db: Database, ids: list[UUID]) -> bool:
    rows = await _rows(db, ids)
    return len(rows) == len(ids) and all(r["status"] == "sent" for r in rows.values())


async def _handle(db: Database, event: EmailsRequested) -> Doorbell:
    doorbell = Doorbell()
    async with db.transaction() as session:
        await emails_requested_handler(doorbell, SystemClock())(event, session)
    return doorbell


async def test_a_batch_is_queued_at_once_and_a_repeat_adds_nothing(db: Database) -> None:
    items = [_item(n) for n in range(300)]
    ids = [item.id for item in items]
    doorbell = await _handle(db, _batch(items))
    assert doorbell._event.is_set()  # the sender is woken after the commit
    rows = await _rows(db, ids)
    assert len(rows) == 300
    first = rows[ids[7]]
    assert (first["status"], first["attempts"], first["template"]) == ("pending", 0, "invitation")
    assert first["recipient"] == "student7@roc-zuid.example"
    assert "Beste Student7," in first["text_body"] and "K000000007" in first["text_body"]
    assert "ROC &lt;Zuid&gt; &amp; Co" in first["html_body"]
    assert first["correlation_id"] == "c1"

    # The same mails again under another event id (published twice, or replayed from the dead
    # letter), some of them with other content: nothing is added or changed.
    again = [_item(n, id=item.id, to="ander@school.example") for n, item in enumerate(items)]
    await _handle(db, _batch([*again[:150], _item(999)]))
    rows_after = await _rows(db, ids)
    assert rows_after == rows
    async with db.read() as session:
        total = len((await session.execute(select(outgoing_mails.c.id))).all())
    assert total == 301


async def test_a_bad_address_fails_its_own_mail_only(db: Database) -> None:
    good, bad, also_good = _item(1), _item(2, to="student2-at-roc-zuid"), _item(3)
    with capture_logs() as logs:
        await _handle(db, _batch([good, bad, also_good]))
    rows = await _rows(db, [good.id, bad.id, also_good.id])
    assert rows[good.id]["status"] == rows[also_good.id]["status"] == "pending"
    failed = rows[bad.id]
    assert (failed["status"], failed["attempts"], failed["last_error"]) == (
        "failed",
        0,
        INVALID_RECIPIENT,
    )
    # Nothing of the person is kept for a mail that can never be sent.
    assert failed["recipient"] is None and failed["text_body"] is None
    (warning,) = [e for e in logs if e["event"] == "mail.invalid_recipient"]
    assert warning["mail_id"] == str(bad.id)
    assert "student2" not in repr(logs)  # no address, no name in any log line

    # The operator sees it among the failed mails, but a replay cannot revive it.
    async with db.transaction() as session:
        assert [m.id for m in await list_failed(session)] == [bad.id]
        assert await replay(session, None, utcnow()) == []


async def test_a_missing_context_key_poisons_the_whole_batch(db: Database) -> None:
    broken = _item(2, context={"voornaam": "X", "school_name": SCHOOL, "link": "https://x"})
    items = [_item(1), broken]
    with pytest.raises(MissingContext) as raised:
        await _handle(db, _batch(items))
    assert "code" in str(raised.value) and "X" not in str(raised.value)
    assert await _rows(db, [i.id for i in items]) == {}


async def test_batches_through_the_broker_arrive_once_each(
    start_notifier: Any, publish: Any, sink: SmtpSink, mail_dir: Path
) -> None:
    await asyncio.to_thread(sink.start)
    runtime = await start_notifier(prefetch=1)
    items = [_item(n) for n in range(120)]
    bad = _item(999, to="geen adres")
    first = _batch([*items[:60], bad])
    second = _batch(items[60:])
    await publish(first)
    await publish(second)
    await publish(first)  # redelivered: the inbox
    await publish(_batch(items[:30]))  # the same mails in a new event: the mail ids
    marker = _batch([_item(1000)])
    await publish(marker)
    ids = [item.id for item in [*items, marker.mails[0]]]
    assert await eventually(lambda: _all_sent(runtime.db, ids), deadline=60)

    received = [m["Message-ID"] for m in await asyncio.to_thread(read_mails, mail_dir)]
    expected = {f"<{item.id}@cjp.nl>" for item in [*items, marker.mails[0]]}
    assert sorted(received) == sorted(expected)  # each once; none for the bad address
    assert (await _rows(runtime.db, [bad.id]))[bad.id]["status"] == "failed"
    mail = next(
        m
        for m in await asyncio.to_thread(read_mails, mail_dir)
        if m["Message-ID"] == f"<{items[5].id}@cjp.nl>"
    )
    assert mail["To"] == "student5@roc-zuid.example"
    assert mail["Subject"] == f"Je uitnodiging voor de MBO Cultuurkaart van {SCHOOL}"
    text = mail.get_body(("plain",))
    assert text is not None and "Je activatiecode is: K000000005" in text.get_content()
