"""Dead letters: what the dead-letter queues hold, and putting messages back where they died.

Every event queue `<queue>` has a `<queue>.dead-letter` queue behind it (ck_runtime.amqp):
poison (an undecodable body, an event type the queue has no handler for) goes there at once,
an event whose handler kept failing after the delivery limit. `ck-ops dead-letters` (list,
replay) and the CJP admin page /beheer/onbestelbare-berichten (counts) use this module.

- Counts come from passive declarations: they need no broker permission, so the gateway's
  least-privilege user can ask too, and they touch no message.
- Listing reads messages without removing them: AMQP has no peek, so they are fetched
  unacknowledged (basic.get) and go back, in their order, when the channel closes. Only the
  envelope is shown (id, routing key, why and when it died), never the body, which may hold
  personal data (an EmailsRequested carries addresses).
- Replay publishes a copy to the queue the message died in (the default exchange, routing key
  = that queue), with publisher confirms, and only then acknowledges it on the dead-letter
  queue. A crash in between leaves it in both places; replaying it again is harmless because
  the consumer's inbox (event id, queue) drops the repeat. Not through the events exchange
  with the original routing key: that would also hand it to every other queue bound to the key,
  which handled it long ago (their inbox forgets after inbox_retention_days) or, for poison,
  would dead-letter it once more.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aio_pika
import aiormq.exceptions
from aio_pika.abc import AbstractConnection, AbstractIncomingMessage
from ck_contracts.messaging import dead_letter_queue
from ck_contracts.topology import EVENT_QUEUES, SERVICES, queues_of

SUFFIX = dead_letter_queue("")
REPLAYED_HEADER = "x-replayed-from"
# What the broker adds when it dead-letters a message; not copied to the replayed message, so
# a message that dies again starts a fresh history.
_DEATH_HEADERS = ("x-death", "x-first-death-", "x-last-death-", "x-delivery-count")


class UnknownQueue(ValueError):
    """Not a queue of the platform (or not one with a dead-letter queue)."""


def dead_letter_queues(service: str | None = None) -> list[str]:
    """The dead-letter queues of one service's event queues, or of all."""
    if service is None:
        return [dead_letter_queue(q.name) for q in EVENT_QUEUES]
    if service not in SERVICES:
        raise UnknownQueue(f"unknown service {service!r} (one of {', '.join(SERVICES)})")
    return [dead_letter_queue(q.name) for q in queues_of(service)]


def resolve(queue: str) -> str:
    """The dead-letter queue meant by an event queue's name or by its own name."""
    name = queue if queue.endswith(SUFFIX) else dead_letter_queue(queue)
    if name not in dead_letter_queues():
        raise UnknownQueue(f"{queue!r} is not an event queue with a dead-letter queue")
    return name


def source_of(dead_letter: str) -> str:
    """The event queue a dead-letter queue serves (its messages go back there)."""
    return dead_letter.removesuffix(SUFFIX)


@dataclass(frozen=True)
class DeadLetter:
    """One dead message, without its body."""

    id: str  # the message id (the event id); "body-<hash>" for a message published without one
    routing_key: str  # what it was published with: the event type
    reason: str  # rejected (poison), delivery_limit (the handler kept failing), expired, ...
    died_at: datetime | None
    queue: str  # the queue it died in


@dataclass(frozen=True)
class DeadLetterQueue:
    name: str
    count: int
    messages: tuple[DeadLetter, ...] = ()  # the first ones, up to the listing's limit


@dataclass
class Replayed:
    queue: str
    ids: list[str] = field(default_factory=list)  # put back on the event queue (every copy)
    missing: list[str] = field(default_factory=list)  # asked for, not found


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return "" if value is None else str(value)


def message_id(message: AbstractIncomingMessage) -> str:
    if message.message_id:
        return message.message_id
    return "body-" + hashlib.sha256(message.body).hexdigest()[:16]


def _first_death(headers: Mapping[str, Any]) -> Mapping[str, Any]:
    """The x-death entry of the first death (x-death lists the latest first)."""
    deaths = [d for d in headers.get("x-death") or () if isinstance(d, Mapping)]
    queue = _text(headers.get("x-first-death-queue"))
    reason = _text(headers.get("x-first-death-reason"))
    for death in reversed(deaths):
        if _text(death.get("queue")) == queue and _text(death.get("reason")) == reason:
            return death
    return deaths[-1] if deaths else {}


