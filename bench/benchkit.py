"""Shared plumbing for the benchmarks: an isolated RabbitMQ vhost, service processes, metrics,
a portal's school with a logged-in budget holder, a timed roster upload, CPU and memory readers.

Every benchmark prints lines `metric <name> <value> <unit>`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ck_devstack.ports import free_port as free_port  # the one port picker, for the benches

LOCAL_AMQP = "amqp://guest:guest@127.0.0.1:5672/"

# One request-signing key pair for the benchmark run (ck_runtime.signing): the RPC clients a
# benchmark makes sign with it, and the stacks and service processes it starts verify it.
if not os.environ.get("GATEWAY_RPC_SIGNING_KEY"):
    try:
        from ck_runtime.signing import new_key_pair
    except ImportError:  # a tree from before signed requests (bench/paired.py's baseline)
        pass
    else:
        os.environ["GATEWAY_RPC_SIGNING_KEY"], os.environ["RPC_VERIFY_KEYS"] = new_key_pair("bench")


def metric(name: str, value: float, unit: str) -> None:
    print(f"metric {name} {value:.4g} {unit}", flush=True)


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


@contextlib.contextmanager
def isolated_vhost() -> Iterator[str]:
    """A throw-away RabbitMQ virtual host, so a benchmark never touches a running portal."""
    if not shutil.which("rabbitmqctl"):
        yield os.environ.get("AMQP_URL", LOCAL_AMQP)
        return
    vhost = f"ck-bench-{uuid.uuid4().hex[:8]}"
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", vhost], check=True)
    subprocess.run(
        ["rabbitmqctl", "-q", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"], check=True
    )
    try:
        yield f"{LOCAL_AMQP}{vhost}"
    finally:
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", vhost], check=False)


@contextlib.contextmanager
def private_vhosts(count: int, prefix: str = "ck-bench") -> Iterator[list[str]]:
    """`count` AMQP URLs, each a vhost of its own: on a private RabbitMQ node when this machine
    can start one (ck_testkit.rabbit_node; the shared node on 5672 carries every test run and
    helper, and a stall there stalls the figures), else on the shared node (isolated_vhost).
    A stack on the private node needs `broker_users=on_shared_node(url)`: its least-privilege
    users are made with rabbitmqctl on the shared node. isolated_vhost itself stays on the
    shared node: the benches that read the broker's CPU (broker_pid) measure that node."""
    from ck_testkit import rabbit_node

    if not rabbit_node.available():
        with contextlib.ExitStack() as exits:
            yield [exits.enter_context(isolated_vhost()) for _ in range(count)]
        return
    with rabbit_node.PrivateRabbit() as rabbit:
        urls = []
        for n in range(count):
            vhost = f"{prefix}-{n}"
            rabbit.ctl("add_vhost", vhost)
            rabbit.ctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
            urls.append(rabbit.amqp_url + vhost)
        yield urls


def on_shared_node(amqp_url: str) -> bool:
    return amqp_url.startswith(LOCAL_AMQP)


# --- PostgreSQL databases of a run (psql on 127.0.0.1 as postgres; tests use ck_test_*) -----------
def psql(sql: str, database: str = "postgres", check: bool = True) -> bool:
    """Run one statement; False when it failed and check is off."""
    done = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", database, "-qc", sql],
        capture_output=True,
        check=check,
    )
    return done.returncode == 0


def create_database(name: str) -> bool:
    """False when there is no PostgreSQL to make it on."""
    try:
        return psql(f'CREATE DATABASE "{name}"', check=False)
    except OSError:  # no psql
        return False


def drop_database(name: str) -> None:
    with contextlib.suppress(OSError):
        psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', check=False)


def postgres_database() -> str | None:
    """A new database `ck_bench_<random>`, or None without PostgreSQL; drop_postgres it."""
    name = f"ck_bench_{uuid.uuid4().hex[:8]}"
    return name if create_database(name) else None


def drop_postgres(name: str) -> None:
    drop_database(name)


# --- CPU and memory of processes (Linux /proc) ---------------------------------------------------
def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int, field: str = "VmHWM") -> float:
    """The process's peak resident memory so far (VmHWM), MB; field="VmRSS": what it holds now."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field}")


def broker_pid() -> int | None:
    """The shared RabbitMQ node's Erlang VM (the oldest beam.smp) when it runs on this machine."""
    found = subprocess.run(["pgrep", "-o", "beam.smp"], capture_output=True, text=True)
    pids = [int(p) for p in found.stdout.split()]
    return pids[0] if pids else None


def stack_pids(stack: Any, broker: bool = True) -> dict[str, int]:
    """component -> pid of a ck_devstack.Stack's processes, and "rabbitmq" (broker_pid)."""
    pids = {name: p.pid for name, p in stack.processes.items() if p.pid is not None}
    if broker and (beam := broker_pid()) is not None:
        pids["rabbitmq"] = beam
    return pids


