"""RabbitMQ connection and topology: one durable topic exchange, quorum queues, dead-lettering."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractRobustConnection
from ck_contracts.messaging import (
    DEAD_LETTER_EXCHANGE,
    EVENTS_EXCHANGE,
    dead_letter_queue,
    rpc_queue,
)
from ck_contracts.topology import EVENT_QUEUES, SERVICES


class BrokerUnreachable(RuntimeError):
    """RabbitMQ cannot be reached; the message says how to start it."""


def describe_broker(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname or '127.0.0.1'}:{parts.port or 5672}"


def unreachable_message(url: str) -> str:
    return (
        f"RabbitMQ is not reachable at {describe_broker(url)}; start it with "
        "'rabbitmq-server -detached' (or set AMQP_URL to a running broker) and try again."
    )


async def connect(url: str, name: str) -> AbstractRobustConnection:
    """A robust connection (reconnects by itself); fails fast if the broker is down now."""
    try:
        return await aio_pika.connect_robust(
            url, client_properties={"connection_name": name}, timeout=10
        )
    except (OSError, aio_pika.exceptions.AMQPConnectionError) as exc:
        raise BrokerUnreachable(unreachable_message(url)) from exc


def quorum_arguments(queue: str, delivery_limit: int) -> dict[str, Any]:
    return {
        "x-queue-type": "quorum",
        "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
        "x-dead-letter-routing-key": queue,
        "x-delivery-limit": delivery_limit,
    }


# RPC queues hold short-lived requests (each carries its own expiration): classic queues are
# enough and answer faster than replicated ones. A lost request times out at the gateway.
RPC_QUEUE_ARGUMENTS: dict[str, Any] = {"x-queue-type": "classic"}


async def declare_topology(channel: AbstractChannel, delivery_limit: int) -> None:
    """Declare every exchange and queue of the platform (idempotent)."""
    events = await channel.declare_exchange(
        EVENTS_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
    )
    dlx = await channel.declare_exchange(
        DEAD_LETTER_EXCHANGE, aio_pika.ExchangeType.DIRECT, durable=True
    )
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
        await channel.declare_queue(rpc_queue(service), durable=True, arguments=RPC_QUEUE_ARGUMENTS)