def describe(message: AbstractIncomingMessage) -> DeadLetter:
    headers = message.headers or {}
    death = _first_death(headers)
    keys = death.get("routing-keys") or ()
    died = death.get("time")
    if isinstance(died, datetime) and died.tzinfo is None:
        died = died.replace(tzinfo=UTC)
    return DeadLetter(
        id=message_id(message),
        routing_key=_text(keys[0]) if keys else _text(message.routing_key),
        reason=_text(headers.get("x-first-death-reason") or death.get("reason")) or "unknown",
        died_at=died if isinstance(died, datetime) else None,
        queue=_text(headers.get("x-first-death-queue") or death.get("queue")),
    )


async def count(connection: AbstractConnection, queue: str) -> int | None:
    """Messages ready in the queue (passive declaration); None when it does not exist."""
    channel = await connection.channel()
    try:
        declared = await channel.declare_queue(queue, passive=True)
    except aiormq.exceptions.ChannelNotFoundEntity:
        return None
    finally:
        if not channel.is_closed:
            await channel.close()
    return int(declared.declaration_result.message_count or 0)


async def counts(connection: AbstractConnection, queues: Iterable[str]) -> dict[str, int | None]:
    return {queue: await count(connection, queue) for queue in queues}


async def inspect(connection: AbstractConnection, queue: str, limit: int = 100) -> DeadLetterQueue:
    """The queue's count and its first `limit` messages, which stay in the queue."""
    total = await count(connection, queue)
    if total is None:
        raise UnknownQueue(f"the broker has no queue {queue}")
    messages: list[DeadLetter] = []
    channel = await connection.channel()
    try:
        source = await channel.get_queue(queue, ensure=False)
        while len(messages) < min(limit, total):
            message = await source.get(no_ack=False, fail=False)
            if message is None:
                break
            messages.append(describe(message))
    finally:
        await channel.close()  # returns every message fetched, unacknowledged, to the queue
        await _returned(connection, queue, total)
    return DeadLetterQueue(queue, total, tuple(messages))


async def _returned(connection: AbstractConnection, queue: str, expected: int) -> None:
    """Wait (a few seconds at most) until the messages a closed channel held are ready again:
    a quorum queue takes them back a moment after the channel is gone, and a listing or replay
    right after this one should see them."""
    deadline = asyncio.get_running_loop().time() + 5
    while ((await count(connection, queue)) or 0) < expected:
        if asyncio.get_running_loop().time() > deadline:
            return
        await asyncio.sleep(0.05)


def _replay_copy(message: AbstractIncomingMessage, dead_letter: str) -> aio_pika.Message:
    headers = {
        key: value
        for key, value in (message.headers or {}).items()
        if not key.startswith(_DEATH_HEADERS)
    }
    headers[REPLAYED_HEADER] = dead_letter
    return aio_pika.Message(
        body=message.body,
        headers=headers,
        content_type=message.content_type,
        content_encoding=message.content_encoding,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=message.message_id,
        correlation_id=message.correlation_id,
        timestamp=message.timestamp,
        type=message.type,
        app_id=message.app_id,
    )


async def replay(
    connection: AbstractConnection, queue: str, ids: Collection[str] | None
) -> Replayed:
    """Put dead letters back on their event queue: those with these ids, or (None) all that
    were there when the replay began (one that dies again meanwhile waits for the next)."""
    dead_letter = resolve(queue)
    target = source_of(dead_letter)
    total = await count(connection, dead_letter)
    if total is None:
        raise UnknownQueue(f"the broker has no queue {dead_letter}")
    wanted = None if ids is None else set(ids)
    result = Replayed(dead_letter)
    reader = await connection.channel()
    publisher = await connection.channel(publisher_confirms=True, on_return_raises=True)
    try:
        source = await reader.get_queue(dead_letter, ensure=False)
        for _ in range(total):
            message = await source.get(no_ack=False, fail=False)
            if message is None:
                break
            identity = message_id(message)
            if wanted is not None and identity not in wanted:
                continue  # left unacknowledged: back in the queue when the channel closes
            # Confirmed (and routed: mandatory) before the dead letter is let go.
            try:
                await publisher.default_exchange.publish(
                    _replay_copy(message, dead_letter), routing_key=target, mandatory=True
                )
            except aio_pika.exceptions.PublishError as exc:
                raise UnknownQueue(f"the broker has no queue {target} to put it back on") from exc
            await message.ack()
            result.ids.append(identity)
    finally:
        await publisher.close()
        await reader.close()
        await _returned(connection, dead_letter, total - len(result.ids))
    if wanted is not None:
        result.missing = sorted(wanted - set(result.ids))
    return result
