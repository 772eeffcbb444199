"""Request/reply while the broker dies (issue 11): a call either gets its answer or
ServiceUnavailable (the gateway's 503, which a client retries with its Idempotency-Key), never
another exception (the gateway's 500). Before the fix a publish during the robust connection's
reconnect raised aiormq's ChannelInvalidStateError, a RuntimeError, straight to the caller.

The broker is a private RabbitMQ node killed with SIGKILL (ck_testkit.rabbit_node)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Iterator

import pytest
from ck_runtime.rpc_client import RpcClient, ServiceUnavailable
from ck_runtime.service import ServiceRuntime
from ck_runtime.settings import ServiceSettings, load_settings
from ck_testkit.echo import echo_router
from ck_testkit.rabbit_node import PrivateRabbit, available

pytestmark = [
    pytest.mark.broker_outage,
    pytest.mark.skipif(not available(), reason="needs RabbitMQ installed (a private node)"),
]


@pytest.fixture(scope="module")
def rabbit() -> Iterator[PrivateRabbit]:
    with PrivateRabbit() as node:
        yield node


@pytest.fixture
async def echo(rabbit: PrivateRabbit, sqlite_url: str) -> AsyncIterator[ServiceRuntime]:
    from ck_roster.app import build

    settings = load_settings(
        ServiceSettings, "roster", amqp_url=rabbit.amqp_url, database_url=sqlite_url, prefetch=16
    )
    service = build(settings)
    service.rpc = echo_router
    runtime = ServiceRuntime(service)
    await runtime.start()
    yield runtime
    await runtime.stop()


async def test_a_call_during_a_broker_kill_is_answered_or_unavailable(
    rabbit: PrivateRabbit, echo: ServiceRuntime
) -> None:
    client = RpcClient(rabbit.amqp_url, timeout=2)
    await client.start()
    outcomes: Counter[str] = Counter()
    # The callers call until the broker is back, so that calls are in flight when it dies
    # however long the kill takes (it syncs the node's tables first, seconds on a loaded
    # machine: a fixed number of calls could all be answered before it).
    restarted = asyncio.Event()
    try:

        async def caller(i: int) -> None:
            n = 0
            while not restarted.is_set():
                n += 1
                try:
                    reply = await client.call("roster", "echo", {"text": f"{i}-{n}", "delay": 0.05})
                    assert reply.result["text"] == f"{i}-{n}"
                    outcomes["answered"] += 1
                except ServiceUnavailable:
                    outcomes["unavailable"] += 1
                    await asyncio.sleep(0.2)
                except Exception as exc:  # what the gateway would answer with 500
                    outcomes[f"error {type(exc).__name__}: {exc}"] += 1

        callers = [asyncio.create_task(caller(i)) for i in range(8)]
        await asyncio.sleep(0.5)
        await asyncio.to_thread(rabbit.kill)
        await asyncio.sleep(2)
        await asyncio.to_thread(rabbit.start)
        restarted.set()
        await asyncio.gather(*callers)
        assert {o for o in outcomes if o.startswith("error")} == set(), outcomes
        assert outcomes["unavailable"] > 0  # the kill was felt

        async def answered() -> bool:
            try:
                await client.call("roster", "echo", {"text": "back"})
                return True
            except ServiceUnavailable:
                return False

        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while not await answered():
            assert loop.time() < deadline, "no answer after the broker came back"
            await asyncio.sleep(0.5)
        # The restored consumer is aio-pika's again; its first reply handed the tag over to
        # the client's direct callback on the new channel.
        underlay = await client._channel.get_underlay_channel()  # type: ignore[union-attr]
        assert list(underlay.consumers.values()) == [client._on_delivered]
        again = await client.call("roster", "echo", {"text": "again"})
        assert again.result["text"] == "again"
    finally:
        await client.stop()
