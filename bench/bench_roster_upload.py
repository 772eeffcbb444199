"""Roster upload (R-ROSTER-4) of a 50,000-row student file, through the whole chain.

Timed from the HTTP request (POST /api/v1/schools/{id}/roster/students/upload with a bearer
token) until the reply arrived *and* the RosterUploaded event was published to the broker (a
queue of this benchmark is bound to it), for an upload into an empty roster and for a
re-upload with 1 % of the people changed (replaced by others). The baseline is the time
python-calamine needs to read the same file; the target is at most 5 times that. Also the
roster process's peak memory (VmHWM), and, because wall times on a shared machine are noise,
the CPU seconds the roster and gateway processes spent on each upload next to the CPU seconds
of the calamine read (`*_cpu_*` metrics). Processes: accounts, roster, gateway (ck_devstack.Stack),
SQLite, a RabbitMQ vhost of its own.

    uv run python bench/bench_roster_upload.py
"""

from __future__ import annotations

import asyncio
import io
import json
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aio_pika
import httpx

sys.path.insert(0, str(Path(__file__).parent))

from benchkit import cpu_seconds, isolated_vhost, median, metric

ROWS = 50_000
CHANGED = ROWS // 100
ADMIN_EMAIL = "bench@cjp.test"
HOLDER_EMAIL = "budget@bench.test"


def calamine_seconds(content: bytes, repeat: int = 3) -> tuple[float, float]:
    """(median wall seconds, least CPU seconds) of a bare python-calamine read."""
    from python_calamine import CalamineWorkbook

    times, cpu = [], []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        CalamineWorkbook.from_filelike(io.BytesIO(content)).get_sheet_by_index(0).to_python()
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return median(times), min(cpu)


def files() -> tuple[bytes, bytes]:
    from ck_testkit.rosters import student_rows, student_xlsx

    rows = student_rows(ROWS + CHANGED, seed=7)
    first = rows[:ROWS]
    second = rows[: ROWS - CHANGED] + rows[ROWS:]
    return student_xlsx(first), student_xlsx(second)


def password_link_token(amqp_url: str) -> str:
    """The budget holder's welcome link, taken off the notifier's queue: no notifier runs here,
    and the accounts outbox keeps no copy of a mail once it is published (R-AVG-2)."""
    from ck_testkit import drain

    messages = asyncio.run(drain(amqp_url, "notifier.events.email", expect=1, deadline=30))
    bodies = [json.loads(m.body) for m in messages]
    links = [b["context"]["link"] for b in bodies if b["type"] == "notifier.email.requested"]
    return str(links[-1].split("token=")[1])


def sent_link_token(mail_dir: Path) -> str:
    """The budget holder's welcome link from the mail the stack's notifier sent (bench_invitations
    runs a notifier, which consumes the event the drain above would wait for)."""
    import re

    from ck_notifier.smtp_sink import read_mails

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for mail in read_mails(mail_dir):
            body = mail.get_body(("plain",))
            found = re.search(r"token=([A-Za-z0-9_\-]+)", body.get_content() if body else "")
            if found:
                return found.group(1)
        time.sleep(0.5)
    raise RuntimeError("no welcome mail with a password link arrived")


def budget_holder_session(stack: Any) -> tuple[str, str]:
    """Register a school as the CJP admin and log in as its budget holder: (school id, token)."""
    from ck_testkit.portal import csrf_from

    admin_password = secrets.token_urlsafe(16)
    stack.run_command(
        "accounts", "create-admin", "--email", ADMIN_EMAIL, input_text=admin_password + "\n"
    )
    with httpx.Client(base_url=stack.portal_url, timeout=30) as http:
        login = http.post(
            "/api/v1/auth/login", json={"email": ADMIN_EMAIL, "password": admin_password}
        )
        login.raise_for_status()
        school = http.post(
            "/api/v1/schools",
            headers={"Authorization": f"Bearer {login.json()['token']}"},
            json={
                "settings": {
                    "name": "Bench College",
                    "brin_codes": ["25LG"],
                    "locations": ["Haarlem"],
                    "duo_student_count": 50000,
                    "contacts": [],
                },
                "budget_holder": {"name": "Bea Budget", "email": HOLDER_EMAIL},
            },
        )
        school.raise_for_status()
        school_id = str(school.json()["school_id"])
        if "notifier" in stack.components:  # it takes the mail off the queue: read the sink's
            token = sent_link_token(stack.mail_dir)
        else:
            token = password_link_token(stack.amqp_url)
        password = secrets.token_urlsafe(16)
        page = http.get(f"/wachtwoord-instellen?token={token}")
        http.post(
            "/wachtwoord-instellen",
            data={
                "token": token,
                "password": password,
                "password_repeat": password,
                "csrf_token": csrf_from(page.text),
            },
        )
        holder = http.post("/api/v1/auth/login", json={"email": HOLDER_EMAIL, "password": password})
        holder.raise_for_status()
        return school_id, str(holder.json()["token"])