@contextlib.contextmanager
def service_process(
    args: Sequence[str], env: dict[str, str], health_port: int, name: str
) -> Iterator[subprocess.Popen[bytes]]:
    """Start one service process and wait until its health endpoint answers."""
    log = Path(tempfile.mkdtemp(prefix="ck-bench-")) / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen([*args], env={**os.environ, **env}, stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited: {log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{health_port}/health", timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{name} did not become healthy") from None
                time.sleep(0.2)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()


def python() -> str:
    return sys.executable


# --- a portal's school and its budget holder (through the portal, as a CJP admin does) ----------
@dataclass
class School:
    school_id: str
    number: int
    token: str  # the budget holder's bearer token


def create_admin(stack: Any, email: str) -> str:
    """A CJP admin made with the accounts command; its password."""
    password = secrets.token_urlsafe(16)
    stack.run_command("accounts", "create-admin", "--email", email, input_text=password + "\n")
    return password


@contextlib.contextmanager
def admin_client(stack: Any, email: str, password: str) -> Iterator[Any]:
    """An httpx.Client on the portal with the admin's bearer token."""
    import httpx

    with httpx.Client(base_url=stack.portal_url, timeout=30) as http:
        login = http.post("/api/v1/auth/login", json={"email": email, "password": password})
        login.raise_for_status()
        http.headers["Authorization"] = f"Bearer {login.json()['token']}"
        yield http


def register_school(
    stack: Any, admin: Any, name: str, holder_email: str, duo_student_count: int = 50_000
) -> School:
    """The CJP admin registers a school (JSON API; `admin` carries the admin's bearer token);
    its budget holder sets a password from the welcome link and logs in."""
    import httpx
    from ck_testkit.journeys import set_password

    settings = {
        "name": name,
        "brin_codes": ["25LG"],
        "locations": ["Haarlem"],
        "duo_student_count": duo_student_count,
        "contacts": [],
    }
    school = admin.post(
        "/api/v1/schools",
        json={"settings": settings, "budget_holder": {"name": "Bea Budget", "email": holder_email}},
    )
    school.raise_for_status()
    if "notifier" in stack.components:  # it takes the mail off the queue: read the sink's
        token = sent_link_token(stack.mail_dir)
    else:
        token = password_link_token(stack.amqp_url)
    password = secrets.token_urlsafe(16)
    with httpx.Client(base_url=stack.portal_url, timeout=30) as http:
        set_password(http, token, password).raise_for_status()
        login = http.post("/api/v1/auth/login", json={"email": holder_email, "password": password})
        login.raise_for_status()
    return School(
        str(school.json()["school_id"]), int(school.json()["school_number"]), login.json()["token"]
    )


def password_link_token(amqp_url: str) -> str:
    """The budget holder's welcome link, taken off the notifier's queue: no notifier runs here,
    and the accounts outbox keeps no copy of a mail once it is published (R-AVG-2)."""
    from ck_testkit import drain

    messages = asyncio.run(drain(amqp_url, "notifier.events.email", expect=1, deadline=30))
    bodies = [json.loads(m.body) for m in messages]
    links = [b["context"]["link"] for b in bodies if b["type"] == "notifier.email.requested"]
    return str(links[-1].split("token=")[1])


def sent_link_token(mail_dir: Path) -> str:
    """The budget holder's welcome link from the mail the stack's notifier sent (a stack with a
    notifier consumes the event password_link_token would wait for)."""
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


async def wait_for_school(portal_url: str, school_id: str, token: str) -> None:
    """The roster hears of a new school through the broker: wait until it answers."""
    import httpx

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


# --- the roster upload, timed until RosterUploaded -----------------------------------------------
async def event_queue(channel: Any, *routing_keys: str) -> Any:
    """An exclusive queue of the benchmark bound to these events."""
    queue = await channel.declare_queue(exclusive=True)
    for key in routing_keys:
        await queue.bind("cultuurkaart.events", routing_key=key)
    return queue


@dataclass(frozen=True)
class Upload:
    seconds: float  # from the request until the reply and the school's RosterUploaded
    replied: float  # seconds until the reply (the roster's transaction is committed)
    reply: dict[str, Any]
    event: dict[str, Any]  # RosterUploaded


async def timed_upload(
    amqp_url: str, portal_url: str, school_id: str, token: str, content: bytes
) -> Upload:
    """A student roster upload, timed until the reply arrived and the school's RosterUploaded
    was published (the outbox after the commit)."""
    import aio_pika
    import httpx

    connection = await aio_pika.connect(amqp_url)
    async with connection:
        queue = await event_queue(await connection.channel(), "roster.roster.uploaded")
        async with httpx.AsyncClient(base_url=portal_url, timeout=600) as http:
            start = time.perf_counter()
            reply = await http.post(
                f"/api/v1/schools/{school_id}/roster/students/upload",
                headers={"Authorization": f"Bearer {token}"},
                files={"file": ("leerlingen.xlsx", content)},
                data={"confirmed": "true"},
            )
            replied = time.perf_counter() - start
            reply.raise_for_status()
            async with queue.iterator(no_ack=True) as messages:
                async for message in messages:
                    event = json.loads(message.body)
                    if event.get("school_id") == school_id:
                        break
            elapsed = time.perf_counter() - start
    return Upload(elapsed, replied, dict(reply.json()), event)
