"""Requests through the whole chain: HTTP -> gateway -> RabbitMQ -> accounts -> database ->
reply -> HTTP. GET /api/v1/me with a bearer token resolves the session in the accounts
service on every request. 50 connections at once (wrk, from Debian's packages: a Python load
generator saturates a core by itself on this machine); SQLite and PostgreSQL; next to a bare
FastAPI endpoint under the same uvicorn on the same machine as the baseline.

    uv run python bench/bench_gateway.py
"""

from __future__ import annotations

import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))

from benchkit import drop_postgres, free_port, isolated_vhost, metric, postgres_database, python

CLIENTS = 50


DURATION = "10s"


def load(url: str, headers: dict[str, str], duration: str = DURATION) -> tuple[float, float, float]:
    """(requests per second, p50 ms, p99 ms) from wrk; non-2xx answers make it fail."""
    if shutil.which("wrk") is None:
        raise SystemExit("bench_gateway needs wrk: apt-get install wrk")
    args = ["wrk", "-t2", f"-c{CLIENTS}", f"-d{duration}", "--latency", "--timeout", "10s"]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    out = subprocess.run([*args, url], capture_output=True, text=True, check=True).stdout
    if "Non-2xx" in out:
        raise RuntimeError(f"errors under load:\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    return rps, _ms(out, "50%"), _ms(out, "99%")


def _ms(out: str, label: str) -> float:
    value, unit = re.search(rf"{label}\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def bare_baseline() -> float:
    port = free_port()
    process = subprocess.Popen(
        [python(), str(Path(__file__).parent / "bare_fastapi.py"), str(port)]
    )
    try:
        url = f"http://127.0.0.1:{port}/ping"
        for _ in range(100):
            try:
                urllib.request.urlopen(url, timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        load(url, {}, "2s")
        rps, p50, p99 = load(url, {})
        metric("http_bare_fastapi_rps", rps, "req/s")
        metric("http_bare_fastapi_p50", p50, "ms")
        metric("http_bare_fastapi_p99", p99, "ms")
        return rps
    finally:
        process.terminate()
        process.wait(10)


def chain(amqp_url: str, label: str, database_urls: dict[str, str], baseline: float) -> None:
    from ck_devstack import Stack

    with (
        tempfile.TemporaryDirectory() as data,
        Stack(
            data,
            amqp_url,
            database_urls=database_urls,
            components=("accounts", "gateway"),
            env={
                "ACCOUNTS_LOG_LEVEL": "WARNING",
                "GATEWAY_LOG_LEVEL": "WARNING",
                "ACCOUNTS_PREFETCH": "32",
            },
        ) as stack,
    ):
        password = secrets.token_urlsafe(16)
        stack.run_command(
            "accounts", "create-admin", "--email", "bench@cjp.test", input_text=password + "\n"
        )
        reply = httpx.post(
            stack.portal_url + "/api/v1/auth/login",
            json={"email": "bench@cjp.test", "password": password},
            timeout=30,
        )
        reply.raise_for_status()
        headers = {"Authorization": f"Bearer {reply.json()['token']}"}
        url = stack.portal_url + "/api/v1/me"
        load(url, headers, "2s")
        rps, p50, p99 = load(url, headers)
    metric(f"http_gateway_accounts_{label}_rps", rps, "req/s")
    metric(f"http_gateway_accounts_{label}_p50", p50, "ms")
    metric(f"http_gateway_accounts_{label}_p99", p99, "ms")
    metric(f"http_gateway_accounts_{label}_vs_bare_fastapi", rps / baseline, "ratio")
    metric(f"http_gateway_accounts_{label}_clients", CLIENTS, "clients")


def main() -> None:
    baseline = bare_baseline()
    with isolated_vhost() as amqp_url:
        chain(amqp_url, "sqlite", {}, baseline)
        pg = postgres_database()
        if pg:
            try:
                chain(
                    amqp_url,
                    "postgresql",
                    {"accounts": f"postgresql+asyncpg://postgres@127.0.0.1:5432/{pg}"},
                    baseline,
                )
            finally:
                drop_postgres(pg)


if __name__ == "__main__":
    main()
