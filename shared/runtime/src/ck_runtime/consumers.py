"""Event consumers: decode, de-duplicate (inbox), handle in one transaction with the outbox."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ck_contracts.messaging import Event, decode_event
from ck_contracts.topology import EventQueue
from opentelemetry.trace import SpanKind
from sqlalchemy.ext.asyncio import AsyncSession

from ck_runtime import tracing
from ck_runtime.db import Database
from ck_runtime.inbox import claim_message
from ck_runtime.logs import bind_correlation_id, get_logger

log = get_logger(__name__)

EventHandler = Callable[[Any, AsyncSession], Awaitable[None]]


class PoisonMessage(Exception):
    """The message can never be handled (undecodable, unknown type): dead-letter it now."""


@dataclass(frozen=True)
class EventConsumer:
    """One queue of a service and the handler for each event type that arrives on it."""

    queue: EventQueue
    handlers: Mapping[str, EventHandler]

    @property
    def name(self) -> str:
        return self.queue.name

    async def handle(
        self, body: Any, db: Database, headers: Mapping[str, Any] | None = None
    ) -> bool:
        """Handle one delivery: the raw bytes off the queue (decoded here, so that a body that
        is not JSON is poison, dead-lettered at once) or decoded JSON. Returns False when it
        was a duplicate. With tracing on, the handling is a consumer span in the publisher's
        trace (traceparent in `headers`)."""
        if isinstance(body, bytes | bytearray):
            with contextlib.suppress(ValueError):  # not JSON: poison, said by _handle
                body = json.loads(body)
        if not tracing.enabled():
            return await self._handle(body, db)
        attributes: dict[str, str | int] = {
            "messaging.system": "rabbitmq",
            "messaging.operation.type": "process",
            "messaging.destination.name": self.name,
        }
        with tracing.consume_span(
            self.queue.service, f"{self.name} process", headers, SpanKind.CONSUMER, attributes
        ) as span:
            if span is not None and isinstance(body, dict):
                span.set_attribute("ck.event.type", str(body.get("type")))
                span.set_attribute("messaging.message.id", str(body.get("id")))
            return await self._handle(body, db)

    async def _handle(self, body: Any, db: Database) -> bool:
        try:
            if isinstance(body, bytes | bytearray):
                body = json.loads(body)
            if not isinstance(body, dict):
                raise ValueError("body is not a JSON object")
            event: Event = decode_event(body)
        except (KeyError, ValueError, TypeError) as exc:  # bad JSON and UTF-8 are ValueErrors
            raise PoisonMessage(f"undecodable message on {self.name}: {exc}") from exc
        handler = self.handlers.get(event.routing_key)
        if handler is None:
            raise PoisonMessage(f"{self.name} has no handler for {event.routing_key}")
        bind_correlation_id(event.correlation_id)
        async with db.transaction() as session:
            if not await claim_message(session, str(event.id), self.name):
                log.info("event.duplicate", queue=self.name, event_id=str(event.id))
                return False
            await handler(event, session)
        log.info("event.handled", queue=self.name, type=event.routing_key, event_id=str(event.id))
        return True


def retry_delay(delivery_count: int) -> float:
    """Pause before a failed message goes back to its queue: 0.2 s, 0.4 s, ... at most 5 s."""
    return float(min(0.2 * (2 ** max(delivery_count, 0)), 5.0))


async def pause_before_retry(headers: Mapping[str, Any]) -> None:
    count = headers.get("x-delivery-count", 0)
    await asyncio.sleep(retry_delay(int(count) if isinstance(count, int) else 0))
