"""Fixtures every test folder shares: the real broker and the real databases.

Addresses come from the environment (TEST_AMQP_URL, TEST_POSTGRES_URL). Without them the local
servers of this machine are used (RabbitMQ on 5672, PostgreSQL on 5432); where neither answers
and a Docker engine exists, testcontainers starts them. Each test session gets its own
RabbitMQ virtual host and its own PostgreSQL databases, dropped at the end, so a test run never
touches the data of a running portal.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from ck_runtime.clock import OffsetClock, offset_to
from ck_runtime.signing import new_key_pair
from ck_testkit.broker import can_make_vhosts, virtual_host
from ck_testkit.clocks import MONDAY, installed

LOCAL_AMQP = "amqp://guest:guest@127.0.0.1:5672/"

# The test session's signing key pair (ck_runtime.signing): the RPC clients of the tests sign
# as the gateway does, the services verify; every process a test starts inherits both.
if not os.environ.get("GATEWAY_RPC_SIGNING_KEY"):
    os.environ["GATEWAY_RPC_SIGNING_KEY"], os.environ["RPC_VERIFY_KEYS"] = new_key_pair("test")
LOCAL_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _docker_available() -> bool:
    try:
        import docker

        docker.from_env().ping()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session", autouse=True)
def school_calendar() -> Iterator[OffsetClock]:
    """The whole test session runs on Monday 2 March 2026 from 09:00 UTC on (time flows from
    there): every service started in this process, and every process of a test stack
    (CK_CLOCK_OFFSET_SECONDS), reads this clock, so no test depends on the day it runs.
    Tests that move time install a ManualClock of their own on top."""
    clock = OffsetClock(offset_to(MONDAY))
    # Processes a test starts (command-line tools, stacks) read the same calendar.
    os.environ["CK_DEV_MODE"] = "true"
    os.environ["CK_CLOCK_OFFSET_SECONDS"] = repr(clock.offset.total_seconds())
    with installed(clock):
        yield clock


@pytest.fixture(scope="session")
def amqp_url() -> Iterator[str]:
    """A RabbitMQ virtual host of this test session's own."""
    yield from _virtual_host()


@pytest.fixture
def private_amqp_url() -> Iterator[str]:
    """A virtual host for one test alone: no other consumer of the session competes for its
    messages (the end-to-end stack keeps consuming on the session's vhost)."""
    yield from _virtual_host()


def _virtual_host() -> Iterator[str]:
    if url := os.environ.get("TEST_AMQP_URL"):
        yield url
        return
    if _port_open("127.0.0.1", 5672) and can_make_vhosts():
        with virtual_host() as url:
            yield url
        return
    if _port_open("127.0.0.1", 5672):
        yield LOCAL_AMQP
        return
    if _docker_available():
        from testcontainers.rabbitmq import RabbitMqContainer

        with RabbitMqContainer("rabbitmq:3.13") as container:
            host = container.get_container_host_ip()
            port = container.get_exposed_port(5672)
            yield f"amqp://guest:guest@{host}:{port}/"
        return
    pytest.fail("No RabbitMQ: start it with 'rabbitmq-server -detached' or set TEST_AMQP_URL.")


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    if url := os.environ.get("TEST_POSTGRES_URL"):
        yield url
        return
    if _port_open("127.0.0.1", 5432):
        yield LOCAL_POSTGRES
        return
    if _docker_available():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:16", driver="asyncpg") as container:
            yield container.get_connection_url()
        return
    pytest.fail("No PostgreSQL: start it (see README) or set TEST_POSTGRES_URL.")


async def _admin_execute(admin_url: str, statement: str) -> None:
    import asyncpg

    dsn = admin_url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture
def postgres_url(postgres_admin_url: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test."""
    name = f"ck_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin_execute(postgres_admin_url, f'CREATE DATABASE "{name}"'))
    base = postgres_admin_url.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        asyncio.run(
            _admin_execute(postgres_admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        )


@pytest.fixture
def fresh_postgres(postgres_admin_url: str) -> Iterator[Callable[[], str]]:
    """Makes fresh, empty PostgreSQL databases (one per service of a stack); all are dropped
    after the test."""
    made: list[str] = []
    base = postgres_admin_url.rsplit("/", 1)[0]

    def make() -> str:
        name = f"ck_test_{uuid.uuid4().hex[:12]}"
        asyncio.run(_admin_execute(postgres_admin_url, f'CREATE DATABASE "{name}"'))
        made.append(name)
        return f"{base}/{name}"

    try:
        yield make
    finally:
        for name in made:
            asyncio.run(
                _admin_execute(postgres_admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            )


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'service.sqlite3'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Runs the test once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'service.sqlite3'}"
    return str(request.getfixturevalue("postgres_url"))
