"""Retention (R-AVG-2) in the runtime: published outbox rows keep no body, the retention job
prunes the inbox and published outbox rows on the service's clock, errors hide bound
parameters, and deleted data leaves no trace in SQLite's files (main file, WAL, shm)."""

from __future__ import annotations

import json
import traceback
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from ck_contracts.notifier import EmailRequested, MailTemplate
from ck_runtime.amqp import connect
from ck_runtime.clock import ManualClock
from ck_runtime.db import Database, create_engine, erases_personal_data
from ck_runtime.inbox import claim_message
from ck_runtime.logs import bind_correlation_id
from ck_runtime.outbox import OUTBOX, ConfirmingPublisher, OutboxRelay, add_to_outbox
from ck_runtime.retention import INBOX, Retention, RetentionRule, runtime_rules
from ck_runtime.service import ServiceRuntime
from ck_runtime.settings import ServiceSettings, load_settings
from ck_testkit import declare, drain, eventually, migrated_database
from ck_testkit.clocks import MONDAY, installed
from ck_testkit.traces import sqlite_files, traces
from sqlalchemy import Integer, bindparam, delete, func, insert, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError

SERVICES = ("accounts", "roster", "membership", "budget", "invoicing", "weborders", "notifier")
NAME = "Zoë Brakkezwaan"
EMAIL = "zoe.brakkezwaan@retentie.test"


def mail(to: str = EMAIL, voornaam: str = NAME) -> EmailRequested:
    return EmailRequested(
        template=MailTemplate.INVITATION, to=to, context={"voornaam": voornaam, "link": "x"}
    )


async def outbox_rows(db: Database) -> list[Any]:
    async with db.read() as session:
        return (await session.execute(select(OUTBOX).order_by(OUTBOX.c.seq))).all()


async def count(db: Database, table: Any) -> int:
    async with db.read() as session:
        return int((await session.execute(select(func.count()).select_from(table))).scalar_one())


class Accepting:
    """A publisher the broker always confirms (the real one is tested with the broker below)."""

    async def publish(self, rows: Any) -> None:
        return None


# --- the outbox ----------------------------------------------------------------------------------
async def test_a_published_row_keeps_ids_and_times_but_no_body(
    database_url: str, private_amqp_url: str
) -> None:
    db = await migrated_database(database_url)
    await declare(private_amqp_url)
    bind_correlation_id("corr-retention")
    event = mail()
    async with db.transaction() as session:
        await add_to_outbox(session, event)
    (waiting,) = await outbox_rows(db)
    assert waiting.body["to"] == EMAIL  # until it is out, the event is all there

    connection = await connect(private_amqp_url, "test")
    try:
        assert await OutboxRelay(db, ConfirmingPublisher(connection)).publish_pending() == 1
    finally:
        await connection.close()
    (row,) = await outbox_rows(db)
    assert row.body == {}
    assert (row.id, row.routing_key, row.correlation_id) == (
        event.id,
        "notifier.email.requested",
        "corr-retention",
    )
    assert row.created_at is not None and row.published_at is not None
    # The broker got the whole event: only the copy kept here is blanked.
    (message,) = await drain(private_amqp_url, "notifier.events.email", expect=1)
    assert json.loads(message.body)["to"] == EMAIL
    await db.dispose()


# --- the job -------------------------------------------------------------------------------------
def settings(**overrides: Any) -> ServiceSettings:
    return load_settings(ServiceSettings, "roster", **overrides)


