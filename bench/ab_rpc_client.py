"""The RPC client's own CPU per 1,000 calls, two variants alternating in one process (issue 15,
"Gateway, third round" and "Gateway, fourth round" in docs/performance.md).

An echo service (ck_testkit.echo on the roster app, SQLite) runs in a subprocess on a vhost of
its own; this process drives 2,000 calls at a time, 50 in flight, alternately through variant
A (the client as the third round left it: publisher confirms on, every publish waiting for
the broker's ack) and variant B (the client as it is), and
reads time.process_time() around each batch: CPU of this process only, so the broker's and the
service's work and other processes on the machine do not count.

    uv run python bench/ab_rpc_client.py [--rounds 8]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ck_runtime.signing import new_key_pair

sys.path.insert(0, str(Path(__file__).parent))

from benchkit import isolated_vhost, metric

SERVICE = """
import asyncio, signal, sys, tempfile
from ck_roster.app import build
from ck_runtime.event_loop import run
from ck_runtime.service import ServiceRuntime
from ck_runtime.settings import ServiceSettings, load_settings
from ck_testkit.echo import echo_router

async def main(url: str) -> None:
    folder = tempfile.mkdtemp()
    settings = load_settings(ServiceSettings, "roster", amqp_url=url,
                             database_url=f"sqlite+aiosqlite:///{folder}/r.db", prefetch=64)
    service = build(settings)
    service.rpc = echo_router
    runtime = ServiceRuntime(service)
    await runtime.start()
    print("ready", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await runtime.stop()

run(main(sys.argv[1]))
"""


def variants() -> tuple[Any, Any]:
    from ck_contracts.messaging import REPLIES_EXCHANGE
    from ck_runtime.rpc_client import RpcClient

    class Before(RpcClient):
        """The client as the third round left it: publisher confirms on, so every publish
        waits for the broker's Basic.Ack (aiormq awaits it inside basic_publish)."""

        async def _open_channel(self) -> None:
            assert self._connection is not None
            self._channel = await self._connection.channel(
                publisher_confirms=True, on_return_raises=True
            )
            self._reply_queue = await self._channel.declare_queue(
                self._reply_to, exclusive=True, auto_delete=True
            )
            await self._reply_queue.bind(REPLIES_EXCHANGE, routing_key=self._reply_to)
            await self._reply_queue.consume(self._on_incoming, no_ack=True)

    return Before, RpcClient


async def batch(client: Any, calls: int, in_flight: int = 50) -> None:
    gate = asyncio.Semaphore(in_flight)

    async def one(i: int) -> None:
        async with gate:
            reply = await client.call("roster", "echo", {"text": f"t{i}"})
            assert reply.ok

    await asyncio.gather(*(one(i) for i in range(calls)))


async def compare(url: str, rounds: int) -> None:
    before_class, after_class = variants()
    clients = {"before": before_class(url, timeout=10), "after": after_class(url, timeout=10)}
    for client in clients.values():
        await client.start()
        await batch(client, 500)
    cpu: dict[str, list[float]] = {name: [] for name in clients}
    for n in range(rounds):
        order = list(clients.items()) if n % 2 == 0 else list(reversed(clients.items()))
        for name, client in order:
            started = time.process_time()
            await batch(client, 2000)
            cpu[name].append((time.process_time() - started) / 2)
    for client in clients.values():
        await client.stop()
    before, after = statistics.median(cpu["before"]), statistics.median(cpu["after"])
    metric("rpc_client_cpu_per_1000_before", before, "cpu-s")
    metric("rpc_client_cpu_per_1000", after, "cpu-s")
    metric("rpc_client_cpu_per_1000_vs_before", after / before, "ratio")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=8)
    args = parser.parse_args()
    os.environ["GATEWAY_RPC_SIGNING_KEY"], os.environ["RPC_VERIFY_KEYS"] = new_key_pair("bench")
    os.environ.setdefault("CK_DEV_MODE", "true")
    from ck_runtime.event_loop import run
    from ck_runtime.logs import configure_logging

    configure_logging("bench", "WARNING")
    with isolated_vhost() as url:
        service = subprocess.Popen(
            [sys.executable, "-c", SERVICE, url],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            assert service.stdout is not None
            while (line := service.stdout.readline()) and line.strip() != "ready":
                pass
            if line.strip() != "ready":
                raise SystemExit("the echo service did not start")
            run(compare(url, args.rounds))
        finally:
            service.terminate()
            service.wait(30)


if __name__ == "__main__":
    main()
