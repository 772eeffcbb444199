"""60 schools of 50,000 people on PostgreSQL (issue 15, capability 4): does one school's work
cost the same with 1 school loaded as with 60?

Two portals side by side, each a stack of its own (ck_devstack.Stack: accounts, roster,
membership, budget, weborders, gateway; a vhost of its own on a private RabbitMQ node when the
machine can start one) whose roster, membership, budget and weborders run on PostgreSQL
databases of their own, made by the services' own Alembic migrations at start (names
`ck_scale_<run>_<one|many>_<service>`, a prefix no test uses; dropped at the end). On each
portal a CJP admin registers a school, its budget holder sets a password from the welcome
link, a provider gets an API key. The "many" portal's databases then get SCHOOLS - 1 more
schools bulk loaded on the server (INSERT ... SELECT; the roster's people copied from a
template roster that the roster's own store.insert_people wrote, so keys, digests and
lower-cased shadows are what an upload makes; statuses, invitations, memberships, the budget's
balances, ledger, debits, membership projection and allocations, the weborders' roster
projection, member cards and 200 weborders with participants per school), then VACUUM
ANALYZE as autovacuum would leave them and a CHECKPOINT (the load's dirty pages written before
anything is measured). Then, on each portal's own school:

  1. upload: POST .../roster/students/upload of a 50,000-row file into an empty roster, until
     the reply arrived and RosterUploaded was published; UPLOADS samples per portal, each into
     a school of its own (registered with the portal's first one), the same file on both
     portals, which portal goes first alternating, the medians compared. Next to the wall time
     the CPU seconds of the roster and its database backends and of the whole stack (the
     figures to trust on a shared machine), and per sample the table counters (blocks read
     and hit, sequential scans) of the roster, membership and weborders databases;
  2. people page: GET .../roster/students/people with a text filter and a sort through the
     gateway, 8 filter/sort combinations, median of ROUNDS each, the portals alternating;
  3. invitation run: POST .../roster/students/invitations {"all": true}, until the run's
     status left `queued`: membership handled every chunk, made the codes and asked the
     notifier for every mail. No notifier runs: sending does not depend on the number of
     schools (bench_invitations.py and bench_notifier_mails.py measure it);
  4. weborder approval: a provider's weborder, the budget holder's decision (JSON API), until
     WeborderSettled was published (weborders -> budget debit -> weborders), median of
     APPROVALS, the portals alternating.

    uv run python bench/bench_scale.py                              # 60 schools of 50,000
    uv run python bench/bench_scale.py --schools 6 --people 5000    # a quick run
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aio_pika
import httpx

sys.path.insert(0, str(Path(__file__).parent))

from benchkit import (
    School,
    admin_client,
    cpu_seconds,
    create_admin,
    create_database,
    drop_database,
    event_queue,
    median,
    metric,
    on_shared_node,
    private_vhosts,
    register_school,
    timed_upload,
    wait_for_school,
)

DB_SERVICES = ("roster", "membership", "budget", "weborders")
ADMIN_EMAIL = "scale@cjp.test"
ROUNDS = 5  # per people-page query
APPROVALS = 12
UPLOADS = 5  # upload samples per side, each into an empty roster of a school of its own
SETTLE = 12.0  # s before and after an upload: consumers done, table counters flushed (PG 15)
# (query parameters) as a school types them into the list's filter boxes, with a sort.
PAGE_QUERIES: list[dict[str, str]] = [
    {"achternaam": "jan", "sort": "voornaam"},
    {"voornaam": "em", "sort": "achternaam", "descending": "true"},
    {"email": "gmail", "sort": "studiejaar"},
    {"klas": "2a", "sort": "email", "descending": "true"},
    {"opleiding": "zorg", "studiejaar": "2", "sort": "klas"},
    {"locatienaam": "haar", "status": "nieuw", "sort": "achternaam"},
    {"mobiel": "+316", "sort": "status", "descending": "true"},
    {"brin": "25lp", "sort": "opleiding"},
]
LOADED_NUMBER_BASE = 900_000  # school numbers of the bulk-loaded schools (the portal's are small)


# --- databases ---------------------------------------------------------------------------------
def create_databases(run: str) -> dict[str, str]:
    """service -> database name; a prefix no test uses (tests: ck_test_*)."""
    names = {service: f"ck_scale_{run}_{service}" for service in DB_SERVICES}
    for name in names.values():
        if not create_database(name):
            raise OSError(f"could not create {name}")
    return names


def drop_databases(names: dict[str, str]) -> None:
    for name in names.values():
        drop_database(name)


def dsn(name: str) -> str:
    return f"postgresql://postgres@127.0.0.1:5432/{name}"


# --- the bulk load -------------------------------------------------------------------------------
# Person n (1..people) of loaded school k has the id md5('ck-scale-k-n')::uuid in every database,
# so each service's rows name the same people without one database reading another's.
# Statuses by n % 10: 0-2 active member (used invitation, membership, budget projection, member
# card), 3-6 invited (open invitation), 7-9 new.
PERSON_ID = "md5('ck-scale-' || {k} || '-' || {n})::uuid"
INVITATION_ID = "md5('ck-scale-invitation-' || {k} || '-' || n)::uuid"


@dataclass(frozen=True)
class Loaded:
    number: int  # school number
    school_id: uuid.UUID


def loaded_schools(count: int) -> list[Loaded]:
    return [
        Loaded(LOADED_NUMBER_BASE + k, uuid.uuid5(uuid.NAMESPACE_URL, f"ck-scale-school-{k}"))
        for k in range(1, count + 1)
    ]


async def load_known_schools(conn: Any, schools: list[Loaded]) -> None:
    await conn.executemany(
        "INSERT INTO known_schools (school_id, school_number, duo_student_count, name, updated_at)"
        " VALUES ($1, $2, 50000, $3, now())",
        [(s.school_id, s.number, f"Schaal College {s.number}") for s in schools],
    )


async def load_roster(
    url: str, schools: list[Loaded], people: int, say: Callable[[str], None]
) -> None:
    """The template roster through the roster's own store (store.insert_people: the keys,
    digests and lower-cased shadows as an upload makes them), copied per school on the server
    with the deterministic ids, statuses as after invitations."""
    import asyncpg
    from ck_contracts.roster import RosterKind
    from ck_roster import store
    from ck_roster.tables import people as people_table
    from ck_runtime.db import Database
    from ck_testkit.rosters import student_people

    template = uuid.uuid4()
    db = Database(f"postgresql+asyncpg://{url.removeprefix('postgresql://')}")
    rows = student_people(people, seed=3)
    async with db.transaction() as session:
        await store.insert_people(session, template, RosterKind.STUDENTS, rows, _now())
    await db.dispose()
    copied = [
        c.name
        for c in people_table.columns
        if c.name not in ("id", "school_id", "status", "created_at", "updated_at")
    ]
    columns = ", ".join(copied)
    conn = await asyncpg.connect(url)
    try:
        await load_known_schools(conn, schools)
        for index, school in enumerate(schools, start=1):
            k = school.number
            await conn.execute(
                f"INSERT INTO people (id, school_id, status, created_at, updated_at, {columns}) "
                f"SELECT {PERSON_ID.format(k=k, n='n')}, $1, "
                "CASE WHEN n % 10 < 3 THEN 'actief' WHEN n % 10 < 7 THEN "
                "'uitnodiging_verzonden' ELSE 'nieuw' END, now(), now(), "
                f"{columns} FROM (SELECT *, row_number() OVER (ORDER BY achternaam_lower, id) AS n"
                " FROM people WHERE school_id = $2) AS t",
                school.school_id,
                template,
            )
            await conn.execute(
                "INSERT INTO invitation_runs (id, school_id, kind, requested, chunks, "
                "chunks_handled, queued, sent, created_at, updated_at) "
                "VALUES ($1, $2, 'students', $3, $4, $4, $3, $3, now(), now())",
                uuid.uuid4(),
                school.school_id,
                people,
                max(1, people // 500),
            )
            if index % 10 == 0:
                say(f"roster: {index} schools")
        await conn.execute("DELETE FROM people WHERE school_id = $1", template)
    finally:
        await conn.close()


async def load_membership(url: str, schools: list[Loaded], people: int) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await load_known_schools(conn, schools)
        for index, school in enumerate(schools):
            k = school.number
            # Codes: 12 hex digits of a running number, unique over every school.
            await conn.execute(
                "INSERT INTO invitations (id, school_id, person_id, kind, code, status, "
                "school_name, created_at, last_sent_at, send_count, closed_at, reminders_sent) "
                f"SELECT {INVITATION_ID.format(k=k)}, $1, {PERSON_ID.format(k=k, n='n')}, "
                "'students', "
                "upper(lpad(to_hex($2::bigint * 1000000 + n), 12, '0')), "
                "CASE WHEN n % 10 < 3 THEN 'used' ELSE 'open' END, $3, now(), now(), 1, "
                "CASE WHEN n % 10 < 3 THEN now() END, 0 "
                "FROM generate_series(1, $4) AS n WHERE n % 10 < 7",
                school.school_id,
                index,
                f"Schaal College {k}",
                people,
            )
            await conn.execute(
                "INSERT INTO memberships (person_id, school_id, kind, card_number, status, "
                "invitation_id, activated_at) "
                f"SELECT {PERSON_ID.format(k=k, n='n')}, $1, 'students', "
                "lpad(($2::bigint * 1000000 + n)::text, 13, '0'), 'active', "
                f"{INVITATION_ID.format(k=k)}, now() FROM generate_series(1, $3) AS n "
                "WHERE n % 10 < 3",
                school.school_id,
                k,
                people,
            )
    finally:
        await conn.close()


async def load_budget(url: str, schools: list[Loaded], people: int) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await load_known_schools(conn, schools)
        for school in schools:
            k, sid = school.number, school.school_id
            await conn.execute(
                "INSERT INTO balances (school_id, balance_cents, assignable_cents, updated_at) "
                "VALUES ($1, 1000000, 0, now())",
                sid,
            )
            await conn.execute(
                "INSERT INTO ledger_entries (school_id, at, description, amount_cents, "
                "balance_cents) SELECT $1, now(), 'Weborder', -100, 1000000 "
                "FROM generate_series(1, 200)",
                sid,
            )
            await conn.execute(
                "INSERT INTO debits (reference_id, school_id, kind, amount_cents, description, "
                "debited_at) SELECT gen_random_uuid(), $1, 'weborder', 100, 'Weborder', now() "
                "FROM generate_series(1, 200)",
                sid,
            )
            await conn.execute(
                "INSERT INTO student_memberships (person_id, school_id, active, removed, "
                f"updated_at, card_number) SELECT {PERSON_ID.format(k=k, n='n')}, $1, true, false, "
                "now(), lpad(($2::bigint * 1000000 + n)::text, 13, '0') "
                "FROM generate_series(1, $3) AS n WHERE n % 10 < 3",
                sid,
                k,
                people,
            )
            await conn.execute(
                "INSERT INTO allocations (person_id, school_id, allocated_cents, spent_cents, "
                f"updated_at) SELECT {PERSON_ID.format(k=k, n='n')}, $1, 2100, 0, now() "
                "FROM generate_series(1, $2) AS n WHERE n % 10 = 0",
                sid,
                people,
            )
    finally:
        await conn.close()


async def load_weborders(url: str, schools: list[Loaded], people: int) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await load_known_schools(conn, schools)
        provider = uuid.uuid4()
        await conn.execute(
            "INSERT INTO providers (id, name, kvk_number, contact_name, contact_email, "
            "created_at) VALUES ($1, 'Schaal Theater', '99999999', 'Piet', 'p@theater.test', "
            "now())",
            provider,
        )
        for school in schools:
            k, sid = school.number, school.school_id
            await conn.execute(
                "INSERT INTO roster_people (person_id, school_id, kind) "
                f"SELECT {PERSON_ID.format(k=k, n='n')}, $1, 'students' "
                "FROM generate_series(1, $2) AS n",
                sid,
                people,
            )
            await conn.execute(
                "INSERT INTO member_cards (card_hash, person_id, school_id) "
                f"SELECT encode(sha256(('card-' || $2::int || '-' || n)::bytea), 'hex'), "
                f"{PERSON_ID.format(k=k, n='n')}, $1 FROM generate_series(1, $3) AS n "
                "WHERE n % 10 < 3",
                sid,
                k,
                people,
            )
            # 200 weborders a school, decided, with 25 participants each.
            await conn.execute(
                "INSERT INTO weborders (id, school_id, provider_id, status, school_number, "
                "activity, activity_date, participants, amount_cents, provider_reference, "
                "docent_plus_email, reason, created_at, decided_at, settled_at) "
                "SELECT md5('wo-' || $3::int || '-' || w)::uuid, $1, $2, 'goedgekeurd', $3, "
                "'Voorstelling', current_date, 25, 100, 'SCALE', '', '', now(), now(), now() "
                "FROM generate_series(1, 200) AS w",
                sid,
                provider,
                k,
            )
            await conn.execute(
                "INSERT INTO weborder_participants (weborder_id, person_id, school_id) "
                "SELECT md5('wo-' || $2::int || '-' || w)::uuid, "
                f"{PERSON_ID.format(k=k, n='((w * 25 + p) % $3 + 1)')}, $1 "
                "FROM generate_series(1, 200) AS w, generate_series(0, 24) AS p",
                sid,
                k,
                people,
            )
    finally:
        await conn.close()


async def vacuum(url: str) -> None:
    """The steady state after a bulk load: statistics and the visibility map, as autovacuum
    leaves them a little while later."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()


