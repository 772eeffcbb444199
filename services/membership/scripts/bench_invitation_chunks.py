"""How long the membership service takes for InvitationsRequested chunks of 500 people.

A 50,000-person invitation (R-MEMBER-2) is 100 chunks. Each chunk is handled as the consumer
does it (inbox claim, look-ups, bulk insert or resend update, EmailsRequested and
InvitationsSent into the outbox, one transaction), first as a new invitation for everyone, then
as a second click (every invitation is resent with its code). 80% of the people have an
e-mail address. SQLite in a temporary folder; PostgreSQL on 127.0.0.1:5432 when it answers
(BENCH_POSTGRES_ADMIN_URL to point elsewhere). No broker: the relay is not part of the figure.
Wall time and this process's CPU time are printed per chunk.

    uv run python services/membership/scripts/bench_invitation_chunks.py
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
import uuid

import asyncpg
from ck_contracts.membership import InvitationsRequested, Invitee
from ck_contracts.roster import RosterKind
from ck_membership.consumers import roster_consumer
from ck_runtime.clock import SystemClock
from ck_runtime.db import Database
from ck_runtime.logs import configure_logging
from ck_runtime.migrations import upgrade_async

CHUNKS = 100
CHUNK = 500
ADMIN_URL = os.environ.get(
    "BENCH_POSTGRES_ADMIN_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)


def metric(name: str, value: float, unit: str) -> None:
    print(f"metric {name} {value:.4g} {unit}", flush=True)


def chunks(school: uuid.UUID) -> list[list[Invitee]]:
    return [
        [
            Invitee(
                person_id=uuid.uuid4(),
                email=f"leerling{c}.{i}@example.nl" if i % 5 else "",
                voornaam=f"Leerling {i}",
            )
            for i in range(CHUNK)
        ]
        for c in range(CHUNKS)
    ]


async def run(backend: str, url: str) -> None:
    await upgrade_async("membership", url)
    db = Database(url)
    consumer = roster_consumer("https://portal.example", SystemClock())
    school = uuid.uuid4()
    people = chunks(school)
    try:
        for label in ("new", "resend"):
            request_id = uuid.uuid4()
            times, cpu = [], []
            for chunk in people:
                event = InvitationsRequested(
                    school_id=school,
                    request_id=request_id,
                    kind=RosterKind.STUDENTS,
                    school_name="Nova College",
                    school_number=10289,
                    people=chunk,
                )
                body = event.envelope()
                start, start_cpu = time.perf_counter(), time.process_time()
                assert await consumer.handle(body, db)
                times.append(time.perf_counter() - start)
                cpu.append(time.process_time() - start_cpu)
            name = f"membership_chunk_{label}_{backend}"
            metric(f"{name}_median", statistics.median(times) * 1000, "ms")
            metric(f"{name}_max", max(times) * 1000, "ms")
            # This process's CPU (all its threads): the part that does not grow with the load
            # of other programs on the machine (PostgreSQL's own work is not in it).
            metric(f"{name}_cpu_median", statistics.median(cpu) * 1000, "ms")
            metric(f"membership_50000_{label}_{backend}_total", sum(times), "s")
    finally:
        await db.dispose()


async def admin(statement: str) -> None:
    conn = await asyncpg.connect(ADMIN_URL.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        await run("sqlite", f"sqlite+aiosqlite:///{folder}/membership.sqlite3")
    name = f"ck_bench_{uuid.uuid4().hex[:8]}"
    try:
        await admin(f'CREATE DATABASE "{name}"')
    except (OSError, asyncpg.PostgresError) as exc:
        print(f"PostgreSQL skipped: {exc}")
        return
    try:
        await run("postgresql", f"{ADMIN_URL.rsplit('/', 1)[0]}/{name}")
    finally:
        await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    configure_logging("membership", "WARNING", json=True)
    asyncio.run(main())
