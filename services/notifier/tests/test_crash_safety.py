"""A notifier killed with SIGKILL in the middle of a fan-out sends again at most the mails that
were on the wire (one per pool connection), never the rest of its pass.

Real processes: `ck-notifier serve` and `ck-smtp-sink` (writing .eml files), the real broker
(a virtual host of the test's own) and database. 2,000 invitation mails arrive as four
EmailsRequested events; when the sink holds a few hundred the notifier is killed, then started
again on the same database; at the end every Message-ID is at the sink at least once and the
mails sent twice are at most `smtp_connections`.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from uuid import uuid4

import pytest
from ck_contracts.notifier import EmailsRequested, MailItem, MailTemplate
from ck_notifier.smtp_sink import count_mails, mail_files
from ck_notifier.tables import mail_receipts, outgoing_mails
from ck_runtime.db import Database
from ck_testkit import free_port, publish_event
from sqlalchemy import func, select

MAILS = 2_000
PER_EVENT = 500
POOL = 4  # NOTIFIER_SMTP_CONNECTIONS: the bound on mails sent twice
KILL_AT = 300  # mails at the sink when the notifier is killed: mid-pass (a pass takes 400)
MESSAGE_ID = re.compile(rb"^Message-ID:\s*(\S+)", re.MULTILINE | re.IGNORECASE)


def message_ids(folder: Path) -> list[str]:
    ids = []
    for path in mail_files(folder):
        match = MESSAGE_ID.search(path.read_bytes())
        assert match, f"{path.name} has no Message-ID"
        ids.append(match.group(1).decode())
    return ids


@pytest.fixture
def sink(sink_command: object, smtp_port: int, mail_dir: Path) -> tuple[int, Path]:
    """The sink as its own process (conftest's sink_command): (port, mail folder)."""
    return smtp_port, mail_dir


def start_notifier(env: dict[str, str], health_port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "ck_notifier.cli", "serve"],
            env={**os.environ, **env},
            stdout=out,
            stderr=out,
        )
    deadline = time.monotonic() + 60  # start-up on a loaded machine: migrations, topology
    while True:
        assert process.poll() is None, log.read_text()[-2000:]
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{health_port}/health/ready", timeout=1):
                return process
        except OSError:
            assert time.monotonic() < deadline, "the notifier did not come up"
            time.sleep(0.2)


def build_events() -> tuple[list[EmailsRequested], set[str]]:
    events, expected = [], set()
    school = uuid4()
    for start in range(0, MAILS, PER_EVENT):
        items = []
        for n in range(start, start + PER_EVENT):
            mail_id = uuid4()
            expected.add(f"<{mail_id}@cjp.nl>")
            items.append(
                MailItem(
                    id=mail_id,
                    to=f"student{n}@roc-zuid.example",
                    context={
                        "voornaam": f"Student{n}",
                        "school_name": "ROC Zuid",
                        "link": f"https://portaal.example/activeren?code=K{n:09d}",
                        "code": f"K{n:09d}",
                    },
                )
            )
        events.append(
            EmailsRequested(school_id=school, template=MailTemplate.INVITATION, mails=items)
        )
    return events, expected


async def wait_for(check: Callable[[], bool], deadline: float) -> bool:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if check():
            return True
        await asyncio.sleep(0.05)
    return check()


async def test_a_killed_notifier_sends_again_at_most_the_mails_on_the_wire(
    private_amqp_url: str, database_url: str, sink: tuple[int, Path], tmp_path: Path
) -> None:
    smtp_port, folder = sink
    health = free_port()
    env = {
        "AMQP_URL": private_amqp_url,
        "NOTIFIER_DATABASE_URL": database_url,
        "NOTIFIER_HEALTH_PORT": str(health),
        "NOTIFIER_SMTP_PORT": str(smtp_port),
        "NOTIFIER_SMTP_CONNECTIONS": str(POOL),
        "NOTIFIER_LOG_LEVEL": "INFO",
    }
    log = tmp_path / "notifier.log"
    events, expected = build_events()
    notifier = start_notifier(env, health, log)
    try:
        for event in events:
            await publish_event(private_amqp_url, event)
        assert await wait_for(lambda: count_mails(folder) >= KILL_AT, deadline=180)
        notifier.send_signal(signal.SIGKILL)
        notifier.wait(10)
        at_kill = count_mails(folder)
        assert at_kill < MAILS  # killed in the middle of the fan-out

        notifier = start_notifier(env, health, log)
        assert await wait_for(lambda: len(set(message_ids(folder))) >= MAILS, deadline=300)
        await asyncio.sleep(1)  # anything sent twice after the last one would show now
    finally:
        notifier.terminate()
        notifier.wait(20)

    received = Counter(message_ids(folder))
    assert set(received) == expected  # every mail, and nothing else
    twice = sum(count - 1 for count in received.values())
    assert twice <= POOL, f"{twice} mails sent again after the kill at {at_kill}"

    db = Database(database_url)
    try:
        async with db.read() as session:
            statuses = dict(
                (
                    await session.execute(
                        select(outgoing_mails.c.status, func.count()).group_by(
                            outgoing_mails.c.status
                        )
                    )
                ).all()
            )
            receipts = (
                await session.execute(select(func.count()).select_from(mail_receipts))
            ).scalar_one()
            recipients = (
                await session.execute(
                    select(func.count()).where(outgoing_mails.c.recipient.is_not(None))
                )
            ).scalar_one()
    finally:
        await db.dispose()
    assert statuses == {"sent": MAILS}
    assert receipts == 0 and recipients == 0  # recorded, and no address kept
    print(f"killed at {at_kill} mails at the sink; sent twice: {twice} (bound {POOL})")
