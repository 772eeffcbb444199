"""Transactional outbox: events are written in the same transaction as the change they report,
then a relay publishes them with publisher confirms and marks them published.

No event is lost while the broker is down (the rows wait), and none is published for a change
that rolled back (the rows never existed). A crash between the broker's confirm and the mark
can publish a row twice: consumers de-duplicate by event id (see inbox.py). Once published a
row keeps no body (R-AVG-2), and the retention job (retention.py) deletes it after a while.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Sequence
from typing import Any, Protocol

import aio_pika
from ck_contracts.messaging import (
    CORRELATION_HEADER,
    EVENT_TYPE_HEADER,
    EVENTS_EXCHANGE,
    Event,
)
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind, Tracer, set_span_in_context
from sqlalchemy import MetaData, Select, select, update
from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncSession

from ck_runtime import json_codec, metrics, tracing
from ck_runtime.clock import current_clock
from ck_runtime.db import Database
from ck_runtime.logs import current_correlation_id, get_logger
from ck_runtime.tables import add_runtime_tables

log = get_logger(__name__)
OUTBOX, _ = add_runtime_tables(MetaData())
# What a published row keeps of its event: nothing (see OutboxRelay._mark).
PUBLISHED_BODY: dict[str, object] = {}


# Every running relay of this process, so a commit that added events wakes them at once
# instead of on their next poll. Each relay's event belongs to its own loop (a test may run
# services on several loops in several threads), so it is set through that loop.
_relays: weakref.WeakSet[OutboxRelay] = weakref.WeakSet()


def _after_commit(_session: object) -> None:
    for relay in list(_relays):
        relay.wake()


async def add_to_outbox(session: AsyncSession, *events: Event) -> None:
    """Record events in the caller's transaction."""
    now = current_clock().now()
    correlation = current_correlation_id()
    # The writer's trace (W3C headers), kept with the row until the relay publishes it.
    trace_context = tracing.current_context_carrier()
    rows = []
    for ev in events:
        if ev.correlation_id is None and correlation is not None:
            ev = ev.model_copy(update={"correlation_id": correlation})
        body = ev.envelope()
        if trace_context is not None:
            body[tracing.OUTBOX_TRACE_KEY] = trace_context
        rows.append(
            {
                "id": ev.id,
                "routing_key": ev.routing_key,
                "body": body,
                "correlation_id": ev.correlation_id,
                "created_at": now,
                "attempts": 0,
            }
        )
    await session.execute(OUTBOX.insert(), rows)
    if not sa_event.contains(session.sync_session, "after_commit", _after_commit):
        sa_event.listen(session.sync_session, "after_commit", _after_commit, once=True)


class Publisher(Protocol):
    async def publish(self, rows: Sequence[dict[str, object]]) -> None: ...


class ConfirmingPublisher:
    """Publishes to the events exchange on a channel with publisher confirms."""

    def __init__(
        self,
        connection: aio_pika.abc.AbstractRobustConnection,
        timeout: float = 10,
        service: str = "",
    ):
        self._connection = connection
        self._timeout = timeout
        self._service = service  # whose tracer publishes (ck_runtime.tracing)
        self._channel: aio_pika.abc.AbstractChannel | None = None
        self._exchange: aio_pika.abc.AbstractExchange | None = None

    async def _events_exchange(self) -> aio_pika.abc.AbstractExchange:
        if self._channel is None or self._exchange is None or self._channel.is_closed:
            self._channel = await self._connection.channel(publisher_confirms=True)
            self._exchange = await self._channel.get_exchange(EVENTS_EXCHANGE, ensure=False)
        return self._exchange

    async def publish(self, rows: Sequence[dict[str, object]]) -> None:
        exchange = await self._events_exchange()
        tracer = tracing.tracer(self._service)

        async def one(row: dict[str, object]) -> None:
            body = row["body"]
            trace_context: object = None
            if isinstance(body, dict) and tracing.OUTBOX_TRACE_KEY in body:
                body = dict(body)  # the trace context is the outbox's, not the event's
                trace_context = body.pop(tracing.OUTBOX_TRACE_KEY)
            headers: dict[str, Any] = {
                CORRELATION_HEADER: str(row["correlation_id"] or ""),
                EVENT_TYPE_HEADER: str(row["routing_key"]),
            }
            message = aio_pika.Message(
                body=json_codec.compact(body),
                content_type="application/json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                message_id=str(row["id"]),
                headers=headers,
            )
            if tracer is not None and isinstance(trace_context, dict):
                parent = tracing.extract(trace_context)
                if parent is not None and not tracing.unsampled(parent):
                    await self._traced(tracer, exchange, message, row, parent)
                    return
                # Not sampled: no span; the consumer learns that from the writer's context.
                headers.update({k: v for k, v in trace_context.items() if isinstance(v, str)})
            await self._send(exchange, message, row)

        # Confirms are pipelined: all of a batch is in flight at once.
        await asyncio.gather(*(one(row) for row in rows))

    async def _traced(
        self,
        tracer: Tracer,
        exchange: aio_pika.abc.AbstractExchange,
        message: aio_pika.Message,
        row: dict[str, object],
        parent: Context,
    ) -> None:
        """A producer span in the trace of the transaction that wrote the row, from the
        publish to the broker's confirm; its context goes in the message's headers."""
        routing_key = str(row["routing_key"])
        span = tracer.start_span(
            f"{routing_key} publish",
            context=parent,
            kind=SpanKind.PRODUCER,
            attributes={
                "messaging.system": "rabbitmq",
                "messaging.operation.type": "publish",
                "messaging.destination.name": EVENTS_EXCHANGE,
                "messaging.rabbitmq.destination.routing_key": routing_key,
                "messaging.message.id": str(row["id"]),
            },
        )
        assert message.headers is not None
        tracing.inject(message.headers, set_span_in_context(span))
        try:
            await self._send(exchange, message, row)
        except BaseException as exc:
            span.record_exception(exc)
            tracing.mark_failed(span, type(exc).__name__)
            raise
        finally:
            span.end()

    async def _send(
        self,
        exchange: aio_pika.abc.AbstractExchange,
        message: aio_pika.Message,
        row: dict[str, object],
    ) -> None:
        try:
            await exchange.publish(
                message, routing_key=str(row["routing_key"]), timeout=self._timeout
            )
        except aio_pika.exceptions.DeliveryError as exc:  # the broker's Nack or Reject
            raise RuntimeError(f"broker refused event {row['id']}") from exc


