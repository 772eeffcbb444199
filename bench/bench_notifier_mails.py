"""Inviting a roster of 50,000: the notifier from EmailsRequested to mails accepted over SMTP.

The notifier runs as its own process (real RabbitMQ in a throw-away vhost, a fresh SQLite
database, and PostgreSQL when a local server answers) and sends to a `ck-smtp-sink` process.
The benchmark publishes 50,000 invitation mails as 100 EmailsRequested events of 500 and
measures the time until the sink has accepted all of them, and the CPU the notifier and the
sink used. Goal (issue 4): under 60 s on this 2-core machine, the notifier well under a core.

    uv run python bench/bench_notifier_mails.py [--mails 50000] [--sqlite-only]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from benchkit import (
    cpu_seconds,
    drop_postgres,
    free_port,
    isolated_vhost,
    metric,
    postgres_database,
    python,
    service_process,
)
from ck_notifier.smtp_sink import count_mails

PER_EVENT = 500  # ck_contracts.notifier.MAX_MAILS_PER_EVENT
SCHOOL = uuid.UUID("00000000-0000-4000-8000-00000000c0de")


def count_queued(database_url: str) -> int:
    """Mails the notifier has stored (any status), read beside it."""
    if database_url.startswith("sqlite"):
        import sqlite3

        path = database_url.split("///", 1)[1]
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            return int(conn.execute("SELECT count(*) FROM outgoing_mails").fetchone()[0])
    name = database_url.rsplit("/", 1)[1]
    out = subprocess.run(
        [
            "psql",
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            name,
            "-tAc",
            "SELECT count(*) FROM outgoing_mails",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    return int(out.stdout.strip() or 0)


def build_events(total: int, run: str) -> list[object]:
    from ck_contracts.notifier import EmailsRequested, MailItem, MailTemplate

    events = []
    for start in range(0, total, PER_EVENT):
        items = [
            MailItem(
                id=uuid.uuid5(SCHOOL, f"{run}-{n}"),
                to=f"student{n}@roc-zuid.example",
                context={
                    "voornaam": f"Student{n}" if n % 10 else "",
                    "school_name": "ROC Zuid één",
                    "link": f"https://portal.example/activeren?code=K{n:011d}X",
                    "code": f"K{n:011d}X",
                },
            )
            for n in range(start, min(start + PER_EVENT, total))
        ]
        events.append(
            EmailsRequested(
                school_id=SCHOOL, template=MailTemplate.INVITATION, mails=items, correlation_id=run
            )
        )
    return events


async def publish(amqp_url: str, events: list[object]) -> None:
    import aio_pika
    from ck_runtime.outbox import ConfirmingPublisher

    connection = await aio_pika.connect_robust(amqp_url)
    try:
        publisher = ConfirmingPublisher(connection)
        rows = []
        for event in events:
            body = event.envelope()  # type: ignore[attr-defined]
            rows.append(
                {
                    "id": body["id"],
                    "routing_key": body["type"],
                    "body": body,
                    "correlation_id": None,
                }
            )
        await publisher.publish(rows)
    finally:
        await connection.close()


def in_process_costs(mails: int = 5000) -> None:
    """What one mail costs the notifier's CPU in rendering and composing (no I/O)."""
    from datetime import UTC, datetime

    from ck_notifier.domain import Mail, compose
    from ck_notifier.rendering import render

    contexts = [
        {
            "voornaam": f"Student{n}",
            "school_name": "ROC Zuid één",
            "link": f"https://p/{n}",
            "code": f"K{n:011d}X",
        }
        for n in range(mails)
    ]
    started = time.process_time()
    rendered = [render("invitation", c) for c in contexts]
    render_us = (time.process_time() - started) / mails * 1e6
    now = datetime.now(UTC)
    queued = [
        Mail(uuid.uuid4(), "invitation", f"s{n}@x.example", r.subject, r.text, r.html, 0, now)
        for n, r in enumerate(rendered)
    ]
    started = time.process_time()
    for mail in queued:
        compose(mail, "MBO Cultuurkaart <noreply@cjp.nl>")
    compose_us = (time.process_time() - started) / mails * 1e6
    metric("notifier_render_per_mail", render_us, "us")
    metric("notifier_compose_per_mail", compose_us, "us")