async def test_the_job_prunes_old_inbox_rows_and_published_outbox_rows_by_the_clock(
    database_url: str,
) -> None:
    clock = ManualClock(MONDAY)
    with installed(clock):  # event times, inbox claims and publication times follow it
        db = await migrated_database(database_url)
        relay = OutboxRelay(db, Accepting())
        async with db.transaction() as session:
            for i in range(8):  # more than a batch: the job takes several
                await claim_message(session, f"old-{i}", "roster.events.schools")
            await add_to_outbox(session, mail(), mail())
        await relay.publish_pending()  # published on day 0
        async with db.transaction() as session:
            await add_to_outbox(session, mail())  # never published (the broker is down)

        clock.advance(timedelta(days=6))
        async with db.transaction() as session:
            await claim_message(session, "recent", "roster.events.schools")
            await add_to_outbox(session, mail())
        async with db.transaction() as session:  # the day-6 row is published now
            await session.execute(
                update(OUTBOX)
                .where(OUTBOX.c.published_at.is_(None), OUTBOX.c.created_at > MONDAY)
                .values(published_at=clock.now(), body={})
            )
        job = Retention(db, clock, runtime_rules(settings()), batch=3)

        clock.set(MONDAY + timedelta(days=7) - timedelta(seconds=1))
        assert await job.run_once() == {
            "outbox.published": 0,
            "inbox": 0,
            "rpc_requests.expired": 0,
        }

        clock.set(MONDAY + timedelta(days=7))  # seven days after the first publication
        assert await job.run_once() == {
            "outbox.published": 2,
            "inbox": 0,
            "rpc_requests.expired": 0,
        }
        left = await outbox_rows(db)
        assert [r.published_at is None for r in left] == [True, False]  # waiting rows stay

        clock.set(MONDAY + timedelta(days=30))  # and 24 days after the second one
        assert await job.run_once() == {
            "outbox.published": 1,
            "inbox": 8,
            "rpc_requests.expired": 0,
        }
        async with db.read() as session:
            kept = (await session.execute(select(INBOX.c.message_id))).scalars().all()
        assert kept == ["recent"]
        assert [r.published_at is None for r in await outbox_rows(db)] == [True]
    await db.dispose()


async def test_windows_are_settings(sqlite_url: str) -> None:
    clock = ManualClock(MONDAY)
    with installed(clock):
        db = await migrated_database(sqlite_url)
        async with db.transaction() as session:
            await claim_message(session, "m", "c")
        job = Retention(db, clock, runtime_rules(settings(inbox_retention_days=2)))
        clock.advance(timedelta(days=2))
        assert (await job.run_once())["inbox"] == 1
    await db.dispose()
    with pytest.raises(ValueError, match="inbox_retention_days"):
        settings(inbox_retention_days=0.5)  # shorter than a redelivery may take


async def test_a_failing_rule_is_logged_and_the_others_still_run(sqlite_url: str) -> None:
    clock = ManualClock(MONDAY)
    with installed(clock):
        db = await migrated_database(sqlite_url)
        async with db.transaction() as session:
            await claim_message(session, "m", "c")

        async def broken(session: Any, now: Any, limit: int) -> int:
            raise RuntimeError("no such table")

        job = Retention(db, clock, [RetentionRule("broken", broken), *runtime_rules(settings())])
        clock.advance(timedelta(days=31))
        assert await job.run_once() == {
            "outbox.published": 0,
            "inbox": 1,
            "rpc_requests.expired": 0,
        }
    await db.dispose()


def test_every_service_runs_the_runtime_rules_and_its_own() -> None:
    """One job per process with the runtime's rules first; services add theirs, and a later
    feature can register its table's rule on the same list."""
    import importlib

    own = {
        "accounts": {"sessions.expired", "password_links.used", "login_throttle.stale"},
        "membership": {"activation_failures.stale"},
        "notifier": {"outgoing_mails.failed_content", "outgoing_mails.sent"},
    }
    for name in SERVICES:
        app = importlib.import_module(f"ck_{name}.app")
        runtime = ServiceRuntime(app.build())
        names = [rule.name for rule in runtime.retention.rules]
        assert names[:3] == ["outbox.published", "inbox", "rpc_requests.expired"], name
        assert own.get(name, set()) <= set(names), name

    async def expire(session: Any, now: Any, limit: int) -> int:
        return 0

    runtime.retention.add(RetentionRule("later.expired", expire))
    assert runtime.retention.rules[-1].name == "later.expired"
    with pytest.raises(ValueError, match="twice"):
        runtime.retention.add(RetentionRule("inbox", expire))