class OutboxRelay:
    """Publishes unpublished outbox rows, oldest first, until stopped."""

    def __init__(
        self,
        db: Database,
        publisher: Publisher,
        batch: int = 200,
        poll_seconds: float = 1.0,
        service: str = "",
    ) -> None:
        self._db = db
        self._service = service  # the metric's label (ck_outbox_published_total)
        self._publisher = publisher
        self._batch = batch
        self._poll = poll_seconds
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.published = 0

    def wake(self) -> None:
        """Publish now (thread-safe: a commit on another loop may call it)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._wake.set()
        else:
            loop.call_soon_threadsafe(self._wake.set)

    def _pending_query(self) -> Select[Any, Any, Any, Any, Any]:
        return (
            select(
                OUTBOX.c.seq,
                OUTBOX.c.id,
                OUTBOX.c.routing_key,
                OUTBOX.c.body,
                OUTBOX.c.correlation_id,
            )
            .where(OUTBOX.c.published_at.is_(None))
            .order_by(OUTBOX.c.seq)
            .limit(self._batch)
        )

    async def _mark(self, session: AsyncSession, rows: list[dict[str, object]]) -> None:
        """Published: the row keeps id, routing key, correlation id and times, never its body
        (R-AVG-2: addresses, first names, card numbers and password links are in there). The
        body becomes `{}` rather than NULL so the column keeps its NOT NULL in every service's
        schema; the retention job deletes the row later (outbox_retention_days)."""
        await session.execute(
            update(OUTBOX)
            .where(OUTBOX.c.seq.in_([r["seq"] for r in rows]))
            .values(published_at=current_clock().now(), body=PUBLISHED_BODY)
        )

    async def publish_pending(self) -> int:
        """One pass: publish up to a batch. Returns how many were published."""
        if self._db.sqlite:
            # SQLite has one writer: never hold its lock while waiting on the broker. One
            # process owns an SQLite file, so no other relay takes these rows meanwhile.
            async with self._db.read() as session:
                rows = [dict(r._mapping) for r in await session.execute(self._pending_query())]
            if not rows:
                return 0
            await self._publisher.publish(rows)
            async with self._db.transaction() as session:
                await self._mark(session, rows)
        else:
            async with self._db.transaction() as session:
                # Several replicas of a service each take their own rows.
                query = self._pending_query().with_for_update(skip_locked=True)
                rows = [dict(r._mapping) for r in await session.execute(query)]
                if not rows:
                    return 0
                await self._publisher.publish(rows)
                await self._mark(session, rows)
        self.published += len(rows)
        if self._service:
            metrics.outbox_published(self._service, len(rows))
        return len(rows)

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        _relays.add(self)
        try:
            await self._run()
        finally:
            _relays.discard(self)

    async def _run(self) -> None:
        backoff = 0.5
        while not self._stopping.is_set():
            self._wake.clear()  # before reading: a commit from now on wakes the next pass
            try:
                count = await self.publish_pending()
                backoff = 0.5
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # broker down, channel closed, database busy: retry
                log.warning("outbox.publish_failed", error=type(exc).__name__, retry_in=backoff)
                await self._sleep(backoff)
                backoff = min(backoff * 2, 10.0)
                continue
            if count == self._batch:
                continue  # more waiting
            await self._sleep(self._poll, wake=True)

    async def _sleep(self, seconds: float, wake: bool = False) -> None:
        waiters = [asyncio.ensure_future(self._stopping.wait())]
        if wake:
            waiters.append(asyncio.ensure_future(self._wake.wait()))
        _done, pending = await asyncio.wait(
            waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED
        )
        for task in pending:
            task.cancel()

    def stop(self) -> None:
        self._stopping.set()
