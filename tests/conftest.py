"""Cross-service fixtures: the whole system as separate processes (ck_devstack.Stack)."""

from __future__ import annotations

import secrets
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from ck_devstack import Stack
from ck_testkit.browser import chromium
from ck_testkit.portal import Portal


@pytest.fixture(scope="session")
def portal(amqp_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portal]:
    """Every service, the gateway and an SMTP server, each its own process, on SQLite."""
    data_dir: Path = tmp_path_factory.mktemp("portal")
    # Mails that failed while a test stopped the SMTP server are tried again after a second,
    # not after the production pause of half a minute.
    env = {"NOTIFIER_RETRY_BASE_SECONDS": "1", "NOTIFIER_RETRY_MAX_SECONDS": "2"}
    with Stack(data_dir, amqp_url, database_urls={}, env=env) as stack:
        password = secrets.token_urlsafe(18)
        stack.run_command(
            "accounts",
            "create-admin",
            "--email",
            "admin@cjp.test",
            "--name",
            "CJP beheer",
            input_text=password + "\n",
        )
        yield Portal(stack, "admin@cjp.test", password)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Debian's Chromium through Playwright (ck_testkit.browser), one per test module: the
    sync API keeps an event loop running in this thread while it lives, which later tests'
    asyncio.run() would trip over."""
    with chromium() as launched:
        yield launched


@pytest.fixture
def bench_on_path() -> Iterator[Path]:
    """bench/ on the import path, as its scripts run (they import benchkit by name)."""
    bench = Path(__file__).resolve().parents[1] / "bench"
    sys.path.insert(0, str(bench))
    try:
        yield bench
    finally:
        sys.path.remove(str(bench))
