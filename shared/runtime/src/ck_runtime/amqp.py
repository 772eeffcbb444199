"""RabbitMQ connection and topology: one durable topic exchange, quorum queues, dead-lettering."""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

import aio_pika
import aiormq.exceptions
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractRobustConnection
from aio_pika.connection import make_url
from aiormq.abc import ConsumerCallback
from ck_contracts.messaging import (
    DEAD_LETTER_EXCHANGE,
    EVENTS_EXCHANGE,
    REPLIES_EXCHANGE,
    RPC_EXCHANGE,
    dead_letter_queue,
    rpc_queue,
)
from ck_contracts.topology import EVENT_QUEUES, SERVICES, queues_of

from ck_runtime.logs import get_logger

if TYPE_CHECKING:
    from faststream.rabbit.schemas.queue import QuorumQueueArgs

log = get_logger(__name__)


class BrokerUnreachable(RuntimeError):
    """RabbitMQ cannot be reached; the message says how to start it."""


def deliver_directly(
    message: AbstractIncomingMessage,
    callback: ConsumerCallback,
) -> aiormq.Channel:
    """The message's channel, on which later deliveries to this consumer go straight to
    `callback` as aiormq hands them over: no aio-pika IncomingMessage and no second task per
    message (issue 15; the RPC client's replies and the RPC consumer's requests). The
    callback replaces aio-pika's in aiormq's consumer table under the same tag, so aio-pika's
    restore after a reconnect, which compares tags, sees no difference; its re-consume puts
    aio-pika's callback back and the next message on the new channel takes over again. This
    leans on aiormq's `Channel.consumers`: tests/test_rpc*.py and the broker-kill tests fail
    if it changes. Raises ChannelInvalidStateError when the channel closed meanwhile."""
    channel = cast(aiormq.Channel, message.channel)  # aio-pika's channels are aiormq's
    tag = message.consumer_tag
    if tag is not None and isinstance(channel, aiormq.Channel) and tag in channel.consumers:
        channel.consumers[tag] = callback
    return channel


def describe_broker(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname or '127.0.0.1'}:{parts.port or 5672}"


def unreachable_message(url: str) -> str:
    return (
        f"RabbitMQ is not reachable at {describe_broker(url)}; start it with "
        "'rabbitmq-server -detached' (or set AMQP_URL to a running broker) and try again."
    )


async def connect(url: str, name: str) -> AbstractRobustConnection:
    """A robust connection (reconnects by itself); fails fast if the broker is down now.
    Its loss and return are logged as JSON events (broker.connection_lost/_restored)."""
    # As aio_pika.connect_robust, but a connection that fails to open is closed here: that
    # function drops it half-made, and its __del__ cannot close it outside a running loop.
    connection = aio_pika.RobustConnection(
        make_url(url), client_properties={"connection_name": name}
    )
    try:
        await connection.connect(timeout=10)
    except BaseException as exc:
        with contextlib.suppress(Exception):
            await connection.close()
        if isinstance(exc, (OSError, aio_pika.exceptions.AMQPConnectionError)):
            raise BrokerUnreachable(unreachable_message(url)) from exc
        raise
    watch_connection(connection, name, describe_broker(url))
    return connection


# aio-pika and aiormq report a lost connection as plain-text lines, one with a traceback, and
# each failed reconnect again. watch_connection's two JSON events say it once; these go.
_CONNECTION_CHATTER = (
    "Cancelling cause reader exited abnormally",
    "Unexpected connection close from remote",
    "Connection attempt to",
    "Reconnect attempt failed",
)


class _DropConnectionChatter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(_CONNECTION_CHATTER)


for _name in ("aiormq.connection", "aio_pika.robust_connection"):
    logging.getLogger(_name).addFilter(_DropConnectionChatter())


def watch_connection(connection: AbstractRobustConnection, name: str, broker: str) -> None:
    """One JSON event when the connection drops and one when it is back."""
    up = [True]  # a failed reconnect attempt also calls the close callbacks: log once

    def lost(_connection: object, exc: BaseException | None) -> None:
        if connection.close_called or not up[0]:
            return  # our own close at shutdown, or still down
        up[0] = False
        reason = type(exc).__name__ if exc is not None else None
        log.warning("broker.connection_lost", connection=name, broker=broker, reason=reason)

    def restored(_connection: object) -> None:
        up[0] = True
        log.info("broker.connection_restored", connection=name, broker=broker)

    connection.close_callbacks.add(lost)
    connection.reconnect_callbacks.add(restored)


class BrokerDown(RuntimeError):
    """The readiness probe found the broker connection unusable."""


