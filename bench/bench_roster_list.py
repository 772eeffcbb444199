"""The roster list (R-ROSTER-6) on a 50,000-person roster: server time of `roster.list`.

Measured in the service: the time of RpcRouter.dispatch (permission and school checks, count,
page query, reply model) for list requests with a text filter and a sort, on SQLite and on
PostgreSQL. A second school's roster of the same size lies beside it in the same table. The
target is a median under 50 ms.

    uv run python bench/bench_roster_list.py
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from benchkit import drop_postgres, median, metric, percentile, postgres_database

PEOPLE = 50_000
ROUNDS = 60
# (filter, sort, descending): what a school types into the list's filter boxes.
QUERIES: list[tuple[dict[str, Any], str, bool]] = [
    ({"achternaam": "jan"}, "voornaam", False),
    ({"voornaam": "em"}, "achternaam", True),
    ({"email": "gmail"}, "studiejaar", False),
    ({"klas": "2a"}, "email", True),
    ({"opleiding": "zorg", "studiejaar": 2}, "klas", False),
    ({"locatienaam": "haar", "statuses": ["nieuw", "actief"]}, "achternaam", False),
    ({"mobiel": "+316"}, "status", True),
    ({"brin": "25lp"}, "opleiding", False),
]


async def fill(url: str, school_id: uuid.UUID, other: uuid.UUID) -> None:
    from ck_contracts.roster import RosterKind
    from ck_roster import store
    from ck_roster.tables import known_schools, people
    from ck_runtime.db import Database
    from ck_runtime.migrations import upgrade_async
    from ck_testkit.rosters import student_people
    from sqlalchemy import update

    await upgrade_async("roster", url)
    db = Database(url)
    now = datetime.now(UTC)
    async with db.transaction() as session:
        for number, school in ((1, school_id), (2, other)):
            await session.execute(
                known_schools.insert().values(
                    school_id=school, school_number=number, updated_at=now
                )
            )
            rows = student_people(PEOPLE, seed=number)
            await store.insert_people(session, school, RosterKind.STUDENTS, rows, now)
        # Some statuses other than nieuw, as after invitations.
        await session.execute(
            update(people).where(people.c.studiejaar == 1).values(status="uitnodiging_verzonden")
        )
        await session.execute(
            update(people)
            .where(people.c.studiejaar == 2, people.c.klas_lower.like("%a%"))
            .values(status="actief")
        )
    # The steady state after a bulk load: statistics and (PostgreSQL) the visibility map, as
    # autovacuum leaves them shortly after an upload.
    maintenance = "ANALYZE" if db.sqlite else "VACUUM ANALYZE people"
    async with db.engine.connect() as conn:
        auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await auto.exec_driver_sql(maintenance)
    await db.dispose()


async def measure(url: str, label: str) -> None:
    from ck_contracts.roster import Ops
    from ck_contracts.rpc import RpcRequest
    from ck_roster.app import get_settings
    from ck_roster.ops import router
    from ck_runtime.db import Database

    school_id, other = uuid.uuid4(), uuid.uuid4()
    await fill(url, school_id, other)
    db = Database(url)
    settings = get_settings()
    actor = {"user_id": str(uuid.uuid4()), "role": "budgethouder", "school_id": str(school_id)}

    async def one(filt: dict[str, Any], sort: str, descending: bool, page: int = 1) -> float:
        payload = {
            "school_id": str(school_id),
            "kind": "students",
            "filter": filt,
            "sort": sort,
            "descending": descending,
            "page": page,
            "page_size": 50,
        }
        request = RpcRequest(op=Ops.LIST.name, actor=actor, payload=payload)
        start = time.perf_counter()
        reply = await router.dispatch(request, db, settings)
        elapsed = time.perf_counter() - start
        assert reply["ok"], reply
        return elapsed * 1000

    for query in QUERIES:  # warm up caches and statement preparation
        await one(*query)
    filtered = [await one(*QUERIES[i % len(QUERIES)]) for i in range(ROUNDS * len(QUERIES) // 4)]
    unfiltered = [await one({}, "achternaam", False) for _ in range(ROUNDS)]
    deep = [await one({}, "voornaam", True, page=500) for _ in range(ROUNDS // 2)]
    await db.dispose()
    metric(f"roster_list_{label}_people", PEOPLE, "people")
    metric(f"roster_list_{label}_filter_sort_median", median(filtered), "ms")
    metric(f"roster_list_{label}_filter_sort_p95", percentile(filtered, 95), "ms")
    metric(f"roster_list_{label}_default_page_median", median(unfiltered), "ms")
    metric(f"roster_list_{label}_page500_sort_voornaam_median", median(deep), "ms")


def main() -> None:
    with tempfile.TemporaryDirectory() as data:
        asyncio.run(measure(f"sqlite+aiosqlite:///{data}/roster.sqlite3", "sqlite"))
    name = postgres_database()
    if name is None:
        print("no PostgreSQL: skipped", file=sys.stderr)
        return
    try:
        asyncio.run(measure(f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}", "postgresql"))
    finally:
        drop_postgres(name)


if __name__ == "__main__":
    main()