def run_once(amqp_url: str, database_url: str, label: str, total: int, data: Path) -> None:
    mail_dir = data / f"mail-{label}"
    smtp_port = free_port()
    sink = subprocess.Popen(
        [python(), "-m", "ck_notifier.smtp_sink", "--port", str(smtp_port), "--dir", str(mail_dir)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert sink.stdout is not None
        sink.stdout.readline()  # printed once it listens
        health = free_port()
        env = {
            "AMQP_URL": amqp_url,
            "NOTIFIER_DATABASE_URL": database_url,
            "NOTIFIER_HEALTH_PORT": str(health),
            "NOTIFIER_SMTP_PORT": str(smtp_port),
            "NOTIFIER_LOG_LEVEL": "WARNING",
        }
        cli = [python(), "-m", "ck_notifier.cli", "serve"]
        with service_process(cli, env, health, f"notifier-{label}") as notifier:
            events = build_events(total, uuid.uuid4().hex)
            notifier_cpu, sink_cpu = cpu_seconds(notifier.pid), cpu_seconds(sink.pid)
            started = time.perf_counter()
            asyncio.run(publish(amqp_url, events))
            published = time.perf_counter() - started
            deadline = started + 600
            queued_at = None
            while (count := count_mails(mail_dir)) < total and time.perf_counter() < deadline:
                if queued_at is None and count_queued(database_url) >= total:
                    queued_at = time.perf_counter() - started
                # Listing 50,000 files costs CPU the services need: look often only at the end.
                time.sleep(0.1 if total - count < total // 20 else 1.0)
            elapsed = time.perf_counter() - started
            notifier_cpu = cpu_seconds(notifier.pid) - notifier_cpu
            sink_cpu = cpu_seconds(sink.pid) - sink_cpu
            time.sleep(1.0)
            doubles = count_mails(mail_dir) - total
    finally:
        sink.terminate()
        sink.wait(10)
    if count < total:
        print(f"only {count} of {total} mails arrived", file=sys.stderr)
    metric(f"notifier_mails_{total // 1000}k_{label}_seconds", elapsed, "s")
    metric(f"notifier_mails_{label}_per_second", count / elapsed, "mails/s")
    metric(f"notifier_{label}_publish_seconds", published, "s")
    metric(f"notifier_{label}_all_queued_seconds", queued_at or elapsed, "s")
    metric(f"notifier_{label}_cpu_seconds", notifier_cpu, "s")
    metric(f"notifier_{label}_cpu_per_mail", notifier_cpu / max(count, 1) * 1e6, "us")
    metric(f"notifier_{label}_cores", notifier_cpu / elapsed, "cores")
    metric(f"smtp_sink_{label}_cpu_per_mail", sink_cpu / max(count, 1) * 1e6, "us")
    metric(f"notifier_{label}_mails_sent_twice", max(doubles, 0), "mails")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mails", type=int, default=50_000)
    parser.add_argument("--sqlite-only", action="store_true")
    args = parser.parse_args()
    in_process_costs()
    with isolated_vhost() as amqp_url, tempfile.TemporaryDirectory() as folder:
        data = Path(folder)
        run_once(amqp_url, f"sqlite+aiosqlite:///{data}/notifier.db", "sqlite", args.mails, data)
        pg = None if args.sqlite_only else postgres_database()
        if pg:
            try:
                url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{pg}"
                # A new vhost: the SQLite run's notifier queue must not hold anything back.
                with isolated_vhost() as pg_amqp:
                    run_once(pg_amqp, url, "postgresql", args.mails, data)
            finally:
                drop_postgres(pg)


if __name__ == "__main__":
    main()
