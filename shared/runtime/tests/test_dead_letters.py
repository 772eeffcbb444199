"""Dead letters of a real service (roster) on a virtual host of the test's own: poison goes to
the dead-letter queue at once, a failing handler after its tries; list and replay."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import pytest
from ck_contracts.accounts import SchoolRegistered, SchoolSettingsChanged
from ck_contracts.messaging import dead_letter_queue
from ck_contracts.topology import queues_of
from ck_runtime import dead_letters
from ck_runtime.consumers import EventConsumer
from ck_runtime.known_schools import KNOWN_SCHOOLS
from ck_runtime.service import Service, ServiceRuntime
from ck_runtime.settings import ServiceSettings, load_settings
from ck_testkit import eventually, publish_event, publish_raw
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

QUEUE = "roster.events.schools"
DEAD = dead_letter_queue(QUEUE)


def roster_service(amqp_url: str, database_url: str) -> Service:
    from ck_roster.app import build

    # Two deliveries before a failing handler's event is dead-lettered: the test is quicker,
    # and poison must still go after one.
    settings = load_settings(
        ServiceSettings, "roster", amqp_url=amqp_url, database_url=database_url, delivery_limit=1
    )
    return build(settings)


def roster(amqp_url: str, database_url: str) -> ServiceRuntime:
    return ServiceRuntime(roster_service(amqp_url, database_url))


@pytest.fixture
async def connection(private_amqp_url: str) -> AsyncIterator[aio_pika.abc.AbstractConnection]:
    connection = await aio_pika.connect(private_amqp_url)
    async with connection:
        yield connection


async def dead_count(connection: aio_pika.abc.AbstractConnection) -> int:
    return (await dead_letters.count(connection, DEAD)) or 0


async def test_poison_is_dead_lettered_at_once_and_listed_without_its_body(
    private_amqp_url: str, sqlite_url: str, connection: aio_pika.abc.AbstractConnection
) -> None:
    runtime = roster(private_amqp_url, sqlite_url)
    await runtime.start()
    try:
        unknown = {"id": str(uuid.uuid4()), "type": "accounts.unknown.thing", "version": 1}
        await publish_raw(private_amqp_url, SchoolRegistered.routing_key, b"{not json")
        await publish_raw(private_amqp_url, SchoolRegistered.routing_key, b"\xff\xfe")
        await publish_raw(private_amqp_url, SchoolRegistered.routing_key, ["a", "list"])
        await publish_raw(
            private_amqp_url, SchoolSettingsChanged.routing_key, unknown, message_id=unknown["id"]
        )

        async def all_dead() -> bool:
            return await dead_count(connection) == 4

        assert await eventually(all_dead, deadline=30)
    finally:
        await runtime.stop()

    # Straight from the first delivery: rejected, not redelivered until the delivery limit.
    channel = await connection.channel()
    queue = await channel.get_queue(DEAD, ensure=False)
    raw = []
    while (message := await queue.get(no_ack=False, fail=False)) is not None:
        raw.append(message)
    for message in raw:
        headers = message.headers
        assert headers["x-first-death-reason"] == "rejected"
        (death,) = headers["x-death"]
        assert death["count"] == 1 and death["queue"] == QUEUE
        assert not headers.get("x-delivery-count")  # the quorum queue delivered it once
    await channel.close()  # all of them back in the queue, a moment later

    async def back() -> bool:
        return await dead_count(connection) == 4

    assert await eventually(back)

    listing = await dead_letters.inspect(connection, DEAD)
    assert listing.count == 4
    assert [m.routing_key for m in listing.messages] == [
        SchoolRegistered.routing_key,
        SchoolRegistered.routing_key,
        SchoolRegistered.routing_key,
        SchoolSettingsChanged.routing_key,
    ]
    assert {m.reason for m in listing.messages} == {"rejected"}
    assert {m.queue for m in listing.messages} == {QUEUE}
    assert listing.messages[3].id == unknown["id"]
    assert all(m.id for m in listing.messages)  # aio-pika gives every message an id
    assert all(m.died_at is not None for m in listing.messages)
    # Listing takes nothing away, and listing again gives the same.
    assert await dead_letters.inspect(connection, DEAD) == listing


async def test_a_failing_event_is_dead_lettered_after_its_tries_and_replayed_once(
    private_amqp_url: str, sqlite_url: str, connection: aio_pika.abc.AbstractConnection
) -> None:
    tries: list[uuid.UUID] = []
    broken = True
    service = roster_service(private_amqp_url, sqlite_url)
    (schools,) = [c for c in service.consumers if c.name == QUEUE]
    real = schools.handlers[SchoolRegistered.routing_key]

    async def fails_until_fixed(event: Any, session: AsyncSession) -> None:
        tries.append(event.id)
        if broken:
            raise RuntimeError("a bug, fixed by the next release")
        await real(event, session)

    handlers = {**schools.handlers, SchoolRegistered.routing_key: fails_until_fixed}
    service.consumers = [
        EventConsumer(c.queue, handlers) if c is schools else c for c in service.consumers
    ]
    runtime = ServiceRuntime(service)
    await runtime.start()
    try:
        event = SchoolRegistered(school_id=uuid.uuid4(), school_number=10077)
        await publish_event(private_amqp_url, event)

        async def dead() -> bool:
            return await dead_count(connection) == 1

        assert await eventually(dead, deadline=30)
        assert len(tries) == 2  # the delivery limit (1) + 1, with a pause between
        (listed,) = (await dead_letters.inspect(connection, DEAD)).messages
        assert listed.id == str(event.id)
        assert listed.reason == "delivery_limit"

        broken = False  # the release with the fix
        first = await dead_letters.replay(connection, QUEUE, [str(event.id), "no-such-id"])
        assert first.ids == [str(event.id)] and first.missing == ["no-such-id"]

        async def known() -> bool:
            async with runtime.db.read() as session:
                count = (
                    await session.execute(select(func.count()).select_from(KNOWN_SCHOOLS))
                ).scalar_one()
            return bool(count == 1)

        assert await eventually(known, deadline=30)
        assert await dead_count(connection) == 0
        # The same event once more (a replay that crashed before its ack, run again): the
        # inbox drops it.
        await publish_event(private_amqp_url, event)
        handled = len(tries)

        async def seen_again() -> bool:
            return len(tries) > handled or await dead_count(connection) > 0

        await eventually(seen_again, deadline=5)
        assert await dead_count(connection) == 0
        async with runtime.db.read() as session:
            rows = (await session.execute(select(KNOWN_SCHOOLS))).all()
        assert [r.school_id for r in rows] == [event.school_id]
        assert (await dead_letters.replay(connection, DEAD, None)).ids == []
    finally:
        await runtime.stop()


async def test_replay_all_puts_back_what_was_there(
    private_amqp_url: str, connection: aio_pika.abc.AbstractConnection
) -> None:
    from ck_testkit import declare

    await declare(private_amqp_url)
    channel = await connection.channel()
    dlx = await channel.get_exchange("cultuurkaart.dead-letter")
    for n in range(3):
        await dlx.publish(
            aio_pika.Message(json.dumps({"n": n}).encode(), message_id=f"m{n}"),
            routing_key=QUEUE,
        )
    replayed = await dead_letters.replay(connection, DEAD, None)
    assert replayed.ids == ["m0", "m1", "m2"]
    assert await dead_count(connection) == 0
    back = await channel.get_queue(QUEUE, ensure=False)
    got = []
    while (message := await back.get(no_ack=True, fail=False)) is not None:
        got.append(message)
    assert [m.message_id for m in got] == ["m0", "m1", "m2"]
    assert got[0].headers[dead_letters.REPLAYED_HEADER] == DEAD


def test_queue_names() -> None:
    assert dead_letters.dead_letter_queues("roster") == [
        dead_letter_queue(q.name) for q in queues_of("roster")
    ]
    assert dead_letters.resolve(QUEUE) == DEAD == dead_letters.resolve(DEAD)
    with pytest.raises(dead_letters.UnknownQueue):
        dead_letters.resolve("roster.rpc")
    with pytest.raises(dead_letters.UnknownQueue):
        dead_letters.dead_letter_queues("nobody")