async def test_a_running_service_makes_a_pass_at_start(
    private_amqp_url: str, sqlite_url: str
) -> None:
    from ck_roster.app import build

    clock = ManualClock(MONDAY)
    service = build(
        load_settings(ServiceSettings, "roster", amqp_url=private_amqp_url, database_url=sqlite_url)
    )
    service.clock = clock
    runtime = ServiceRuntime(service)
    await runtime.start()
    try:
        async with runtime.db.transaction() as session:
            await claim_message(session, "handled-long-ago", "roster.events.schools")

        async def first_pass_done() -> bool:
            return runtime.retention.passes >= 1

        assert await eventually(first_pass_done)
        clock.advance(timedelta(days=30))
        assert (await runtime.retention.run_once())["inbox"] == 1
    finally:
        await runtime.stop()


# --- errors hide bound parameters ----------------------------------------------------------------
async def test_database_errors_carry_no_bound_parameters(database_url: str) -> None:
    db = await migrated_database(database_url)
    row = {"message_id": EMAIL, "consumer": NAME, "processed_at": MONDAY}
    async with db.transaction() as session:
        await session.execute(insert(INBOX).values(**row))
    with pytest.raises(IntegrityError) as failure:
        async with db.transaction() as session:
            await session.execute(insert(INBOX).values(**row))
    logged = "".join(traceback.format_exception(failure.value))  # what log.exception writes
    assert "parameters hidden" in logged
    assert EMAIL not in logged and "Brakkezwaan" not in logged
    await db.dispose()
    for null_pool in (False, True):  # the services' engines and the migrations' engine
        engine = create_engine(database_url, null_pool=null_pool)
        assert engine.sync_engine.hide_parameters
        await engine.dispose()


async def test_postgresql_row_values_in_errors_are_hidden_too(postgres_url: str) -> None:
    """PostgreSQL quotes row values in DETAIL and asyncpg the argument it could not encode:
    neither reaches a traceback."""
    db = await migrated_database(postgres_url, "budget")
    statements = [
        # a CHECK violation: DETAIL "Failing row contains (...)"
        text(
            "INSERT INTO balances (school_id, balance_cents, assignable_cents, updated_at) "
            "VALUES (:id, :balance, 0, now())"
        ).bindparams(id=uuid.uuid4(), balance=-987654321),
        # a value asyncpg cannot encode for an integer column
        text(
            "INSERT INTO known_schools (school_id, school_number, updated_at) "
            "VALUES (:id, :number, now())"
        ).bindparams(bindparam("number", EMAIL, type_=Integer), id=uuid.uuid4()),
    ]
    for statement in statements:
        with pytest.raises(DBAPIError) as failure:
            async with db.transaction() as session:
                await session.execute(statement)
        logged = "".join(traceback.format_exception(failure.value))
        assert "987654321" not in logged and "brakkezwaan" not in logged.lower(), logged
    await db.dispose()


# --- SQLite's files ------------------------------------------------------------------------------
def sqlite_db(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'service.sqlite3'}"


async def with_people(db: Database) -> None:
    """known_schools rows whose names are the marked person's, among rows that stay."""
    async with db.transaction() as session:
        for i in range(300):
            await session.execute(
                text(
                    "INSERT INTO known_schools (school_id, school_number, name, updated_at) "
                    "VALUES (:id, :number, :name, :at)"
                ),
                {
                    "id": uuid.uuid4().hex,
                    "number": 1000 + i,
                    "name": f"{NAME} {EMAIL} {i}" if i % 3 == 0 else f"School {i}",
                    "at": "2026-03-02 09:00:00",
                },
            )


async def remove_people(db: Database, scrub: bool) -> None:
    async with db.transaction() as session:
        await session.execute(text("DELETE FROM known_schools WHERE name LIKE 'Zo%'"))
        if scrub:
            erases_personal_data(session)


