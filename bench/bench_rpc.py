"""Request/reply throughput of our RpcClient.

It calls a service process (a separate OS process, real RabbitMQ) whose handler awaits 5 ms,
with 50 callers in flight. Then the full chain caller -> accounts service -> database -> reply
(auth.session, one indexed SELECT) on SQLite and on PostgreSQL.

FastStream's `broker.request()`, the first baseline here (docs/architecture.md), is no longer
run: it waits on Direct Reply-To, and since signed requests (issue 10) the services answer
through the `cultuurkaart.replies` exchange, which Direct Reply-To cannot receive from. Its
requests timed out.

    uv run python bench/bench_rpc.py
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from benchkit import (
    drop_postgres,
    free_port,
    isolated_vhost,
    median,
    metric,
    percentile,
    postgres_database,
    python,
    service_process,
)

IN_FLIGHT = 50
CALLS = 1500


async def run_load(
    call: Callable[[], Awaitable[None]], calls: int = CALLS, in_flight: int = IN_FLIGHT
) -> tuple[float, list[float]]:
    """Returns (requests per second, latencies in ms)."""
    latencies: list[float] = []
    remaining = calls

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            started = time.perf_counter()
            await call()
            latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    return calls / (time.perf_counter() - started), latencies


async def bench_echo(amqp_url: str) -> None:
    from ck_runtime.rpc_client import RpcClient

    payload = {"text": "ping", "delay": 0.005}

    client = RpcClient(amqp_url, timeout=30)
    await client.start()

    async def ours() -> None:
        reply = await client.call("roster", "echo", payload)
        assert reply.ok

    await run_load(ours, calls=200)  # warm-up
    ours_rps, ours_lat = await run_load(ours)
    await client.stop()

    metric("rpc_echo5ms_rpcclient_rps", ours_rps, "req/s")
    metric("rpc_echo5ms_rpcclient_p50", median(ours_lat), "ms")
    metric("rpc_echo5ms_rpcclient_p99", percentile(ours_lat, 99), "ms")


async def bench_database_chain(amqp_url: str, label: str) -> None:
    from ck_runtime.rpc_client import RpcClient

    client = RpcClient(amqp_url, timeout=30)
    await client.start()

    async def session_lookup() -> None:
        reply = await client.call("accounts", "auth.session", {"token": "x" * 43})
        assert reply.error is not None and reply.error.code == "unauthenticated"

    await run_load(session_lookup, calls=200)
    rps, latencies = await run_load(session_lookup)
    await client.stop()
    metric(f"rpc_accounts_session_{label}_rps", rps, "req/s")
    metric(f"rpc_accounts_session_{label}_p50", median(latencies), "ms")
    metric(f"rpc_accounts_session_{label}_p99", percentile(latencies, 99), "ms")
    metric(f"rpc_accounts_session_{label}_in_flight", IN_FLIGHT, "requests")


def main() -> None:
    with isolated_vhost() as amqp_url, tempfile.TemporaryDirectory() as data:
        port = free_port()
        env = {
            "AMQP_URL": amqp_url,
            "ROSTER_DATABASE_URL": f"sqlite+aiosqlite:///{data}/r.db",
            "ROSTER_HEALTH_PORT": str(port),
            "ROSTER_PREFETCH": "64",
            "ROSTER_LOG_LEVEL": "WARNING",
        }
        with service_process([python(), "-m", "ck_testkit.echo_service"], env, port, "echo"):
            asyncio.run(bench_echo(amqp_url))

        databases = {"sqlite": f"sqlite+aiosqlite:///{data}/accounts.db"}
        pg = postgres_database()
        if pg:
            databases["postgresql"] = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{pg}"
        try:
            for label, url in databases.items():
                port = free_port()
                env = {
                    "AMQP_URL": amqp_url,
                    "ACCOUNTS_DATABASE_URL": url,
                    "ACCOUNTS_HEALTH_PORT": str(port),
                    "ACCOUNTS_PREFETCH": "32",
                    "ACCOUNTS_LOG_LEVEL": "WARNING",
                }
                with service_process(
                    [python(), "-m", "ck_accounts.cli", "serve"], env, port, f"accounts-{label}"
                ):
                    asyncio.run(bench_database_chain(amqp_url, label))
        finally:
            if pg:
                drop_postgres(pg)


if __name__ == "__main__":
    main()
