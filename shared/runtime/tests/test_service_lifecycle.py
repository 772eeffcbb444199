"""Start-up, health, graceful shutdown and settings of a service."""

from __future__ import annotations

import asyncio
import gc
import json
import os
from urllib.parse import urlsplit, urlunsplit

import aio_pika
import aiormq.exceptions
import pytest
from ck_runtime import amqp
from ck_runtime.amqp import BrokerUnreachable, unreachable_message
from ck_runtime.rpc_client import RpcClient
from ck_runtime.service import ServiceRuntime
from ck_runtime.settings import ServiceSettings, load_settings
from ck_testkit.echo import echo_router


def build_runtime(amqp_url: str, database_url: str, **extra: object) -> ServiceRuntime:
    from ck_roster.app import build

    service = build(
        load_settings(
            ServiceSettings, "roster", amqp_url=amqp_url, database_url=database_url, **extra
        )
    )
    service.rpc = echo_router
    return ServiceRuntime(service)


async def http_get(port: int, path: str) -> tuple[int, dict[str, str]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    await writer.drain()
    raw = await reader.read()
    writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


async def test_health_endpoint_reports_database_and_broker(amqp_url: str, sqlite_url: str) -> None:
    runtime = build_runtime(amqp_url, sqlite_url, health_port=0)
    runtime.settings.health_port = 0
    await runtime.start()
    try:
        from ck_runtime.health import HealthServer

        server = HealthServer("127.0.0.1", 0, runtime.readiness)
        await server.start()
        for path in ("/health/ready", "/health"):
            status, body = await http_get(server.port, path)
            assert status == 200
            assert body == {"service": "roster", "database": "ok", "broker": "ok", "status": "ok"}
        status, body = await http_get(server.port, "/health/live")
        assert (status, body) == (200, {"service": "roster", "status": "ok"})
        status, _ = await http_get(server.port, "/other")
        assert status == 404
        await server.stop()
    finally:
        await runtime.stop()
    answer = await runtime.check_health()
    assert answer["broker"] == "unreachable" and answer["down"] == ["broker"]
    await runtime.db.dispose()  # the check after the stop opened a connection again


async def test_shutdown_lets_requests_in_flight_finish(amqp_url: str, sqlite_url: str) -> None:
    runtime = build_runtime(amqp_url, sqlite_url)
    await runtime.start()
    client = RpcClient(amqp_url, timeout=10)
    await client.start()
    call = asyncio.create_task(client.call("roster", "echo", {"text": "bye", "delay": 1.0}))
    await asyncio.sleep(0.4)  # the handler is now running
    await runtime.stop()
    reply = await call
    assert reply.ok and reply.result == {"text": "bye"}
    await client.stop()


async def test_unreachable_broker_is_one_clear_sentence(sqlite_url: str) -> None:
    url = "amqp://guest:guest@127.0.0.1:1/"
    runtime = build_runtime(url, sqlite_url)
    with pytest.raises(BrokerUnreachable) as failure:
        await runtime.start()
    assert str(failure.value) == unreachable_message(url)
    assert "rabbitmq-server -detached" in str(failure.value)
    await runtime.db.dispose()


async def test_a_connection_that_failed_to_open_is_closed(amqp_url: str) -> None:
    # Not left half-made to the garbage collector, whose __del__ cannot close it outside a
    # running loop ("coroutine 'Connection.close' was never awaited").
    def open_connections() -> set[int]:
        return {
            id(found)
            for found in gc.get_objects()
            if isinstance(found, aio_pika.RobustConnection) and not found.is_closed
        }

    # Compared as sets: another test's connection the collector frees meanwhile is no change.
    before = open_connections()
    parts = urlsplit(amqp_url)
    refused = parts._replace(netloc=f"nobody:wrong@{parts.hostname}:{parts.port or 5672}")
    for url in ("amqp://guest:guest@127.0.0.1:1/", urlunsplit(refused)):
        with pytest.raises((BrokerUnreachable, aiormq.exceptions.AMQPError)):
            await amqp.connect(url, "test-failed-open")
    assert open_connections() - before == set()


def test_service_prefix_wins_over_shared_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMQP_URL", "amqp://shared/")
    monkeypatch.setenv("ROSTER_AMQP_URL", "amqp://own/")
    monkeypatch.setenv("ROSTER_PREFETCH", "7")
    assert load_settings(ServiceSettings, "roster").amqp_url == "amqp://own/"
    assert load_settings(ServiceSettings, "budget").amqp_url == "amqp://shared/"
    assert load_settings(ServiceSettings, "roster").prefetch == 7
    assert "ROSTER_PREFETCH" in os.environ


def test_default_database_is_one_sqlite_file_per_service(tmp_path: object) -> None:
    settings = load_settings(ServiceSettings, "budget", data_dir=str(tmp_path))
    assert settings.resolved_database_url() == f"sqlite+aiosqlite:///{tmp_path}/budget.sqlite3"


def watch_dispose(runtime: ServiceRuntime) -> list[bool]:
    """A list that gets True when the stop reaches its last step (the database's dispose)."""
    disposed: list[bool] = []
    real_dispose = runtime.db.dispose

    async def dispose() -> None:
        disposed.append(True)
        await real_dispose()

    runtime.db.dispose = dispose  # type: ignore[method-assign]
    return disposed


async def test_a_stop_step_that_never_returns_does_not_keep_the_process_alive(
    amqp_url: str, sqlite_url: str
) -> None:
    """A broker that stops answering during shutdown (seen once: a teardown hung for 300 s in
    connection.close) costs one bounded step; the steps after it still run."""
    from structlog.testing import capture_logs

    runtime = build_runtime(amqp_url, sqlite_url)
    await runtime.start()
    connection = runtime._connection
    assert connection is not None
    real_close = connection.close
    never = asyncio.Event()

    async def close_that_hangs(*_: object, **__: object) -> None:
        await never.wait()

    connection.close = close_that_hangs  # type: ignore[method-assign]
    runtime.stop_step_seconds = 0.2
    disposed = watch_dispose(runtime)
    with capture_logs() as logs:
        # A guard against hanging the suite (without the bound this stop never returns), not
        # a timing assertion: the step's bound is 0.2 s.
        await asyncio.wait_for(runtime.stop(), 120)
    await real_close()
    events = [(e["event"], e.get("step")) for e in logs]
    assert ("service.stop_step_timed_out", "connection") in events
    assert disposed == [True]
    assert ("service.stopped", None) in events


async def test_a_stop_step_that_fails_is_logged_and_the_later_steps_still_run(
    amqp_url: str, sqlite_url: str
) -> None:
    from structlog.testing import capture_logs

    runtime = build_runtime(amqp_url, sqlite_url)
    await runtime.start()
    connection = runtime._connection
    assert connection is not None
    real_close = connection.close

    async def close_that_fails(*_: object, **__: object) -> None:
        raise RuntimeError("the broker went away mid-close")

    connection.close = close_that_fails  # type: ignore[method-assign]
    disposed = watch_dispose(runtime)
    with capture_logs() as logs:
        await runtime.stop()
    await real_close()
    events = [(e["event"], e.get("step")) for e in logs]
    assert ("service.stop_step_failed", "connection") in events
    assert disposed == [True]
    assert ("service.stopped", None) in events
