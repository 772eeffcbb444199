"""Traces through the outbox (ck_runtime.tracing): the writer's trace context is kept with the
row, continued by the relay in the AMQP headers, and never published in or kept with the body.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from ck_contracts.accounts import SchoolRegistered
from ck_runtime import tracing
from ck_runtime.amqp import connect
from ck_runtime.outbox import OUTBOX, ConfirmingPublisher, OutboxRelay, add_to_outbox
from ck_testkit import declare, drain, migrated_database
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from sqlalchemy import select


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    tracing.install_for_tests(exporter)
    try:
        yield exporter
    finally:
        tracing.shutdown()


async def bodies(db: Any, event_id: uuid.UUID) -> dict[str, Any]:
    async with db.read() as session:
        row = (await session.execute(select(OUTBOX.c.body).where(OUTBOX.c.id == event_id))).one()
    return dict(row.body)


async def received(amqp_url: str, queue: str, message_id: str) -> Any:
    for _ in range(200):
        for message in await drain(amqp_url, queue, expect=1, deadline=5):
            if message.message_id == message_id:
                return message
    raise AssertionError("the event was not published")


async def test_tracing_off_keeps_nothing_and_starts_nothing(sqlite_url: str) -> None:
    assert not tracing.enabled() and tracing.tracer("roster") is None
    db = await migrated_database(sqlite_url)
    event = SchoolRegistered(school_id=uuid.uuid4(), school_number=31)
    async with db.transaction() as session:
        await add_to_outbox(session, event)
    assert tracing.OUTBOX_TRACE_KEY not in await bodies(db, event.id)
    headers: dict[str, Any] = {}
    tracing.inject(headers)
    assert headers == {}
    await db.dispose()


async def test_the_relay_continues_the_writers_trace(
    database_url: str, amqp_url: str, spans: InMemorySpanExporter
) -> None:
    db = await migrated_database(database_url)
    await declare(amqp_url)
    tracer = tracing.tracer("roster")
    assert tracer is not None
    event = SchoolRegistered(school_id=uuid.uuid4(), school_number=32)
    with tracer.start_as_current_span("the command") as writer:
        async with db.transaction() as session:
            await add_to_outbox(session, event)
    trace_id = format(writer.get_span_context().trace_id, "032x")
    kept = (await bodies(db, event.id))[tracing.OUTBOX_TRACE_KEY]
    assert trace_id in kept["traceparent"]

    connection = await connect(amqp_url, "test")
    relay = OutboxRelay(db, ConfirmingPublisher(connection, service="roster"))
    assert await relay.publish_pending() >= 1
    message = await received(amqp_url, "roster.events.schools", str(event.id))
    assert tracing.OUTBOX_TRACE_KEY not in json.loads(message.body)
    assert await bodies(db, event.id) == {}  # blanked with the rest of the body

    publish = [s for s in spans.get_finished_spans() if s.kind == SpanKind.PRODUCER]
    assert [s.name for s in publish] == ["accounts.school.registered publish"]
    assert publish[0].parent is not None
    assert publish[0].parent.span_id == writer.get_span_context().span_id
    # The consumer's parent is the publish span: its id is in the message's traceparent.
    assert publish[0].context is not None
    traceparent = str(message.headers["traceparent"])
    assert traceparent.split("-")[1:3] == [trace_id, format(publish[0].context.span_id, "016x")]
    await connection.close()
    await db.dispose()


async def test_statements_outside_a_span_start_no_trace(
    sqlite_url: str, spans: InMemorySpanExporter
) -> None:
    """The relay's polls, the retention job and health checks are not traced on their own."""
    from ck_runtime.db import Database

    await migrated_database(sqlite_url)
    db = Database(sqlite_url, service="roster")
    await db.ping()
    assert spans.get_finished_spans() == ()
    tracer = tracing.tracer("roster")
    assert tracer is not None
    with tracer.start_as_current_span("work"):
        await db.ping()
    names = [s.name for s in spans.get_finished_spans()]
    assert any(name.startswith("SELECT") for name in names) and "work" in names
    await db.dispose()


UNSAMPLED_PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"


async def test_a_statements_span_holds_the_sql_but_no_parameter(
    sqlite_url: str, spans: InMemorySpanExporter
) -> None:
    from ck_runtime.db import Database
    from sqlalchemy import text

    await migrated_database(sqlite_url)
    db = Database(sqlite_url, service="roster")
    tracer = tracing.tracer("roster")
    assert tracer is not None
    with tracer.start_as_current_span("work"):
        async with db.transaction() as session:
            await session.execute(text("SELECT :secret AS x"), {"secret": "Emma Jansen"})
    (statement,) = [s for s in spans.get_finished_spans() if s.name.startswith("SELECT")]
    attributes = dict(statement.attributes or {})
    assert attributes["db.system"] == "sqlite" and "SELECT ?" in str(attributes["db.statement"])
    assert "Emma Jansen" not in json.dumps(attributes)
    await db.dispose()


async def test_under_an_unsampled_parent_nothing_is_made_and_the_context_goes_on(
    sqlite_url: str, spans: InMemorySpanExporter
) -> None:
    """Parent-based sampling: a message whose sender was not sampled gets no span of its own,
    nor do its statements, RPC calls or outbox rows; what it sends on says "not sampled"."""
    from ck_runtime.db import Database

    await migrated_database(sqlite_url)
    db = Database(sqlite_url, service="roster")
    event = SchoolRegistered(school_id=uuid.uuid4(), school_number=33)
    headers = {"traceparent": UNSAMPLED_PARENT}
    with tracing.consume_span("roster", "handle", headers, SpanKind.CONSUMER) as span:
        assert span is None
        with tracing.client_span("roster", "call", SpanKind.CLIENT, {}) as client:
            assert client is None
        sent: dict[str, Any] = {}
        tracing.inject(sent)
        await db.ping()
        async with db.transaction() as session:
            await add_to_outbox(session, event)
    assert spans.get_finished_spans() == ()
    assert sent["traceparent"].startswith("00-4bf92f3577b34da6a3ce929d0e0e4736-")
    assert sent["traceparent"].endswith("-00")
    kept = (await bodies(db, event.id))[tracing.OUTBOX_TRACE_KEY]
    assert kept["traceparent"].endswith("-00")
    await db.dispose()
