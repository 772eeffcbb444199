"""Test helpers shared by every test folder: a real service database and real broker plumbing.

No fakes: these publish to and read from the real RabbitMQ, and migrate real databases.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aio_pika
from ck_contracts.messaging import EVENTS_EXCHANGE, Event
from ck_devstack.ports import free_port as free_port  # one port picker for every test
from ck_runtime.amqp import declare_topology
from ck_runtime.db import Database
from ck_runtime.migrations import upgrade_async


async def migrated_database(url: str, service: str = "roster") -> Database:
    """A database with a real service's schema (roster has outbox, inbox, known_schools)."""
    await upgrade_async(service, url)
    return Database(url)


async def declare(amqp_url: str) -> None:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        await declare_topology(await connection.channel(), delivery_limit=5)


async def publish_raw(amqp_url: str, routing_key: str, body: Any, message_id: str = "") -> None:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.get_exchange(EVENTS_EXCHANGE)
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        await exchange.publish(
            aio_pika.Message(
                payload, message_id=message_id or None, content_type="application/json"
            ),
            routing_key=routing_key,
        )


async def publish_event(amqp_url: str, event: Event) -> None:
    await publish_raw(amqp_url, event.routing_key, event.envelope(), str(event.id))


async def drain(amqp_url: str, queue: str, expect: int, deadline: float = 15) -> list[Any]:
    """Take messages off a queue until `expect` arrived or the deadline passed."""
    got: list[Any] = []
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        q = await channel.get_queue(queue, ensure=False)
        end = time.monotonic() + deadline
        while len(got) < expect and time.monotonic() < end:
            message = await q.get(no_ack=True, fail=False)
            if message is None:
                await asyncio.sleep(0.05)
                continue
            got.append(message)
    return got


async def next_event(queue: Any, deadline: float = 15) -> dict[str, Any]:
    """The next message on an aio-pika queue (e.g. a test's own queue bound to some routing
    keys), decoded from JSON; AssertionError when none arrives within deadline seconds."""
    import json

    end = asyncio.get_running_loop().time() + deadline
    while asyncio.get_running_loop().time() < end:
        message = await queue.get(no_ack=True, fail=False)
        if message is not None:
            return dict(json.loads(message.body))
        await asyncio.sleep(0.05)
    raise AssertionError("no event arrived")


async def eventually(check: Callable[[], Awaitable[bool]], deadline: float = 15) -> bool:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if await check():
            return True
        await asyncio.sleep(0.05)
    return await check()


async def run_migration(url: str, service: str, revision: str) -> None:
    """Run one migration script's upgrade() again on a database at head (e.g. a cleaning
    migration over rows a test wrote past the rules), whatever follows it in the chain."""
    from alembic.migration import MigrationContext
    from alembic.operations import Operations
    from alembic.script import ScriptDirectory
    from ck_runtime.db import create_engine
    from ck_runtime.migrations import alembic_config

    script = ScriptDirectory.from_config(alembic_config(service, url)).get_revision(revision)
    assert script is not None and script.module is not None, revision

    def upgrade(connection: Any) -> None:
        with Operations.context(MigrationContext.configure(connection)):
            script.module.upgrade()

    engine = create_engine(url, null_pool=True)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(upgrade)
    finally:
        await engine.dispose()
