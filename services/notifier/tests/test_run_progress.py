"""Issue 14: the notifier reports an invitation run's progress, counts only. Mails of a batch
with a run id carry it; every sending pass publishes one EmailsSent per run with the mails the
SMTP server accepted (and those given up), in the transaction that records them; invalid
addresses count as failed when the batch is queued. Real databases (SQLite and PostgreSQL) and
the real SMTP sink."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from ck_contracts.notifier import EmailsRequested, EmailsSent, MailItem, MailTemplate
from ck_notifier.consumers import emails_requested_handler
from ck_notifier.sender import MailSender
from ck_notifier.settings import NotifierSettings
from ck_notifier.smtp_sink import SmtpSink, read_mails
from ck_notifier.store import Doorbell
from ck_notifier.tables import outbox
from ck_runtime.clock import current_clock
from ck_runtime.db import Database
from ck_runtime.migrations import upgrade_async
from ck_runtime.settings import load_settings
from sqlalchemy import delete, select


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    await upgrade_async("notifier", database_url)
    database = Database(database_url)
    yield database
    await database.dispose()


def _item(n: int, to: str | None = None) -> MailItem:
    return MailItem(
        id=uuid4(),
        to=to or f"student{n}@school.example",
        context={
            "voornaam": f"S{n}",
            "school_name": "ROC",
            "link": "https://x.example/a",
            "code": "K",
        },
    )


async def _queue(db: Database, items: list[MailItem], run_id: UUID | None) -> None:
    event = EmailsRequested(
        school_id=uuid4(), template=MailTemplate.INVITATION, mails=items, run_id=run_id
    )
    async with db.transaction() as session:
        await emails_requested_handler(Doorbell(), current_clock())(event, session)


async def _progress(db: Database) -> list[dict[str, Any]]:
    """The EmailsSent events in the outbox (taken out, as the relay would)."""
    async with db.transaction() as session:
        rows = (
            await session.execute(
                select(outbox.c.body)
                .where(outbox.c.routing_key == EmailsSent.routing_key)
                .order_by(outbox.c.created_at)
            )
        ).all()
        await session.execute(delete(outbox))
    return [r.body if isinstance(r.body, dict) else json.loads(r.body) for r in rows]


async def test_each_pass_reports_its_runs_counts_without_addresses(
    db: Database, database_url: str, sink: SmtpSink, mail_dir: Path, smtp_port: int
) -> None:
    run_a, run_b = uuid4(), uuid4()
    bad = [_item(1000 + n, to=f"niet-geldig-{n}") for n in range(2)]
    await _queue(db, [_item(n) for n in range(250)] + bad, run_a)
    await _queue(db, [_item(500 + n) for n in range(30)], run_b)
    await _queue(db, [_item(900 + n) for n in range(5)], None)  # no run: no progress
    queued = await _progress(db)
    assert [(e["run_id"], e["sent"], e["failed"]) for e in queued] == [(str(run_a), 0, 2)]

    await asyncio.to_thread(sink.start)
    values: dict[str, object] = {
        "database_url": database_url,
        "smtp_port": smtp_port,
        "smtp_timeout_seconds": 5.0,
        "poll_seconds": 0.05,
        "batch_size": 100,
    }
    sender = MailSender(db, load_settings(NotifierSettings, "notifier", **values), Doorbell())
    sent: dict[str, int] = {str(run_a): 0, str(run_b): 0}
    passes = 0
    while await sender.send_due():
        passes += 1
        events = await _progress(db)
        runs = [e["run_id"] for e in events]
        assert len(runs) == len(set(runs))  # at most one per run per pass
        for e in events:
            assert set(e) >= {"run_id", "sent", "failed"}
            assert "@" not in json.dumps(e)  # counts only: no address
            assert e["failed"] == 0
            sent[e["run_id"]] += e["sent"]
    await sender.client.close()
    assert passes == 3  # 285 mails, 100 a pass
    assert sent == {str(run_a): 250, str(run_b): 30}
    assert len(read_mails(mail_dir)) == 285
