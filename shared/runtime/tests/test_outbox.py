"""Transactional outbox: written with the change, published with confirms, marked once."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence

import aio_pika
import pytest
from ck_contracts.accounts import SchoolRegistered
from ck_contracts.messaging import CORRELATION_HEADER
from ck_runtime.amqp import connect
from ck_runtime.logs import bind_correlation_id
from ck_runtime.outbox import OUTBOX, ConfirmingPublisher, OutboxRelay, add_to_outbox
from ck_testkit import declare, drain, migrated_database
from sqlalchemy import func, select


async def count_pending(db) -> int:  # type: ignore[no-untyped-def]
    async with db.read() as session:
        return int(
            (
                await session.execute(
                    select(func.count()).select_from(OUTBOX).where(OUTBOX.c.published_at.is_(None))
                )
            ).scalar_one()
        )


async def test_rolled_back_change_leaves_no_event(database_url: str) -> None:
    db = await migrated_database(database_url)
    with pytest.raises(RuntimeError):
        async with db.transaction() as session:
            await add_to_outbox(session, SchoolRegistered(school_id=uuid.uuid4(), school_number=1))
            raise RuntimeError("the change failed")
    assert await count_pending(db) == 0
    await db.dispose()


async def test_relay_publishes_with_confirms_and_marks_rows(
    database_url: str, private_amqp_url: str
) -> None:
    # A vhost of its own: services other tests of the session started consume the same
    # queue on the session's vhost and would take some of these messages first.
    amqp_url = private_amqp_url
    db = await migrated_database(database_url)
    await declare(amqp_url)
    bind_correlation_id("corr-123")
    events = [SchoolRegistered(school_id=uuid.uuid4(), school_number=20000 + i) for i in range(25)]
    async with db.transaction() as session:
        await add_to_outbox(session, *events)
    assert await count_pending(db) == 25

    connection = await connect(amqp_url, "test")
    relay = OutboxRelay(db, ConfirmingPublisher(connection), batch=10)
    published = 0
    while (n := await relay.publish_pending()) > 0:
        published += n
    assert published == 25
    assert await count_pending(db) == 0
    assert await relay.publish_pending() == 0  # nothing published twice

    messages = await drain(amqp_url, "roster.events.schools", expect=25)
    assert sorted(m.message_id for m in messages) == sorted(str(e.id) for e in events)
    first = messages[0]
    assert first.headers[CORRELATION_HEADER] == "corr-123"
    assert json.loads(first.body)["type"] == "accounts.school.registered"
    await connection.close()
    await db.dispose()


class BrokerDown:
    """The edge of this unit test: a publisher whose broker is gone."""

    async def publish(self, rows: Sequence[dict[str, object]]) -> None:
        raise aio_pika.exceptions.AMQPConnectionError("connection refused")


async def test_rows_wait_while_the_broker_is_down(sqlite_url: str) -> None:
    db = await migrated_database(sqlite_url)
    async with db.transaction() as session:
        await add_to_outbox(session, SchoolRegistered(school_id=uuid.uuid4(), school_number=7))
    relay = OutboxRelay(db, BrokerDown())
    with pytest.raises(aio_pika.exceptions.AMQPConnectionError):
        await relay.publish_pending()
    assert await count_pending(db) == 1
    await db.dispose()
