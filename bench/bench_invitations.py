"""Inviting a whole 50,000-person roster in one action (R-MEMBER-2), through every service.

Timed from the "verstuur uitnodiging" request (the JSON API's invitation endpoint with the
selection "all") until the local SMTP server (ck-smtp-sink) has accepted the last of the 50,000
invitation mails: roster -> InvitationsRequested chunks -> membership (codes) -> EmailsRequested
-> notifier -> SMTP, and InvitationsSent -> roster's status column. Meanwhile a client asks for
the people list (a filter and a sort) twice a second, as a school watching it would: its median
response time during the fan-out is the second figure. Target: all 50,000 mails within 60 s,
list median under 200 ms.

Processes: accounts, roster, membership, notifier, gateway and the SMTP sink (ck_devstack.Stack),
SQLite, a RabbitMQ vhost of its own.

    uv run python bench/bench_invitations.py
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))

from bench_roster_upload import budget_holder_session
from benchkit import (
    cpu_seconds,
    isolated_vhost,
    median,
    metric,
    percentile,
    stack_pids,
    timed_upload,
    wait_for_school,
)

PEOPLE = int(os.environ.get("BENCH_INVITATIONS", "50000"))
DEADLINE_SECONDS = 600


def roster_file() -> bytes:
    """Every student has an e-mail address here, so every invitation is a mail."""
    from ck_testkit.rosters import student_rows, student_xlsx

    rows = []
    for index, row in enumerate(student_rows(PEOPLE, seed=11)):
        email = row[2] or f"leerling{index}@student.roc.nl"
        rows.append((row[0], row[1], email, *row[3:]))
    return student_xlsx(rows)


def mails_in(directory: Path) -> int:
    from ck_notifier.smtp_sink import count_mails

    return count_mails(directory)


async def invite_all(
    portal_url: str, school_id: str, token: str, mail_dir: Path
) -> tuple[float, float, list[float], dict[str, object]]:
    """(seconds until the last mail, seconds until the API answered, list latencies in ms,
    the API's answer)."""
    headers = {"Authorization": f"Bearer {token}"}
    latencies: list[float] = []
    done = asyncio.Event()

    async def keep_listing(http: httpx.AsyncClient) -> None:
        params = {"achternaam": "jan", "sort": "voornaam", "page_size": "50"}
        while not done.is_set():
            start = time.perf_counter()
            reply = await http.get(
                f"/api/v1/schools/{school_id}/roster/students/people",
                params=params,
                headers=headers,
            )
            reply.raise_for_status()
            latencies.append((time.perf_counter() - start) * 1000)
            await asyncio.sleep(0.5)

    async with httpx.AsyncClient(base_url=portal_url, timeout=120) as http:
        before = mails_in(mail_dir)
        start = time.perf_counter()
        reply = await http.post(
            f"/api/v1/schools/{school_id}/roster/students/invitations",
            headers=headers,
            json={"all": True},
        )
        answered = time.perf_counter() - start
        reply.raise_for_status()
        lister = asyncio.create_task(keep_listing(http))
        try:
            # Listing a folder of 50,000 files costs CPU the services need: once a second
            # until the last 5 %, then every 50 ms.
            while (sent := mails_in(mail_dir) - before) < PEOPLE:
                if time.perf_counter() - start > DEADLINE_SECONDS:
                    raise RuntimeError(f"only {sent} of {PEOPLE} mails after {DEADLINE_SECONDS} s")
                await asyncio.sleep(1.0 if sent < PEOPLE * 0.95 else 0.05)
            elapsed = time.perf_counter() - start
        finally:
            done.set()
            await lister
        return elapsed, answered, latencies, dict(reply.json())


def main() -> None:
    from ck_devstack import Stack

    content = roster_file()
    quiet = {
        f"{name.upper()}_LOG_LEVEL": "WARNING"
        for name in ("accounts", "roster", "membership", "notifier", "gateway")
    }
    with (
        isolated_vhost() as amqp_url,
        tempfile.TemporaryDirectory() as data,
        Stack(
            data,
            amqp_url,
            database_urls={},
            components=("smtp", "accounts", "roster", "membership", "notifier", "gateway"),
            env=quiet,
        ) as stack,
    ):
        school_id, token = budget_holder_session(stack)
        asyncio.run(wait_for_school(stack.portal_url, school_id, token))
        done = asyncio.run(timed_upload(amqp_url, stack.portal_url, school_id, token, content))
        assert done.reply["total"] == PEOPLE, done.reply
        pids = stack_pids(stack)
        cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        seconds, answered, latencies, answer = asyncio.run(
            invite_all(stack.portal_url, school_id, token, stack.mail_dir)
        )
        # Where the time went: CPU seconds of each process during the fan-out.
        cpu = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in pids.items()}
        assert answer["requested"] == PEOPLE, answer
        metric("invitations_people", PEOPLE, "people")
        metric("invitations_api_answer", answered * 1000, "ms")
        metric("invitations_all_mails_accepted", seconds, "s")
        metric("invitations_per_second", PEOPLE / seconds, "mails/s")
        metric("invitations_vs_target_60s", seconds / 60, "ratio")
        metric("invitations_list_during_fanout_median", median(latencies), "ms")
        metric("invitations_list_during_fanout_p95", percentile(latencies, 95), "ms")
        metric("invitations_list_requests", len(latencies), "requests")
        for name, used in sorted(cpu.items()):
            metric(f"invitations_cpu_{name.replace('-', '_')}", used, "s")


if __name__ == "__main__":
    main()