async def checkpoint(url: str) -> None:
    """Write the load's dirty pages now (the whole cluster: one CHECKPOINT), so that the
    measurements after it do not pay for them, nor for the full-page images that the first
    change of each page after a checkpoint costs while it is running."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute("CHECKPOINT")
    finally:
        await conn.close()


async def bulk_load(names: dict[str, str], count: int, people: int) -> float:
    """Load `count` schools into the four databases at once; the seconds it took."""
    schools = loaded_schools(count)
    start = time.perf_counter()

    def say(text: str) -> None:
        print(f"  load {time.perf_counter() - start:6.1f} s  {text}", file=sys.stderr, flush=True)

    await asyncio.gather(
        load_roster(dsn(names["roster"]), schools, people, say),
        load_membership(dsn(names["membership"]), schools, people),
        load_budget(dsn(names["budget"]), schools, people),
        load_weborders(dsn(names["weborders"]), schools, people),
    )
    say("rows in, VACUUM ANALYZE")
    await asyncio.gather(*(vacuum(dsn(name)) for name in names.values()))
    say("CHECKPOINT")
    await checkpoint(dsn(names["roster"]))
    return time.perf_counter() - start


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


# --- a school of the portal ----------------------------------------------------------------------
@dataclass
class Side:
    """One portal of the comparison: its stack, school and what it measures with."""

    label: str  # "1_school", "60_schools"
    stack: Any
    school: School  # the school of the page, invitation and approval figures
    upload_schools: list[School]  # one empty roster per upload sample; the first is `school`
    key: str  # a provider's API key
    databases: dict[str, str]  # service -> database name

    @property
    def budget_url(self) -> str:
        return dsn(self.databases["budget"])


def roster_file(people: int, seed: int) -> bytes:
    """Every student has an e-mail address, so every invitation is a mail."""
    from ck_testkit.rosters import student_rows, student_xlsx

    rows = []
    for index, row in enumerate(student_rows(people, seed=seed)):
        email = row[2] or f"leerling{index}.{seed}@student.roc.nl"
        rows.append((row[0], row[1], email, *row[3:]))
    return student_xlsx(rows)


# --- what an upload read: PostgreSQL's table counters ---------------------------------------------
IO_SERVICES = ("roster", "membership", "weborders")
# Per table: sequential scans and the rows they read, index scans, blocks read (not in shared
# buffers) and hit, heap and indexes together.
TABLE_IO = (
    "SELECT relname, s.seq_scan, s.seq_tup_read, coalesce(s.idx_scan, 0), "
    "coalesce(io.heap_blks_read, 0) + coalesce(io.idx_blks_read, 0), "
    "coalesce(io.heap_blks_hit, 0) + coalesce(io.idx_blks_hit, 0) "
    "FROM pg_stat_user_tables AS s JOIN pg_statio_user_tables AS io USING (relid, relname)"
)
Counters = dict[tuple[str, str], tuple[int, ...]]


async def tables_io(databases: dict[str, str]) -> Counters:
    """(service, table) -> (seq scans, rows they read, index scans, blocks read, blocks hit)."""
    import asyncpg

    counters: Counters = {}
    for service in IO_SERVICES:
        conn = await asyncpg.connect(dsn(databases[service]))
        try:
            for row in await conn.fetch(TABLE_IO):
                counters[(service, row[0])] = tuple(int(v) for v in row[1:])
        finally:
            await conn.close()
    return counters


def io_delta(before: Counters, after: Counters) -> str:
    """Per service the blocks read and hit, and every table a sequential scan read rows of."""
    parts = []
    for service in IO_SERVICES:
        read = hit = 0
        scans = []
        for (svc, table), values in after.items():
            if svc != service:
                continue
            old = before.get((svc, table), (0,) * len(values))
            seq, rows, _, blocks_read, blocks_hit = (
                a - b for a, b in zip(values, old, strict=True)
            )
            read, hit = read + blocks_read, hit + blocks_hit
            if rows:
                scans.append(f"{table} seq {seq}x {rows} rows")
        parts.append(f"{service} read {read} hit {hit}" + "".join(f", {s}" for s in scans))
    return "; ".join(parts)


async def cpu_used(side: Side, components: tuple[str, ...]) -> dict[int, float]:
    """pid -> CPU seconds so far of these processes of the side's stack and of the PostgreSQL
    backends on their databases (same machine: /proc): an upload's CPU wherever it is spent."""
    import asyncpg

    pids = [side.stack.processes[name].pid for name in components]
    databases = [side.databases[name] for name in components if name in side.databases]
    conn = await asyncpg.connect(dsn(side.databases["roster"]))
    try:
        pids += [
            row[0]
            for row in await conn.fetch(
                "SELECT pid FROM pg_stat_activity WHERE datname = ANY($1::text[]) "
                "AND pid <> pg_backend_pid()",
                databases,
            )
        ]
    finally:
        await conn.close()
    used = {}
    for pid in pids:
        with contextlib.suppress(OSError):
            used[pid] = cpu_seconds(pid)
    return used


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds between the two readings (a backend that ended in between is not counted:
    the roster's pool keeps its connections)."""
    return sum(value - before.get(pid, 0.0) for pid, value in after.items())


# --- the four measurements ---------------------------------------------------------------------
async def people_pages(sides: list[Side]) -> dict[str, float]:
    """Median ms of the filtered, sorted first page over every query, ROUNDS each, the two
    portals' requests alternating (which goes first alternates too)."""
    times: dict[str, list[float]] = {side.label: [] for side in sides}
    async with contextlib.AsyncExitStack() as exits:
        clients = {
            side.label: await exits.enter_async_context(
                httpx.AsyncClient(base_url=side.stack.portal_url, timeout=30)
            )
            for side in sides
        }

        async def one(side: Side, query: dict[str, str]) -> float:
            start = time.perf_counter()
            reply = await clients[side.label].get(
                f"/api/v1/schools/{side.school.school_id}/roster/students/people",
                params={**query, "page_size": "50"},
                headers={"Authorization": f"Bearer {side.school.token}"},
            )
            elapsed = (time.perf_counter() - start) * 1000
            reply.raise_for_status()
            return elapsed

        for side in sides:  # warm up
            for query in PAGE_QUERIES:
                await one(side, query)
        for round_ in range(ROUNDS):
            for index, query in enumerate(PAGE_QUERIES):
                order = sides if (round_ + index) % 2 == 0 else sides[::-1]
                for side in order:
                    times[side.label].append(await one(side, query))
    return {label: median(values) for label, values in times.items()}


async def invitation_run(portal_url: str, school: School, people: int) -> float:
    """Seconds until every mail of the run was queued for the notifier (the run's status left
    `queued`: membership handled every chunk, made the codes and asked for the mails)."""
    headers = {"Authorization": f"Bearer {school.token}"}
    base = f"/api/v1/schools/{school.school_id}/roster/students/invitations"
    async with httpx.AsyncClient(base_url=portal_url, timeout=120) as http:
        start = time.perf_counter()
        reply = await http.post(base, headers=headers, json={"all": True})
        reply.raise_for_status()
        assert reply.json()["requested"] == people, reply.json()
        run = f"{base}/{reply.json()['request_id']}"
        status: Any = None
        while time.perf_counter() - start < 900:
            polled = await http.get(run, headers=headers)
            if polled.status_code >= 500:  # the gateway's RPC timed out on a busy machine
                status = polled.text
                await asyncio.sleep(0.25)
                continue
            polled.raise_for_status()
            status = polled.json()
            if status["status"] != "queued":
                assert status["queued"] == people, status
                return time.perf_counter() - start
            await asyncio.sleep(0.25)
    raise RuntimeError(f"the invitation run did not finish: {status}")


async def give_budget(side: Side) -> None:
    """Budget to approve against, as after a paid order (the order itself is not measured)."""
    import asyncpg

    conn = await asyncpg.connect(side.budget_url)
    try:
        await conn.execute(
            "INSERT INTO balances (school_id, balance_cents, assignable_cents, updated_at) "
            "VALUES ($1, 100000000, 0, now()) ON CONFLICT (school_id) DO UPDATE "
            "SET balance_cents = balances.balance_cents + 100000000",
            uuid.UUID(side.school.school_id),
        )
    finally:
        await conn.close()


async def approvals(sides: list[Side]) -> dict[str, float]:
    """Median ms from the budget holder's approval until WeborderSettled, over APPROVALS,
    the two portals alternating."""
    from bench_weborders import weborder_body

    times: dict[str, list[float]] = {side.label: [] for side in sides}
    async with contextlib.AsyncExitStack() as exits:
        clients, queues = {}, {}
        for side in sides:
            await give_budget(side)
            connection = await aio_pika.connect(side.stack.amqp_url)
            await exits.enter_async_context(connection)
            queues[side.label] = await event_queue(
                await connection.channel(), "weborders.weborder.settled", "budget.debit.refused"
            )
            clients[side.label] = await exits.enter_async_context(
                httpx.AsyncClient(base_url=side.stack.portal_url, timeout=30)
            )

        async def one(side: Side, round_: int) -> float:
            http = clients[side.label]
            headers = {
                "Authorization": f"Bearer {side.key}",
                "Content-Type": "application/json",
                "Idempotency-Key": f"{side.school.school_id}-{round_}",
            }
            for _ in range(300):  # the weborders service hears of the school by an event
                made = await http.post(
                    "/api/v1/provider/weborders",
                    content=weborder_body(side.school.number),
                    headers=headers,
                )
                if made.status_code == 201:
                    break
                await asyncio.sleep(0.2)
            made.raise_for_status()
            weborder_id = made.json()["weborder_id"]
            start = time.perf_counter()
            decided = await http.post(
                f"/api/v1/schools/{side.school.school_id}/weborders/{weborder_id}/decision",
                headers={"Authorization": f"Bearer {side.school.token}"},
                json={"approve": True, "reason": ""},
            )
            decided.raise_for_status()
            async with queues[side.label].iterator(no_ack=True) as messages:
                async for message in messages:
                    event = json.loads(message.body)
                    if event.get("weborder_id") == weborder_id:
                        assert message.routing_key == "weborders.weborder.settled", event
                        break
            return (time.perf_counter() - start) * 1000

        for side in sides:  # the first of each warms up
            await one(side, 0)
        for round_ in range(1, APPROVALS + 1):
            for side in sides if round_ % 2 else sides[::-1]:
                times[side.label].append(await one(side, round_))
    return {label: median(values) for label, values in times.items()}


def say(text: str) -> None:
    print(f"  {text}", file=sys.stderr, flush=True)


async def uploads(
    sides: list[Side], files: list[bytes], people: int
) -> dict[str, dict[str, list[float]]]:
    """figure -> label -> the samples: "upload" ms until RosterUploaded, "upload_cpu" cpu-ms of
    the roster process and its database's backends meanwhile, "upload_cpu_all" cpu-ms of every
    process of the side's stack and every backend on its databases from the request until the
    other services' consumers were done (SETTLE after it). Sample i is file i into the side's
    i-th empty roster, the same file on both sides, which side goes first alternating. The
    roster, membership and weborders databases' table counters are printed per sample."""
    figures: dict[str, dict[str, list[float]]] = {
        figure: {side.label: [] for side in sides}
        for figure in ("upload", "upload_cpu", "upload_cpu_all")
    }
    for index, content in enumerate(files):
        for side in sides if index % 2 == 0 else sides[::-1]:
            school = side.upload_schools[index]
            await wait_for_school(side.stack.portal_url, school.school_id, school.token)
            await asyncio.sleep(SETTLE)
            before = await tables_io(side.databases)
            roster, everything = await cpu_used(side, ("roster",)), await cpu_used(side, COMPONENTS)
            done = await timed_upload(
                side.stack.amqp_url, side.stack.portal_url, school.school_id, school.token, content
            )
            assert done.reply["total"] == people, done.reply
            roster_cpu = cpu_delta(roster, await cpu_used(side, ("roster",)))
            await asyncio.sleep(SETTLE)
            all_cpu = cpu_delta(everything, await cpu_used(side, COMPONENTS))
            figures["upload"][side.label].append(done.seconds * 1000)
            figures["upload_cpu"][side.label].append(roster_cpu * 1000)
            figures["upload_cpu_all"][side.label].append(all_cpu * 1000)
            read = io_delta(before, await tables_io(side.databases))
            say(
                f"{side.label}: upload {index + 1} {done.seconds * 1000:.0f} ms "
                f"(reply {done.replied * 1000:.0f}), roster {roster_cpu:.2f} cpu-s, "
                f"all {all_cpu:.2f} cpu-s; {read}"
            )
    return figures


async def measure(
    sides: list[Side], files: list[bytes], people: int
) -> dict[str, dict[str, float]]:
    """label -> figure -> value. The invitation run goes one portal after the other, the
    others alternate between the portals."""
    figures: dict[str, dict[str, float]] = {side.label: {} for side in sides}
    samples = await uploads(sides, files, people)
    for figure, values in samples.items():
        for label, taken in values.items():
            figures[label][figure] = median(taken)
    one, many = (samples["upload"][side.label] for side in sides)
    ratios = sorted(m / o for m, o in zip(many, one, strict=True))
    figures[sides[1].label]["upload_ratio_low"] = ratios[0]
    figures[sides[1].label]["upload_ratio_high"] = ratios[-1]
    for label, took in (await people_pages(sides)).items():
        figures[label]["people_page"] = took
        say(f"{label}: people page {took:.1f} ms")
    for side in sides[::-1]:
        queued = await invitation_run(side.stack.portal_url, side.school, people)
        figures[side.label]["invitations_queued"] = queued
        say(f"{side.label}: invitations queued {queued:.1f} s")
    for label, took in (await approvals(sides)).items():
        figures[label]["weborder_approval"] = took
        say(f"{label}: weborder approval {took:.0f} ms")
    return figures


UNITS = {
    "people_page": "ms",
    "upload": "ms",
    "upload_cpu": "cpu-ms",
    "upload_cpu_all": "cpu-ms",
    "invitations_queued": "s",
    "weborder_approval": "ms",
}


# No notifier and no SMTP sink: the invitation mails stay queued for the notifier, whose
# sending does not depend on how many schools there are (bench_notifier_mails.py,
# bench_invitations.py) and would only disturb the figures that do.
COMPONENTS = ("accounts", "roster", "membership", "budget", "weborders", "gateway")


@contextlib.contextmanager
def portal_side(
    label: str, names: dict[str, str], samples: int, tag: str, amqp_url: str
) -> Iterator[Side]:
    """A stack of the processes on these databases (a vhost of its own), its CJP admin,
    `samples` schools whose budget holders set a password (an empty roster per upload sample),
    and a provider with a key."""
    from ck_devstack import Stack
    from ck_testkit.journeys import page_login, register_provider

    quiet = {f"{s.upper()}_LOG_LEVEL": "WARNING" for s in COMPONENTS}
    urls = {s: f"postgresql+asyncpg://postgres@127.0.0.1:5432/{n}" for s, n in names.items()}
    with (
        tempfile.TemporaryDirectory() as data,
        Stack(
            data,
            amqp_url,
            database_urls=urls,
            components=COMPONENTS,
            env=quiet,
            broker_users=on_shared_node(amqp_url),  # users (rabbitmqctl) on the shared node only
        ) as stack,
    ):
        password = create_admin(stack, ADMIN_EMAIL)
        with admin_client(stack, ADMIN_EMAIL, password) as admin:
            schools = [
                register_school(
                    stack, admin, f"Schaal {tag}{n} College", f"budget-{tag}{n}@scale.test"
                )
                for n in range(samples)
            ]
        with httpx.Client(base_url=stack.portal_url, timeout=30) as admin:
            page_login(admin, ADMIN_EMAIL, password)
            _, key = register_provider(admin, "Schaal Theater", "12345678")
        yield Side(label, stack, schools[0], schools, key, names)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--schools", type=int, default=60, help="schools on the loaded side")
    parser.add_argument("--people", type=int, default=50_000, help="people per school")
    parser.add_argument(
        "--uploads", type=int, default=UPLOADS, help="upload samples per side (a school each)"
    )
    args = parser.parse_args()
    if args.schools < 2:
        parser.error("--schools: at least 2")
    people = args.people
    one_label, many_label = "1_school", f"{args.schools}_schools"
    run = uuid.uuid4().hex[:8]
    try:
        one_names = create_databases(f"{run}_one")
        many_names = create_databases(f"{run}_many")
    except OSError:
        print("no PostgreSQL: skipped", file=sys.stderr)
        return
    try:
        with (
            private_vhosts(2, "ck-scale") as (one_url, many_url),
            portal_side(one_label, one_names, args.uploads, "een", one_url) as one,
            portal_side(many_label, many_names, args.uploads, "veel", many_url) as many,
        ):
            loaded = asyncio.run(bulk_load(many_names, args.schools - 1, people))
            files = [roster_file(people, 21 + n) for n in range(args.uploads)]
            figures = asyncio.run(measure([one, many], files, people))
    finally:
        drop_databases(one_names)
        drop_databases(many_names)
    metric("scale_schools", args.schools, "schools")
    metric("scale_people_per_school", people, "people")
    metric("scale_rows_loaded", (args.schools - 1) * people, "people")
    metric("scale_load_seconds", loaded, "s")
    for name, unit in UNITS.items():
        metric(f"scale_{name}_{many_label}", figures[many_label][name], unit)
        metric(f"scale_{name}_{one_label}", figures[one_label][name], unit)
        metric(f"scale_{name}_ratio", figures[many_label][name] / figures[one_label][name], "ratio")
    # The spread of the upload ratio: the lowest and highest of the samples' pairs.
    metric("scale_upload_samples", args.uploads, "uploads")
    metric("scale_upload_ratio_low", figures[many_label]["upload_ratio_low"], "ratio")
    metric("scale_upload_ratio_high", figures[many_label]["upload_ratio_high"], "ratio")


if __name__ == "__main__":
    main()
