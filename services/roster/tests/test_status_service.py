"""The status column's projection of membership events, and the service through the broker."""

from __future__ import annotations

import base64
import uuid
from datetime import timedelta
from typing import Any

import aio_pika
import pytest
from ck_contracts.accounts import SchoolRegistered
from ck_contracts.membership import (
    EndReason,
    InvitationsSent,
    MembershipActivated,
    MembershipEnded,
    SentInvitation,
)
from ck_contracts.messaging import EVENTS_EXCHANGE
from ck_contracts.roles import Actor, Role
from ck_contracts.roster import ListRequest, Ops, PersonFields, RosterKind, UploadRequest
from ck_roster import store
from ck_roster.app import build, get_settings
from ck_roster.consumers import status_consumer
from ck_roster.tables import known_schools, people
from ck_runtime.db import Database
from ck_runtime.migrations import upgrade_async
from ck_runtime.rpc_client import RpcClient
from ck_runtime.service import ServiceRuntime
from ck_testkit import clocks, eventually, next_event, publish_event
from ck_testkit.rosters import student_xlsx
from sqlalchemy import select

SCHOOL = uuid.uuid4()
KIND = RosterKind.STUDENTS


@pytest.fixture
async def db(database_url: str):  # type: ignore[no-untyped-def]
    await upgrade_async("roster", database_url)
    database = Database(database_url)
    yield database
    await database.dispose()


async def one_person(db: Database) -> uuid.UUID:
    now = clocks.now()
    async with db.transaction() as session:
        await store.replace_roster(
            session,
            SCHOOL,
            RosterKind.STUDENTS,
            [
                PersonFields(
                    voornaam="A", achternaam="B", locatienaam="C", studiejaar=1, opleiding="D"
                )
            ],
            now,
        )
        return (await session.execute(select(people.c.id))).scalar_one()


async def state(db: Database, person_id: uuid.UUID) -> tuple[str, str]:
    async with db.read() as session:
        row = (
            await session.execute(
                select(people.c.status, people.c.activation_code).where(people.c.id == person_id)
            )
        ).one()
    return row.status, row.activation_code


def invited(pid: uuid.UUID, code: str) -> dict[str, Any]:
    sent = SentInvitation(person_id=pid, activation_code=code, mailed=True)
    return InvitationsSent(school_id=SCHOOL, kind=KIND, invitations=[sent]).envelope()


def activated(pid: uuid.UUID) -> dict[str, Any]:
    return MembershipActivated(
        school_id=SCHOOL, person_id=pid, kind=KIND, card_number="1234"
    ).envelope()


def ended(pid: uuid.UUID) -> dict[str, Any]:
    return MembershipEnded(
        school_id=SCHOOL, person_id=pid, kind=KIND, reason=EndReason.ENDED_BY_CJP
    ).envelope()


async def test_status_follows_membership_events(db: Database) -> None:
    consumer = status_consumer()
    pid = await one_person(db)
    assert await state(db, pid) == ("nieuw", "")
    await consumer.handle(invited(pid, "K3Y-1"), db)
    assert await state(db, pid) == ("uitnodiging_verzonden", "K3Y-1")
    await consumer.handle(activated(pid), db)
    assert await state(db, pid) == ("actief", "K3Y-1")
    # A late invitation does not undo the active membership, but shows the newest code.
    await consumer.handle(invited(pid, "K3Y-2"), db)
    assert await state(db, pid) == ("actief", "K3Y-2")
    await consumer.handle(ended(pid), db)
    assert await state(db, pid) == ("inactief", "K3Y-2")
    await consumer.handle(invited(pid, "K3Y-3"), db)
    assert await state(db, pid) == ("uitnodiging_verzonden", "K3Y-3")


async def test_events_about_removed_people_are_ignored(db: Database) -> None:
    consumer = status_consumer()
    pid = await one_person(db)
    ghost = uuid.uuid4()
    assert await consumer.handle(activated(ghost), db)
    assert await consumer.handle(invited(ghost, "X"), db)
    assert await state(db, pid) == ("nieuw", "")


def student_file(count: int) -> str:
    rows = [(f"Leerling {i}", f"achternaam{i}", "", "", "MBO", 1, "media") for i in range(count)]
    return base64.b64encode(student_xlsx(rows)).decode()


async def test_upload_list_and_status_through_the_broker(
    private_amqp_url: str, sqlite_url: str
) -> None:
    runtime = ServiceRuntime(
        build(get_settings(amqp_url=private_amqp_url, database_url=sqlite_url))
    )
    await runtime.start()
    client = RpcClient(private_amqp_url, timeout=20)
    await client.start()
    connection = await aio_pika.connect(private_amqp_url)
    try:
        channel = await connection.channel()
        watch = await channel.declare_queue(exclusive=True)
        await watch.bind(EVENTS_EXCHANGE, routing_key="roster.#")
        await publish_event(
            private_amqp_url, SchoolRegistered(school_id=SCHOOL, school_number=10289)
        )

        async def known() -> bool:
            async with runtime.db.read() as session:
                query = select(known_schools.c.school_id)
                return (await session.execute(query)).first() is not None

        assert await eventually(known)
        budget_holder = Actor(user_id=uuid.uuid4(), role=Role.BUDGET_HOLDER, school_id=SCHOOL)
        uploaded = await client.send(
            Ops.UPLOAD,
            UploadRequest(
                school_id=SCHOOL,
                kind=RosterKind.STUDENTS,
                filename="l.xlsx",
                content_b64=student_file(3),
                confirmed=True,
            ),
            actor=budget_holder,
        )
        assert uploaded.added == 3, uploaded
        announced = await next_event(watch)  # the new people's ids first, then the counts
        assert announced["type"] == "roster.people.added" and len(announced["person_ids"]) == 3
        message = await next_event(watch)
        assert message["type"] == "roster.roster.uploaded" and message["added"] == 3

        listed = await client.send(
            Ops.LIST,
            ListRequest(school_id=SCHOOL, kind=RosterKind.STUDENTS),
            actor=budget_holder,
        )
        pid = listed.items[0].person_id
        await publish_event(
            private_amqp_url,
            MembershipActivated(
                person_id=pid,
                school_id=SCHOOL,
                kind=KIND,
                card_number="1234",
                occurred_at=clocks.now() + timedelta(seconds=1),
            ),
        )

        async def active() -> bool:
            return (await state(runtime.db, pid))[0] == "actief"

        assert await eventually(active)
    finally:
        await connection.close()
        await client.stop()
        await runtime.stop()