async def probe_broker(connection: AbstractRobustConnection | None) -> None:
    """Raises BrokerDown unless the connection is up (passive: its state) and the broker
    answers on it now (active: a channel opened and closed, which needs no permission)."""
    if connection is None or connection.is_closed or not connection.connected.is_set():
        raise BrokerDown("not connected")
    channel = await connection.channel()
    await channel.close()


def dead_letter_arguments(queue: str, delivery_limit: int) -> QuorumQueueArgs:
    """An event queue's arguments besides its type: after `delivery_limit` deliveries a message
    goes to the queue's dead-letter queue."""
    return {
        "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
        "x-dead-letter-routing-key": queue,
        "x-delivery-limit": delivery_limit,
    }


def quorum_arguments(queue: str, delivery_limit: int) -> dict[str, Any]:
    return {"x-queue-type": "quorum", **dead_letter_arguments(queue, delivery_limit)}


# RPC queues hold short-lived requests (each carries its own expiration): classic queues are
# enough and answer faster than replicated ones. A lost request times out at the gateway.
RPC_QUEUE_ARGUMENTS: dict[str, Any] = {"x-queue-type": "classic"}


async def declare_topology(channel: AbstractChannel, delivery_limit: int) -> None:
    """Declare every exchange, queue and binding of the platform (idempotent). Needs a broker
    user that may configure everything: the operator's (ck-ops broker provision), a test's,
    or a development broker's guest. Services with least-privilege users find it declared
    (deploy/rabbitmq/definitions.json) and only check it (verify_topology)."""
    events = await channel.declare_exchange(
        EVENTS_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
    )
    dlx = await channel.declare_exchange(
        DEAD_LETTER_EXCHANGE, aio_pika.ExchangeType.DIRECT, durable=True
    )
    requests = await channel.declare_exchange(
        RPC_EXCHANGE, aio_pika.ExchangeType.DIRECT, durable=True
    )
    await channel.declare_exchange(REPLIES_EXCHANGE, aio_pika.ExchangeType.DIRECT, durable=True)
    for spec in EVENT_QUEUES:
        queue = await channel.declare_queue(
            spec.name, durable=True, arguments=quorum_arguments(spec.name, delivery_limit)
        )
        for key in spec.routing_keys:
            await queue.bind(events, routing_key=key)
        dead = await channel.declare_queue(
            dead_letter_queue(spec.name), durable=True, arguments={"x-queue-type": "quorum"}
        )
        await dead.bind(dlx, routing_key=spec.name)
    for service in SERVICES:
        queue = await channel.declare_queue(
            rpc_queue(service), durable=True, arguments=RPC_QUEUE_ARGUMENTS
        )
        await queue.bind(requests, routing_key=queue.name)


class TopologyMissing(RuntimeError):
    """The broker lacks an exchange or queue this service needs; the message says which."""


async def verify_topology(connection: AbstractRobustConnection, service: str) -> None:
    """Check, without declaring anything (passive), that what this service uses exists."""
    names: list[tuple[str, bool]] = [
        (EVENTS_EXCHANGE, True),
        (REPLIES_EXCHANGE, True),
        (rpc_queue(service), False),
        *((spec.name, False) for spec in queues_of(service)),
    ]
    for name, is_exchange in names:
        channel = await connection.channel()
        try:
            if is_exchange:
                await channel.get_exchange(name, ensure=True)
            else:
                await channel.get_queue(name, ensure=True)
        except aiormq.exceptions.ChannelNotFoundEntity as exc:
            kind = "exchange" if is_exchange else "queue"
            raise TopologyMissing(
                f"The broker has no {kind} {name}: load deploy/rabbitmq/definitions.json "
                "(or run 'ck-ops broker provision') before starting the services."
            ) from exc
        finally:
            if not channel.is_closed:
                await channel.close()


async def ensure_topology(
    connection: AbstractRobustConnection, service: str, delivery_limit: int
) -> bool:
    """Declare the whole topology when this broker user may (development, tests); otherwise
    check what this service needs. Returns True when it declared."""
    channel = await connection.channel()
    try:
        await declare_topology(channel, delivery_limit)
        return True
    except aiormq.exceptions.ChannelAccessRefused:
        await verify_topology(connection, service)
        return False
    finally:
        if not channel.is_closed:
            await channel.close()


async def declare_rpc_exchanges(connection: AbstractRobustConnection) -> None:
    """The two exchanges a caller of request/reply needs, declared when this broker user may
    (development, tests: the gateway may start before any service); otherwise they are
    provisioned and a failed declaration is no news."""
    channel = await connection.channel()
    try:
        for name in (RPC_EXCHANGE, REPLIES_EXCHANGE):
            await channel.declare_exchange(name, aio_pika.ExchangeType.DIRECT, durable=True)
    except aiormq.exceptions.ChannelAccessRefused:
        return
    finally:
        if not channel.is_closed:
            await channel.close()
