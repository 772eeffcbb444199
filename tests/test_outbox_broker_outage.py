"""The outbox under a broker outage: RabbitMQ stops while schools are being registered and
comes back. Every school must reach the roster service once and every welcome mail must be
delivered once: nothing lost, nothing sent twice.

Real parts only: a private RabbitMQ node (ck_testkit.rabbit_node, stopped and started by the
test, so the machine's shared broker keeps serving everything else), SQLite databases, the
accounts, roster and notifier services in this process, and a real SMTP server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from ck_accounts.app import build as build_accounts
from ck_accounts.ops.admin import register_school
from ck_accounts.settings import get_settings as accounts_settings
from ck_accounts.tables import outbox as accounts_outbox
from ck_contracts.accounts import Person, RegisterSchool, SchoolSettings
from ck_notifier.app import build as build_notifier
from ck_notifier.settings import get_settings as notifier_settings
from ck_notifier.smtp_sink import SmtpSink, read_mails
from ck_roster.app import build as build_roster
from ck_runtime.known_schools import KNOWN_SCHOOLS
from ck_runtime.service import ServiceRuntime
from ck_runtime.settings import ServiceSettings, load_settings
from ck_testkit import eventually, free_port
from ck_testkit.rabbit_node import PrivateRabbit, available
from sqlalchemy import func, select

pytestmark = [
    pytest.mark.broker_outage,
    pytest.mark.skipif(not available(), reason="needs RabbitMQ installed (a private node)"),
]

SCHOOLS = 40


async def count(runtime: ServiceRuntime, table, where=None) -> int:  # type: ignore[no-untyped-def]
    query = select(func.count()).select_from(table)
    if where is not None:
        query = query.where(where)
    async with runtime.db.read() as session:
        return int((await session.execute(query)).scalar_one())


@pytest.fixture
def rabbit() -> Iterator[PrivateRabbit]:
    with PrivateRabbit() as node:
        yield node


async def test_nothing_lost_and_nothing_sent_twice(rabbit: PrivateRabbit, tmp_path: Path) -> None:
    amqp_url = rabbit.amqp_url
    smtp_port = free_port()
    sink = SmtpSink(tmp_path / "mail", "127.0.0.1", smtp_port)
    sink.start()
    accounts = ServiceRuntime(
        build_accounts(
            accounts_settings(amqp_url=amqp_url, data_dir=tmp_path, portal_url="http://portal.test")
        )
    )
    roster = ServiceRuntime(
        build_roster(load_settings(ServiceSettings, "roster", amqp_url=amqp_url, data_dir=tmp_path))
    )
    notifier = ServiceRuntime(
        build_notifier(notifier_settings(amqp_url=amqp_url, data_dir=tmp_path, smtp_port=smtp_port))
    )
    runtimes = [accounts, roster, notifier]
    for runtime in runtimes:
        await runtime.start()
    try:

        async def register(numbers: range, pause: float = 0.02) -> None:
            for i in numbers:
                await register_school(
                    accounts.db,
                    RegisterSchool(
                        settings=SchoolSettings(
                            name=f"School {i}", brin_codes=["00AA"], duo_student_count=100
                        ),
                        budget_holder=Person(name=f"Budgethouder {i}", email=f"bh{i}@school.test"),
                    ),
                    "http://portal.test",
                )
                await asyncio.sleep(pause)

        # Schools are being registered (the flow runs) when the broker stops under it.
        first = asyncio.create_task(register(range(0, 10), pause=0.1))
        await asyncio.sleep(0.3)
        await asyncio.to_thread(rabbit.stop)
        await first
        await register(range(10, 30))  # registered while the broker is down
        pending = await count(accounts, accounts_outbox, accounts_outbox.c.published_at.is_(None))
        assert pending >= 20  # their events wait in the outbox
        await asyncio.to_thread(rabbit.start)
        await register(range(30, SCHOOLS))  # and more while the services reconnect

        async def all_arrived() -> bool:
            return (
                await count(roster, KNOWN_SCHOOLS) == SCHOOLS
                and len(read_mails(tmp_path / "mail")) >= SCHOOLS
            )

        arrived = await eventually(all_arrived, deadline=120)
        assert arrived, (
            f"roster knows {await count(roster, KNOWN_SCHOOLS)} schools, "
            f"{len(read_mails(tmp_path / 'mail'))} mails arrived"
        )
        await asyncio.sleep(2)  # give a late duplicate the chance to show up
        mails = read_mails(tmp_path / "mail")
        recipients = sorted(str(m["To"]) for m in mails)
        assert recipients == sorted(f"bh{i}@school.test" for i in range(SCHOOLS))
        assert len({m["Message-ID"] for m in mails}) == SCHOOLS
        assert await count(roster, KNOWN_SCHOOLS) == SCHOOLS
        assert await count(accounts, accounts_outbox, accounts_outbox.c.published_at.is_(None)) == 0
    finally:
        for runtime in runtimes:
            await runtime.stop()
        sink.stop()
