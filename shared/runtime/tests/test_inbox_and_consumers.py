"""Inbox de-duplication and event consumers, against the real broker and both databases."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from ck_contracts.accounts import SchoolRegistered, SchoolSettingsChanged
from ck_contracts.topology import queues_of
from ck_runtime.consumers import EventConsumer, PoisonMessage, retry_delay
from ck_runtime.errors import NotFound
from ck_runtime.inbox import INBOX, claim_message
from ck_runtime.known_schools import KNOWN_SCHOOLS, require_known_school
from ck_runtime.service import Service, ServiceRuntime
from ck_runtime.settings import ServiceSettings, load_settings
from ck_testkit import drain, eventually, migrated_database, publish_event, publish_raw
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession


async def test_claim_is_true_once_per_consumer(database_url: str) -> None:
    db = await migrated_database(database_url)
    async with db.transaction() as session:
        assert await claim_message(session, "m1", "a")
        assert not await claim_message(session, "m1", "a")
        assert await claim_message(session, "m1", "b")  # another consumer has its own record
    async with db.transaction() as session:
        assert not await claim_message(session, "m1", "a")
    await db.dispose()


async def test_consumer_applies_a_redelivered_event_once(database_url: str) -> None:
    db = await migrated_database(database_url)
    calls: list[uuid.UUID] = []

    async def handler(event: SchoolRegistered, session: AsyncSession) -> None:
        calls.append(event.school_id)

    queue = queues_of("roster")[0]
    consumer = EventConsumer(queue, {SchoolRegistered.routing_key: handler})
    event = SchoolRegistered(school_id=uuid.uuid4(), school_number=10001)
    assert await consumer.handle(event.envelope(), db)
    assert not await consumer.handle(event.envelope(), db)
    assert calls == [event.school_id]
    await db.dispose()


async def test_a_failing_handler_records_nothing(sqlite_url: str) -> None:
    db = await migrated_database(sqlite_url)

    async def broken(event: Any, session: AsyncSession) -> None:
        raise RuntimeError("boom")

    consumer = EventConsumer(queues_of("roster")[0], {SchoolRegistered.routing_key: broken})
    event = SchoolRegistered(school_id=uuid.uuid4(), school_number=10001)
    with pytest.raises(RuntimeError):
        await consumer.handle(event.envelope(), db)
    async with db.read() as session:
        assert (await session.execute(select(func.count()).select_from(INBOX))).scalar() == 0
    await db.dispose()


@pytest.mark.parametrize(
    "body",
    [["not", "an", "object"], {"type": "unknown.event"}, {"type": "accounts.school.registered"}],
)
async def test_undecodable_messages_are_poison(sqlite_url: str, body: Any) -> None:
    db = await migrated_database(sqlite_url)
    consumer = EventConsumer(queues_of("roster")[0], {})
    with pytest.raises(PoisonMessage):
        await consumer.handle(body, db)
    await db.dispose()


def test_retry_delay_grows_and_is_bounded() -> None:
    delays = [retry_delay(n) for n in range(10)]
    assert delays == sorted(delays)
    assert delays[0] > 0 and delays[-1] == 5.0


def roster(amqp_url: str, database_url: str, **extra: Any) -> ServiceRuntime:
    from ck_roster.app import build

    settings = load_settings(
        ServiceSettings, "roster", amqp_url=amqp_url, database_url=database_url, **extra
    )
    return ServiceRuntime(build(settings))


async def known_count(runtime: ServiceRuntime) -> int:
    async with runtime.db.read() as session:
        return int(
            (await session.execute(select(func.count()).select_from(KNOWN_SCHOOLS))).scalar_one()
        )


async def test_service_keeps_its_list_of_schools_from_events(
    database_url: str, amqp_url: str
) -> None:
    runtime = roster(amqp_url, database_url)
    await runtime.start()
    try:
        school = uuid.uuid4()
        registered = SchoolRegistered(school_id=school, school_number=10042)
        await publish_event(amqp_url, registered)
        await publish_event(amqp_url, registered)  # a redelivery
        changed = SchoolSettingsChanged(
            school_id=school, school_number=10042, duo_student_count=950
        )
        await publish_event(amqp_url, changed)

        async def updated() -> bool:
            async with runtime.db.read() as session:
                row = (await session.execute(select(KNOWN_SCHOOLS))).first()
                return row is not None and row.duo_student_count == 950

        assert await eventually(updated)
        assert await known_count(runtime) == 1
        async with runtime.db.read() as session:
            assert await require_known_school(session, school) == 10042
            with pytest.raises(NotFound):
                await require_known_school(session, uuid.uuid4())
    finally:
        await runtime.stop()


async def test_poison_and_failing_messages_reach_the_dead_letter_queue(
    sqlite_url: str, private_amqp_url: str
) -> None:
    from ck_roster.app import build

    # Its own vhost: the dead-letter queue and the count of attempts are this test's alone.
    amqp_url = private_amqp_url

    settings = load_settings(ServiceSettings, "roster", amqp_url=amqp_url, database_url=sqlite_url)
    attempts: list[int] = []

    async def always_fails(event: Any, session: AsyncSession) -> None:
        attempts.append(1)
        raise RuntimeError("cannot handle this one")

    failing = EventConsumer(
        queues_of("roster")[0],
        {
            SchoolRegistered.routing_key: always_fails,
            SchoolSettingsChanged.routing_key: always_fails,
        },
    )
    service: Service = build(settings)
    service.consumers = (failing,)
    runtime = ServiceRuntime(service)
    await runtime.start()
    try:
        await publish_raw(amqp_url, SchoolRegistered.routing_key, b"{not json")
        event = SchoolRegistered(school_id=uuid.uuid4(), school_number=1)
        await publish_event(amqp_url, event)
        dead = await drain(amqp_url, "roster.events.schools.dead-letter", expect=2, deadline=30)
        assert len(dead) == 2
        # The failing one was tried the queue's delivery limit (5) + 1 times, then parked.
        assert len(attempts) == 6
    finally:
        await runtime.stop()