VALUES = {"name": "Brakkezwaan", "e-mail": EMAIL}


async def test_sqlite_connections_delete_securely_and_keep_the_wal_short(tmp_path: Path) -> None:
    db = await migrated_database(sqlite_db(tmp_path))
    async with db.engine.connect() as conn:
        assert (await conn.exec_driver_sql("PRAGMA secure_delete")).scalar() == 1
        assert (await conn.exec_driver_sql("PRAGMA journal_size_limit")).scalar() == 0
    await db.dispose()


async def test_an_erasing_transaction_leaves_no_trace_in_any_file(tmp_path: Path) -> None:
    db = await migrated_database(sqlite_db(tmp_path))
    await with_people(db)
    assert traces(sqlite_files(tmp_path), VALUES)  # the scan finds them while they exist
    await remove_people(db, scrub=True)
    assert traces(sqlite_files(tmp_path), VALUES) == {}
    assert (tmp_path / "service.sqlite3-wal").stat().st_size == 0
    assert await count(db, text("known_schools")) == 200
    await db.dispose()


async def test_without_the_scrub_the_wal_still_holds_deleted_rows(tmp_path: Path) -> None:
    """The control: secure_delete alone cleans the database file, not the WAL's old frames."""
    db = await migrated_database(sqlite_db(tmp_path))
    await with_people(db)
    await remove_people(db, scrub=False)
    found = traces(sqlite_files(tmp_path), VALUES)
    assert str(tmp_path / "service.sqlite3-wal") in found
    assert await db.scrub()
    assert traces(sqlite_files(tmp_path), VALUES) == {}
    await db.dispose()


async def test_a_retention_pass_scrubs_the_bodies_blanked_at_publication(tmp_path: Path) -> None:
    clock = ManualClock(MONDAY)
    with installed(clock):
        db = await migrated_database(sqlite_db(tmp_path))
        async with db.transaction() as session:
            await add_to_outbox(session, *(mail() for _ in range(50)))
        await OutboxRelay(db, Accepting()).publish_pending()
        assert {r.body == {} for r in await outbox_rows(db)} == {True}
        assert traces(sqlite_files(tmp_path), VALUES)  # in the WAL's older frames
        await Retention(db, clock, runtime_rules(settings())).run_once()
        assert traces(sqlite_files(tmp_path), VALUES) == {}
    await db.dispose()


async def test_a_failed_transaction_is_not_followed_by_a_scrub(tmp_path: Path) -> None:
    db = await migrated_database(sqlite_db(tmp_path))
    await with_people(db)
    with pytest.raises(RuntimeError):
        async with db.transaction() as session:
            erases_personal_data(session)
            await session.execute(delete(INBOX))
            raise RuntimeError("rolled back")
    assert traces(sqlite_files(tmp_path), VALUES)  # nothing was erased, nothing scrubbed
    await db.dispose()


async def test_the_migration_blanks_bodies_published_before_it(database_url: str) -> None:
    """Each service's retention migration (here the roster's, e88571c5b566): rows published
    before the relay blanked bodies lose theirs; rows still waiting keep them."""
    import asyncio

    from alembic import command
    from ck_runtime.migrations import alembic_config, upgrade_async

    config = alembic_config("roster", database_url)
    await asyncio.to_thread(command.upgrade, config, "25d530a53fa3")  # the revision before
    db = Database(database_url)
    published, waiting = mail(), mail()
    async with db.transaction() as session:
        for event, at in ((published, MONDAY), (waiting, None)):
            await session.execute(
                insert(OUTBOX).values(
                    id=event.id,
                    routing_key=event.routing_key,
                    body=event.envelope(),
                    created_at=MONDAY,
                    published_at=at,
                    attempts=0,
                )
            )
    await db.dispose()
    await upgrade_async("roster", database_url)
    db = Database(database_url)
    bodies = {r.id: r.body for r in await outbox_rows(db)}
    assert bodies[published.id] == {} and bodies[waiting.id]["to"] == EMAIL
    await db.dispose()
