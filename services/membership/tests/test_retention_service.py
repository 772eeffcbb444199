"""Retention in the membership service (R-AVG-2): stale activation-throttle rows go with the
retention job (SQLite and PostgreSQL); a person who leaves the roster leaves nothing in the
service's SQLite files: no name, address, birth date or card number, after the activation's
events were published and the removal handled."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from pathlib import Path

from ck_contracts.membership import InvitationsRequested, Invitee, Ops
from ck_contracts.roster import PersonRemoved, RosterKind
from ck_contracts.rpc import RpcRequest
from ck_membership.consumers import roster_consumer
from ck_membership.ops import router
from ck_membership.settings import get_settings
from ck_membership.store import retention_rules
from ck_membership.tables import activation_failures, memberships, outbox
from ck_runtime.amqp import connect
from ck_runtime.clock import ManualClock, current_clock
from ck_runtime.db import Database
from ck_runtime.migrations import upgrade_async
from ck_runtime.outbox import ConfirmingPublisher, OutboxRelay
from ck_runtime.retention import Retention
from ck_testkit import declare
from ck_testkit.clocks import MONDAY, installed
from ck_testkit.traces import sqlite_files, traces
from sqlalchemy import func, insert, select

PORTAL = "https://portal.example"
SCHOOL = uuid.UUID("00000000-0000-4000-8000-0000000000aa")


async def test_stale_activation_throttle_rows_go(database_url: str) -> None:
    await upgrade_async("membership", database_url)
    db = Database(database_url)
    clock = ManualClock(MONDAY)
    async with db.transaction() as session:
        await session.execute(
            insert(activation_failures),
            [
                {"bucket": "address:old", "window_start": MONDAY, "failures": 10},
                {
                    "bucket": "address:new",
                    "window_start": MONDAY + timedelta(minutes=10),
                    "failures": 1,
                },
            ],
        )
    job = Retention(db, clock, retention_rules())
    clock.advance(timedelta(minutes=15))
    assert (await job.run_once())["activation_failures.stale"] == 1
    async with db.read() as session:
        left = (await session.execute(select(activation_failures.c.bucket))).scalars().all()
    assert left == ["address:new"]
    await db.dispose()


async def test_a_removed_member_leaves_nothing_in_the_files(
    tmp_path: Path, private_amqp_url: str
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'membership.sqlite3'}"
    await upgrade_async("membership", url)
    db = Database(url)
    await declare(private_amqp_url)
    connection = await connect(private_amqp_url, "test")
    relay = OutboxRelay(db, ConfirmingPublisher(connection))
    person = uuid.uuid4()
    details = {
        "voornaam": "Quirijn",
        "achternaam": "Hoogstraten-Wolkenveld",
        "email": "quirijn.hw@retentie.test",
        "geboortedatum": date(2004, 2, 29).isoformat(),
    }
    try:
        with installed(ManualClock(MONDAY)):
            invite = InvitationsRequested(
                school_id=SCHOOL,
                request_id=uuid.uuid4(),
                kind=RosterKind.STUDENTS,
                school_name="Retentie College",
                school_number=10400,
                people=[Invitee(person_id=person, email=details["email"], voornaam="Quirijn")],
            )
            consumer = roster_consumer(PORTAL, current_clock())
            assert await consumer.handle(invite.envelope(), db)
            async with db.read() as session:
                body = (await session.execute(select(outbox.c.body))).scalars().all()
            code = next(b for b in body if b["type"] == "membership.invitations.sent")
            code = code["invitations"][0]["activation_code"]
            payload = {"code": code, "client": "c", **details}
            request = RpcRequest(op=Ops.ACTIVATE.name, payload=payload)
            reply = await router.dispatch(request, db, get_settings(portal_url=PORTAL))
            assert reply["ok"], reply
            card = reply["result"]["card_number"]
            while await relay.publish_pending():
                pass  # the invitation mail, the activation and its confirmation mail are out
            values = {**details, "card number": card}
            assert traces(sqlite_files(tmp_path), values)  # the member's row holds them

            removed = PersonRemoved(school_id=SCHOOL, person_id=person, kind=RosterKind.STUDENTS)
            assert await consumer.handle(removed.envelope(), db)
            while await relay.publish_pending():
                pass
        assert traces(sqlite_files(tmp_path), values) == {}
        async with db.read() as session:
            row = (await session.execute(select(memberships))).one()
            waiting = await session.execute(
                select(func.count()).where(outbox.c.published_at.is_(None))
            )
        assert waiting.scalar_one() == 0
        assert row.status == "ended" and row.card_number is None and row.email is None
    finally:
        await connection.close()
        await db.dispose()


async def test_the_migration_erases_card_numbers_of_people_removed_before_it(
    database_url: str,
) -> None:
    """5f216364f315: memberships removed from the roster before this change lose their card
    number; active members keep theirs."""
    import asyncio

    from alembic import command
    from ck_runtime.migrations import alembic_config

    config = alembic_config("membership", database_url)
    await asyncio.to_thread(command.upgrade, config, "b3441e298a8c")  # the revision before
    db = Database(database_url)
    rows = [
        # erased at removal, the number kept (as the code before this change did)
        {"end_reason": "removed_from_roster", "voornaam": None, "card_number": "1000000000009"},
        {"end_reason": None, "voornaam": "Anna", "card_number": "1000000000017"},
    ]
    async with db.transaction() as session:
        for row in rows:
            await session.execute(
                insert(memberships).values(
                    person_id=uuid.uuid4(),
                    school_id=SCHOOL,
                    kind="students",
                    status="ended" if row["end_reason"] else "active",
                    invitation_id=uuid.uuid4(),
                    activated_at=MONDAY,
                    **row,
                )
            )
    await db.dispose()
    await upgrade_async("membership", database_url)
    db = Database(database_url)
    async with db.read() as session:
        numbers = {
            r.voornaam: r.card_number
            for r in await session.execute(
                select(memberships.c.voornaam, memberships.c.card_number)
            )
        }
    assert numbers == {None: None, "Anna": "1000000000017"}
    await db.dispose()
