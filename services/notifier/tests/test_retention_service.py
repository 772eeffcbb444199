"""Retention in the notifier (R-AVG-2), on SQLite and PostgreSQL: a failed mail keeps its
address and text for the configured period and is then erased (still listed, no longer
replayable); rows of sent and erased mails go after the record period; pending mails are never
touched. On SQLite no copy of a sent mail's address stays in the files."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from ck_notifier import store
from ck_notifier.domain import AfterFailure
from ck_notifier.rendering import RenderedMail
from ck_notifier.retention import retention_rules
from ck_notifier.settings import get_settings
from ck_notifier.tables import MailStatus, outgoing_mails
from ck_runtime.clock import ManualClock
from ck_runtime.db import Database
from ck_runtime.migrations import upgrade_async
from ck_runtime.retention import Retention
from ck_testkit.clocks import MONDAY
from ck_testkit.traces import sqlite_files, traces
from sqlalchemy import select

ADDRESS = "femke.vanderplas@retentie.test"


def rendered(i: int) -> RenderedMail:
    return RenderedMail(
        subject=f"Uitnodiging voor Femke {i}",
        text=f"Beste Femke, mail {i} aan {ADDRESS}",
        html=f"<p>Beste Femke, mail {i}</p>",
    )


async def queue(db: Database, clock: ManualClock, count: int) -> list[uuid.UUID]:
    ids = [uuid.uuid4() for _ in range(count)]
    async with db.transaction() as session:
        await store.add_mails(
            session,
            [
                store.mail_row(
                    mail_id=mail_id,
                    template="invitation",
                    recipient=ADDRESS,
                    rendered=rendered(i),
                    correlation_id=None,
                    now=clock.now(),
                )
                for i, mail_id in enumerate(ids)
            ],
        )
    return ids


async def fail_for_good(db: Database, clock: ManualClock, mail_id: uuid.UUID) -> None:
    outcome = AfterFailure(MailStatus.FAILED, 8, clock.now())
    async with db.transaction() as session:
        await store.mark_failed_tries(
            session, [store.FailedTry(mail_id, outcome, "SMTPResponseException 550: [adres]")]
        )


async def rows(db: Database) -> dict[uuid.UUID, Any]:
    async with db.read() as session:
        return {r.id: r for r in (await session.execute(select(outgoing_mails))).all()}


@pytest.fixture
async def db(database_url: str):  # type: ignore[no-untyped-def]
    await upgrade_async("notifier", database_url)
    database = Database(database_url)
    yield database
    await database.dispose()


async def test_failed_mails_are_erased_after_the_period_and_records_go_later(
    db: Database,
) -> None:
    clock = ManualClock(MONDAY)
    settings = get_settings(failed_mail_retention_days=7, mail_record_retention_days=30)
    job = Retention(db, clock, retention_rules(settings), batch=2)
    sent, failed, pending, *others = await queue(db, clock, 5)
    async with db.transaction() as session:
        await store.mark_sent(session, [sent], clock.now())
    await fail_for_good(db, clock, failed)
    for mail_id in others:  # more failed mails than a batch
        await fail_for_good(db, clock, mail_id)
    async with db.transaction() as session:  # a mail that could never be sent
        await store.add_mails(
            session,
            [
                store.unsendable_row(
                    mail_id=uuid.uuid4(),
                    template="invitation",
                    error="invalid recipient address: never sent",
                    correlation_id=None,
                    now=clock.now(),
                )
            ],
        )

    clock.advance(timedelta(days=7) - timedelta(seconds=1))
    assert sum((await job.run_once()).values()) == 0
    assert (await rows(db))[failed].recipient == ADDRESS  # the operator may still replay it

    clock.advance(timedelta(seconds=1))
    assert (await job.run_once())["outgoing_mails.failed_content"] == 3
    now = await rows(db)
    for mail_id in (failed, *others):
        row = now[mail_id]
        assert row.status == MailStatus.FAILED
        assert (row.recipient, row.subject, row.text_body, row.html_body) == (None,) * 4
    assert now[pending].recipient == ADDRESS and now[pending].status == MailStatus.PENDING
    async with db.transaction() as session:
        listed = {m.id for m in await store.list_failed(session)}
        assert {failed, *others} <= listed  # still the operator's dead letter ...
        assert await store.replay(session, None, clock.now()) == []  # ... with nothing to send

    clock.set(MONDAY + timedelta(days=30))
    handled = await job.run_once()
    assert handled["outgoing_mails.sent"] == 1
    assert handled["outgoing_mails.failed"] == 4  # the erased ones and the unsendable one
    assert set(await rows(db)) == {pending}  # a mail waiting for its next try is never touched


async def test_the_periods_are_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFIER_FAILED_MAIL_RETENTION_DAYS", "2")
    monkeypatch.setenv("NOTIFIER_MAIL_RECORD_RETENTION_DAYS", "45")
    settings = get_settings()
    assert (settings.failed_mail_retention_days, settings.mail_record_retention_days) == (2, 45)
    with pytest.raises(ValueError):
        get_settings(mail_record_retention_days=0.5)  # below a redelivery's reach


async def test_a_sent_mail_leaves_no_copy_in_the_sqlite_files(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'notifier.sqlite3'}"
    await upgrade_async("notifier", url)
    db = Database(url)
    clock = ManualClock(MONDAY)
    ids = await queue(db, clock, 30)
    values = {"address": ADDRESS, "name": "Femke"}
    assert traces(sqlite_files(tmp_path), values)
    async with db.transaction() as session:
        await store.mark_sent(session, ids, clock.now())
    assert traces(sqlite_files(tmp_path), values) == {}
    await db.dispose()
