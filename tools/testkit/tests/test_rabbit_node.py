"""PrivateRabbit: a second RabbitMQ node that a test may kill, beside the shared one."""

from __future__ import annotations

import asyncio

import aio_pika
import pytest
from ck_runtime import amqp
from ck_runtime.amqp import BrokerUnreachable
from ck_testkit.rabbit_node import PrivateRabbit, available

pytestmark = pytest.mark.skipif(not available(), reason="needs RabbitMQ installed, as root")


async def publish_durable(url: str, queue: str, body: bytes) -> None:
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        await channel.declare_queue(queue, durable=True, arguments={"x-queue-type": "quorum"})
        await channel.default_exchange.publish(
            aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
            routing_key=queue,
        )


async def take(url: str, queue: str) -> bytes | None:
    # A quorum queue recovers its log for a moment after the node is back: try a few times.
    for _ in range(20):
        connection = await aio_pika.connect(url)
        async with connection:
            channel = await connection.channel()
            q = await channel.get_queue(queue)
            try:
                message = await q.get(no_ack=True, fail=False, timeout=3)
            except TimeoutError:
                continue
            return None if message is None else message.body
    raise AssertionError(f"{queue} did not answer")


async def test_killed_node_comes_back_with_its_durable_messages() -> None:
    with PrivateRabbit() as rabbit:
        assert rabbit.amqp_url.endswith(f":{rabbit.port}/")
        assert rabbit.port != 5672
        await publish_durable(rabbit.amqp_url, "kept", b"survives")

        await asyncio.to_thread(rabbit.kill)
        assert not rabbit.running
        assert not rabbit._pids()  # nothing of the node is left running
        with pytest.raises(BrokerUnreachable):  # (and the failed connection is closed)
            await amqp.connect(rabbit.amqp_url, "test-killed-node")

        await asyncio.to_thread(rabbit.restart)
        assert await take(rabbit.amqp_url, "kept") == b"survives"

        await asyncio.to_thread(rabbit.stop)  # a clean stop keeps the data too
        assert not rabbit._pids()
        await asyncio.to_thread(rabbit.start)
        await publish_durable(rabbit.amqp_url, "kept", b"again")
        await asyncio.to_thread(rabbit.stop)
        await asyncio.to_thread(rabbit.start)
        assert await take(rabbit.amqp_url, "kept") == b"again"
    assert not rabbit._pids()
    assert not rabbit.base.exists()