async def timed_upload(
    amqp_url: str, portal_url: str, school_id: str, token: str, content: bytes
) -> tuple[float, dict[str, Any]]:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(exclusive=True)
        await queue.bind("cultuurkaart.events", routing_key="roster.roster.uploaded")
        async with httpx.AsyncClient(base_url=portal_url, timeout=120) as http:
            start = time.perf_counter()
            reply = await http.post(
                f"/api/v1/schools/{school_id}/roster/students/upload",
                headers={"Authorization": f"Bearer {token}"},
                files={"file": ("leerlingen.xlsx", content)},
                data={"confirmed": "true"},
            )
            async with queue.iterator(no_ack=True) as messages:
                message = await anext(aiter(messages))
            elapsed = time.perf_counter() - start
        reply.raise_for_status()
        assert json.loads(message.body)["total"] == ROWS
        return elapsed, dict(reply.json())


async def wait_for_school(portal_url: str, school_id: str, token: str) -> None:
    """The roster hears of the new school through the broker: wait until it answers."""
    async with httpx.AsyncClient(base_url=portal_url, timeout=30) as http:
        for _ in range(300):
            reply = await http.get(
                f"/api/v1/schools/{school_id}/roster/students/people",
                headers={"Authorization": f"Bearer {token}"},
            )
            if reply.status_code == 200:
                return
            await asyncio.sleep(0.1)
    raise RuntimeError("the roster service never heard of the school")


def peak_rss_mb(pid: int, field: str = "VmHWM") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field}")


def main() -> None:
    from ck_devstack import Stack

    first, second = files()
    baseline, baseline_cpu = calamine_seconds(first)
    metric("roster_upload_rows", ROWS, "rows")
    metric("roster_upload_calamine_read", baseline * 1000, "ms")
    metric("roster_upload_calamine_read_cpu", baseline_cpu * 1000, "cpu-ms")
    with (
        isolated_vhost() as amqp_url,
        tempfile.TemporaryDirectory() as data,
        Stack(
            data,
            amqp_url,
            database_urls={},
            components=("accounts", "roster", "gateway"),
            env={
                "ACCOUNTS_LOG_LEVEL": "WARNING",
                "ROSTER_LOG_LEVEL": "WARNING",
                "GATEWAY_LOG_LEVEL": "WARNING",
            },
        ) as stack,
    ):
        school_id, token = budget_holder_session(stack)
        asyncio.run(wait_for_school(stack.portal_url, school_id, token))
        pid = stack.processes["roster"].pid
        gateway_pid = stack.processes["gateway"].pid
        assert pid is not None and gateway_pid is not None
        # The roster process at rest, before any file: what the uploads' peak stands on.
        metric("roster_upload_rest_rss", peak_rss_mb(pid, "VmRSS"), "MB")
        for label, content, expect_added in (
            ("empty", first, ROWS),
            ("1pct_changed", second, CHANGED),
        ):
            roster_cpu, gateway_cpu = cpu_seconds(pid), cpu_seconds(gateway_pid)
            seconds, result = asyncio.run(
                timed_upload(amqp_url, stack.portal_url, school_id, token, content)
            )
            roster_cpu = cpu_seconds(pid) - roster_cpu
            gateway_cpu = cpu_seconds(gateway_pid) - gateway_cpu
            assert result["added"] == expect_added, result
            metric(f"roster_upload_http_{label}", seconds * 1000, "ms")
            metric(f"roster_upload_http_{label}_vs_calamine", seconds / baseline, "ratio")
            metric(f"roster_upload_cpu_roster_{label}", roster_cpu * 1000, "cpu-ms")
            metric(f"roster_upload_cpu_gateway_{label}", gateway_cpu * 1000, "cpu-ms")
            metric(
                f"roster_upload_cpu_roster_{label}_vs_calamine", roster_cpu / baseline_cpu, "ratio"
            )
        metric("roster_upload_peak_rss", peak_rss_mb(pid), "MB")


if __name__ == "__main__":
    main()
