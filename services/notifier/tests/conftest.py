"""Fixtures of the notifier's tests: a real SMTP sink on a free port, the notifier running
in-process on the real broker and database, and a publisher of events through the broker."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import aio_pika
import pytest
from ck_contracts.messaging import Event
from ck_notifier.app import build
from ck_notifier.settings import NotifierSettings
from ck_notifier.smtp_sink import SmtpSink
from ck_runtime.outbox import ConfirmingPublisher
from ck_runtime.service import ServiceRuntime
from ck_runtime.settings import load_settings
from ck_testkit import free_port


@pytest.fixture
def smtp_port() -> int:
    return free_port()


@pytest.fixture
def mail_dir(tmp_path: Path) -> Path:
    return tmp_path / "mail"


@pytest.fixture
def sink_command(mail_dir: Path, smtp_port: int) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """The sink as its own process (`python -m ck_notifier.smtp_sink`, what ck-smtp-sink runs),
    once it listens: (the process, the line it printed then). Afterwards it is stopped with
    SIGTERM, must exit with 0, and its pipe is closed."""
    command = [sys.executable, "-m", "ck_notifier.smtp_sink"]
    process = subprocess.Popen(
        [*command, "--port", str(smtp_port), "--dir", str(mail_dir)],
        stdout=subprocess.PIPE,
        text=True,
    )
    with process:
        try:
            assert process.stdout is not None
            yield process, process.stdout.readline()
        finally:
            process.terminate()
            returncode = process.wait(10)
    assert returncode == 0


@pytest.fixture
async def sink(mail_dir: Path, smtp_port: int) -> AsyncIterator[SmtpSink]:
    """The SMTP sink, not yet started: tests start and stop it (in a thread: it blocks)."""
    server = SmtpSink(mail_dir, "127.0.0.1", smtp_port)
    yield server
    await asyncio.to_thread(server.stop)


class StartNotifier(Protocol):
    async def __call__(self, **overrides: object) -> ServiceRuntime: ...


@pytest.fixture
async def start_notifier(
    amqp_url: str, database_url: str, smtp_port: int
) -> AsyncIterator[StartNotifier]:
    """Starts the notifier in-process: real broker, real database, SMTP on smtp_port."""
    runtimes: list[ServiceRuntime] = []

    async def start(**overrides: object) -> ServiceRuntime:
        values: dict[str, object] = {
            "amqp_url": amqp_url,
            "database_url": database_url,
            "smtp_port": smtp_port,
            "smtp_timeout_seconds": 5.0,
            "retry_base_seconds": 0.05,
            "retry_max_seconds": 0.2,
            "poll_seconds": 0.1,
            "graceful_timeout": 5.0,
        }
        values.update(overrides)
        runtime = ServiceRuntime(build(load_settings(NotifierSettings, "notifier", **values)))
        await runtime.start()
        runtimes.append(runtime)
        return runtime

    yield start
    for runtime in reversed(runtimes):
        await runtime.stop()


Publish = Callable[[Event | dict[str, Any]], Awaitable[None]]


@pytest.fixture
async def publish(amqp_url: str) -> AsyncIterator[Publish]:
    """Publishes an event (or a raw envelope) to the events exchange, as every service's outbox
    relay does: persistent, with publisher confirms, the event id as message id."""
    connection = await aio_pika.connect_robust(amqp_url)
    publisher = ConfirmingPublisher(connection)

    async def send(event: Event | dict[str, Any]) -> None:
        body = event.envelope() if isinstance(event, Event) else event
        await publisher.publish(
            [
                {
                    "id": body["id"],
                    "routing_key": body["type"],
                    "body": body,
                    "correlation_id": body.get("correlation_id"),
                }
            ]
        )

    yield send
    await connection.close()
