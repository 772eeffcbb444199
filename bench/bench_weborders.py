"""Providers creating weborders through the gateway (R-WEB-1): HTTP POST /api/v1/provider/weborders
with an API key -> gateway (one RPC, no session lookup) -> RabbitMQ -> weborders service ->
SQLite (key and school by unique index, one INSERT with its Idempotency-Key) -> reply -> HTTP.

Every service runs (ck_devstack.Stack, SQLite, a RabbitMQ vhost of its own). Three runs:
  1. saturation: wrk, 50 connections for 20 s, a Lua script posting JSON with the key and a
     distinct Idempotency-Key per request: weborders/s, p50, p99;
  2. a fixed 100 weborders/s for 20 s (an open-loop asyncio client: each request leaves at its
     scheduled moment, latency counted from that moment, so a stall is not hidden): p50, p99;
  3. where the time goes: the same operation as RPC straight to the weborders service (no HTTP,
     no gateway), and the CPU seconds each process spent per 1,000 weborders during run 1.
Next to the bare FastAPI endpoint under the same uvicorn (bench/bare_fastapi.py) as baseline.
Target: >= 300 weborders/s, p99 < 100 ms at 100/s.

    uv run python bench/bench_weborders.py
    uv run python bench/bench_weborders.py --metrics [--rounds N]   # METRICS_ENABLED off vs on:
        run 1 only, once per setting in turns; weborders/s and CPU per 1,000 of each and ratios

With `--tracing`: what traces cost (issue 11). Two stacks run side by side, one with tracing
off and one with tracing on (OTEL_TRACES_SAMPLER=parentbased_traceidratio, ratio 0.1 or
BENCH_TRACING_RATIO, exporting with OTLP/HTTP to bench/otlp_sink.py: a local receiver that
decodes and counts the spans and keeps nothing). Run 1 is repeated in turns (off, on, on,
off, ...: 12 runs of 12 s; a drifting machine affects both alike); printed are the medians
of weborders/s, p50/p99 and the CPU seconds per 1,000 weborders of all processes (services,
gateway, RabbitMQ), each `_tracing_off` and `_tracing_on`, with their ratios. Target: < 10 %.

    uv run python bench/bench_weborders.py --tracing
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
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from ck_runtime.clock import SystemClock, amsterdam_today

sys.path.insert(0, str(Path(__file__).parent))

from bench_gateway import bare_baseline
from benchkit import cpu_seconds, isolated_vhost, metric, percentile, stack_pids

CLIENTS = 50
DURATION = os.environ.get("BENCH_WEBORDERS_DURATION", "20s")
FIXED_RATE = 100  # weborders per second in run 2
FIXED_SECONDS = 20
CONNECTIONS = 64  # run 2's keep-alive connections (senders)
RPC_SECONDS = 10
ADMIN_EMAIL = "bench@cjp.test"
HOLDER_EMAIL = "bea@bench-weborders.test"

LUA = """
local counter = 0
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("thread_id", threads)
end
function init(args)
  prefix = "{run}-" .. tostring(thread_id) .. "-"
end
wrk.method = "POST"
wrk.body = '{body}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {key}"
request = function()
  counter = counter + 1
  wrk.headers["Idempotency-Key"] = prefix .. counter
  return wrk.format()
end
"""


def weborder_body(school_number: int) -> str:
    return json.dumps(
        {
            "school_number": school_number,
            "activity": "Voorstelling met nagesprek",
            "activity_date": (amsterdam_today(SystemClock()) + timedelta(days=30)).isoformat(),
            "participants": 25,
            "amount_cents": 37500,
            "provider_reference": "BENCH",
        }
    )


# --- set-up: a school and a provider with a key ------------------------------------------------
def csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF field"
    return found.group(1)


def school_and_provider_key(stack: Any) -> tuple[int, str]:
    """Register a school (API) and a provider with a key (menu Aanbieders) as the CJP admin."""
    password = secrets.token_urlsafe(16)
    stack.run_command(
        "accounts", "create-admin", "--email", ADMIN_EMAIL, input_text=password + "\n"
    )
    with httpx.Client(base_url=stack.portal_url, timeout=30) as http:
        token = http.post(
            "/api/v1/auth/login", json={"email": ADMIN_EMAIL, "password": password}
        ).json()["token"]
        school = http.post(
            "/api/v1/schools",
            headers={"Authorization": f"Bearer {token}"},
            json={
                "settings": {
                    "name": "Bench College",
                    "brin_codes": ["25LG"],
                    "locations": ["Haarlem"],
                    "duo_student_count": 5000,
                    "contacts": [],
                },
                "budget_holder": {"name": "Bea Budget", "email": HOLDER_EMAIL},
            },
        )
        school.raise_for_status()
        page = http.get("/inloggen")
        http.post(
            "/inloggen",
            data={"email": ADMIN_EMAIL, "password": password, "csrf_token": csrf(page.text)},
        )
        page = http.get("/beheer/aanbieders")
        done = http.post(
            "/beheer/aanbieders",
            data={
                "naam": "Bench Theater",
                "kvk": "12345678",
                "contactpersoon": "Bert Bench",
                "email": "bert@theater.test",
                "csrf_token": csrf(page.text),
            },
        )
        assert done.status_code == 303, done.text
        provider_path = done.headers["location"].split("?")[0]
        page = http.get(provider_path)
        issued = http.post(f"{provider_path}/sleutels", data={"csrf_token": csrf(page.text)})
        key = re.search(r'id="api-sleutel">(ck_live_[^<]+)<', issued.text)
        assert key, issued.text
    return int(school.json()["school_number"]), key.group(1)


def wait_until_known(portal_url: str, key: str, body: str) -> None:
    """The weborders service learns the school from an event. Each try has an Idempotency-Key
    of its own: the answer to a key is kept, so with one key a first try before the school was
    known got that "unknown school" again on every try (a loaded machine delays the event)."""
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    end = time.monotonic() + 60
    tries = 0
    while time.monotonic() < end:
        tries += 1
        reply = httpx.post(
            portal_url + "/api/v1/provider/weborders",
            content=body,
            headers={**headers, "Idempotency-Key": f"warm-up-{tries}"},
            timeout=10,
        )
        if reply.status_code == 201:
            return
        time.sleep(0.2)
    raise RuntimeError(f"the weborders service does not know the school: {reply.text}")


# --- run 1: saturation with wrk -----------------------------------------------------------------
def saturate(
    portal_url: str, key: str, body: str, run: str, duration: str = DURATION
) -> tuple[float, float, float, int]:
    """(weborders/s, p50 ms, p99 ms, requests) from wrk; any non-2xx answer fails the run."""
    if shutil.which("wrk") is None:
        raise SystemExit("bench_weborders needs wrk: apt-get install wrk")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(LUA.replace("{run}", run).replace("{body}", body).replace("{key}", key))
    try:
        args = ["wrk", "-t2", f"-c{CLIENTS}", f"-d{duration}", "--latency", "--timeout", "10s"]
        out = subprocess.run(
            [*args, "-s", script.name, portal_url + "/api/v1/provider/weborders"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(script.name)
    if "Non-2xx" in out or "Socket errors" in out:
        raise RuntimeError(f"errors under load:\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    return rps, _ms(out, "50%"), _ms(out, "99%"), total


def _ms(out: str, label: str) -> float:
    value, unit = re.search(rf"{label}\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


# --- run 2: a fixed rate, open loop --------------------------------------------------------------
async def fixed_rate(portal_url: str, key: str, body: str) -> tuple[list[float], int]:
    """Latencies (ms, from each request's scheduled start) and the number of failures.

    A pacer puts each request's scheduled moment on a queue at that moment; CONNECTIONS
    senders (one keep-alive connection each) take them in order. A request that waits for a
    free sender counts the wait, so a stall is not hidden. Not one task per request all
    waiting in httpx's pool: httpcore rescans every queued request each time a connection
    frees up (and tries `import sniffio` for every lock it makes), so once a backlog formed
    the client's own CPU grew with it and the client, not the portal, set the pace."""
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    latencies: list[float] = []
    failures = 0
    limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
    async with httpx.AsyncClient(base_url=portal_url, timeout=10, limits=limits) as http:

        async def one(scheduled: float) -> None:
            nonlocal failures
            reply = await http.post(
                "/api/v1/provider/weborders",
                content=body,
                headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
            )
            if reply.status_code != 201:
                failures += 1
            latencies.append((time.perf_counter() - scheduled) * 1000)

        # Warm the connection pool first, then the schedule.
        await asyncio.gather(*(one(time.perf_counter()) for _ in range(10)))
        latencies.clear()
        due: asyncio.Queue[float | None] = asyncio.Queue()

        async def sender() -> None:
            while (scheduled := await due.get()) is not None:
                await one(scheduled)

        senders = [asyncio.create_task(sender()) for _ in range(CONNECTIONS)]
        start = time.perf_counter() + 0.2
        for i in range(FIXED_RATE * FIXED_SECONDS):
            scheduled = start + i / FIXED_RATE
            if (delay := scheduled - time.perf_counter()) > 0:
                await asyncio.sleep(delay)
            due.put_nowait(scheduled)
        for _ in senders:
            due.put_nowait(None)
        await asyncio.gather(*senders)
    return latencies, failures


# --- run 3: the RPC alone ------------------------------------------------------------------------
async def rpc_only(amqp_url: str, key: str, school_number: int) -> tuple[float, list[float]]:
    """WEBORDER_CREATE straight to the weborders service, 50 in flight: (per second, ms)."""
    from ck_contracts.weborders import Ops
    from ck_runtime.rpc_client import RpcClient

    # A declared operation here; a plain name in a tree from before them (paired.py
    # --same-harness runs this file in the baseline tree too).
    op_name = getattr(Ops.WEBORDER_CREATE, "name", Ops.WEBORDER_CREATE)

    rpc = RpcClient(amqp_url, timeout=10, name="bench")
    await rpc.start()
    payload: dict[str, Any] = {
        "api_key": key,
        "weborder": {
            "school_number": school_number,
            "activity": "Voorstelling met nagesprek",
            "activity_date": (amsterdam_today(SystemClock()) + timedelta(days=30)).isoformat(),
            "participants": 25,
            "amount_cents": 37500,
        },
    }
    latencies: list[float] = []
    done = 0
    end = time.perf_counter() + RPC_SECONDS

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < end:
            start = time.perf_counter()
            reply = await rpc.call(
                "weborders",
                op_name,
                {**payload, "idempotency_key": uuid.uuid4().hex},
            )
            assert reply.ok, reply.error
            latencies.append((time.perf_counter() - start) * 1000)
            done += 1

    try:
        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CLIENTS)))
        return done / (time.perf_counter() - began), latencies
    finally:
        await rpc.stop()


QUIET = {
    f"{name.upper()}_LOG_LEVEL": "WARNING"
    for name in (
        "accounts",
        "roster",
        "membership",
        "budget",
        "invoicing",
        "weborders",
        "notifier",
        "gateway",
    )
}


# --- metrics off and on (--metrics [--rounds N]) -------------------------------------------------
def saturate_with_cpu(enabled: bool) -> tuple[float, float]:
    """A stack with METRICS_ENABLED as given: (weborders/s, CPU seconds per 1,000 weborders of
    every process of the platform and the broker)."""
    from ck_devstack import Stack

    env = {**QUIET, "WEBORDERS_PREFETCH": "64", "METRICS_ENABLED": str(enabled).lower()}
    with (
        isolated_vhost() as amqp_url,
        tempfile.TemporaryDirectory() as data,
        Stack(data, amqp_url, database_urls={}, env=env) as stack,
    ):
        school_number, key = school_and_provider_key(stack)
        body = weborder_body(school_number)
        wait_until_known(stack.portal_url, key, body)
        saturate(stack.portal_url, key, body, "warm", "5s")
        pids = stack_pids(stack)
        before = sum(cpu_seconds(pid) for pid in pids.values())
        rps, _p50, _p99, total = saturate(stack.portal_url, key, body, "run")
        spent = sum(cpu_seconds(pid) for pid in pids.values()) - before
        return rps, spent / total * 1000


def compare_metrics(rounds: int) -> None:
    """Metrics off and on in turns (off, on, off, on, ...): medians and their ratio."""
    import statistics

    figures: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
    for _ in range(rounds):
        for enabled in (False, True):
            figures[enabled].append(saturate_with_cpu(enabled))
    rps = {e: statistics.median(r for r, _ in figures[e]) for e in figures}
    cpu = {e: statistics.median(c for _, c in figures[e]) for e in figures}
    metric("weborders_create_rps_metrics_off", rps[False], "weborders/s")
    metric("weborders_create_rps_metrics_on", rps[True], "weborders/s")
    metric("weborders_cpu_per_1000_metrics_off", cpu[False], "cpu-s")
    metric("weborders_cpu_per_1000_metrics_on", cpu[True], "cpu-s")
    metric("weborders_create_rps_metrics_on_vs_off", rps[True] / rps[False], "ratio")
    metric("weborders_cpu_per_1000_metrics_on_vs_off", cpu[True] / cpu[False], "ratio")


def main() -> None:
    if "--tracing" in sys.argv[1:]:
        tracing_cost()
        return
    from ck_devstack import Stack

    if "--metrics" in sys.argv:
        rounds = int(sys.argv[sys.argv.index("--rounds") + 1]) if "--rounds" in sys.argv else 1
        compare_metrics(rounds)
        return
    baseline = bare_baseline()
    quiet = QUIET
    with (
        isolated_vhost() as amqp_url,
        tempfile.TemporaryDirectory() as data,
        Stack(data, amqp_url, database_urls={}, env={**quiet, "WEBORDERS_PREFETCH": "64"}) as stack,
    ):
        school_number, key = school_and_provider_key(stack)
        body = weborder_body(school_number)
        wait_until_known(stack.portal_url, key, body)
        saturate(stack.portal_url, key, body, "warm", "5s")  # connections, caches, SQLite pages

        pids = stack_pids(stack)
        before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        rps, p50, p99, total = saturate(stack.portal_url, key, body, "run")
        after = {name: cpu_seconds(pid) for name, pid in pids.items()}
        metric("weborders_create_rps", rps, "weborders/s")
        metric("weborders_create_p50", p50, "ms")
        metric("weborders_create_p99", p99, "ms")
        metric("weborders_create_clients", CLIENTS, "clients")
        metric("weborders_create_vs_target_300", rps / 300, "ratio")
        metric("weborders_create_vs_bare_fastapi", rps / baseline, "ratio")
        for name in sorted(pids, key=lambda n: before[n] - after[n]):
            spent = after[name] - before[name]
            if spent > 0.05:
                metric(f"weborders_cpu_{name}_per_1000", spent / total * 1000, "cpu-s")

        latencies, failures = asyncio.run(fixed_rate(stack.portal_url, key, body))
        metric("weborders_fixed_rate", FIXED_RATE, "weborders/s")
        metric("weborders_fixed_rate_p50", percentile(latencies, 50), "ms")
        metric("weborders_fixed_rate_p99", percentile(latencies, 99), "ms")
        metric("weborders_fixed_rate_max", max(latencies), "ms")
        metric("weborders_fixed_rate_failures", failures, "requests")

        rpc_rate, rpc_latencies = asyncio.run(rpc_only(amqp_url, key, school_number))
        metric("weborders_rpc_only_rps", rpc_rate, "weborders/s")
        metric("weborders_rpc_only_p50", percentile(rpc_latencies, 50), "ms")
        metric("weborders_rpc_only_p99", percentile(rpc_latencies, 99), "ms")


# --- --tracing: the same saturation run with tracing off and on ---------------------------------
# In turns, each mode as often first as second (a drifting machine affects both alike).
TRACING_ROUNDS = ("off", "on", "on", "off") * 3
TRACING_DURATION = os.environ.get("BENCH_TRACING_DURATION", "12s")


def tracing_cost() -> None:
    from ck_devstack import Stack
    from otlp_sink import OtlpSink

    ratio = os.environ.get("BENCH_TRACING_RATIO", "0.1")
    with contextlib.ExitStack() as scope:
        sink = scope.enter_context(OtlpSink())
        # Off: no endpoint, so ck_runtime.tracing makes nothing (whatever this shell has set).
        envs = {
            "off": {"OTEL_EXPORTER_OTLP_ENDPOINT": "", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": ""},
            "on": {
                "OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint,
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "",
                "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
                "OTEL_TRACES_SAMPLER_ARG": ratio,
            },
        }
        stacks: dict[str, tuple[Any, str, str]] = {}
        for mode, extra in envs.items():
            amqp_url = scope.enter_context(isolated_vhost())
            data = scope.enter_context(tempfile.TemporaryDirectory())
            env = {**QUIET, "WEBORDERS_PREFETCH": "64", **extra}
            stack = scope.enter_context(Stack(data, amqp_url, database_urls={}, env=env))
            school_number, key = school_and_provider_key(stack)
            body = weborder_body(school_number)
            wait_until_known(stack.portal_url, key, body)
            saturate(stack.portal_url, key, body, "warm", "5s")
            stacks[mode] = (stack, key, body)
        time.sleep(6)  # the warm-up's spans leave with the next batch (OTEL_BSP_SCHEDULE_DELAY)
        sink.reset()
        figures: dict[str, dict[str, list[float]]] = {m: {} for m in envs}
        requests_on = 0
        for turn, mode in enumerate(TRACING_ROUNDS):
            stack, key, body = stacks[mode]
            pids = stack_pids(stack)
            before = {name: cpu_seconds(pid) for name, pid in pids.items()}
            rps, p50, p99, total = saturate(
                stack.portal_url, key, body, f"r{turn}", TRACING_DURATION
            )
            after = {name: cpu_seconds(pid) for name, pid in pids.items()}
            spent = {name: (after[name] - before[name]) / total * 1000 for name in pids}
            if mode == "on":
                requests_on += total
            seen = figures[mode]
            for name, value in (
                ("rps", rps),
                ("p50", p50),
                ("p99", p99),
                ("cpu", sum(spent.values())),
                ("cpu_gateway", spent.get("gateway", 0.0)),
                ("cpu_weborders", spent.get("weborders", 0.0)),
            ):
                seen.setdefault(name, []).append(value)
            print(f"# {mode}: {rps:.0f}/s, {sum(spent.values()):.2f} cpu-s/1000", flush=True)
        time.sleep(6)  # the last batch of spans
        med = {m: {k: statistics.median(v) for k, v in f.items()} for m, f in figures.items()}
        for mode in envs:
            metric(f"weborders_create_rps_tracing_{mode}", med[mode]["rps"], "weborders/s")
            metric(f"weborders_create_p50_tracing_{mode}", med[mode]["p50"], "ms")
            metric(f"weborders_create_p99_tracing_{mode}", med[mode]["p99"], "ms")
            metric(f"weborders_cpu_per_1000_tracing_{mode}", med[mode]["cpu"], "cpu-s")
            for part in ("gateway", "weborders"):
                metric(
                    f"weborders_cpu_{part}_per_1000_tracing_{mode}",
                    med[mode][f"cpu_{part}"],
                    "cpu-s",
                )
        metric("weborders_tracing_rps_ratio", med["on"]["rps"] / med["off"]["rps"], "ratio")
        metric("weborders_tracing_cpu_ratio", med["on"]["cpu"] / med["off"]["cpu"], "ratio")
        metric("weborders_tracing_sample_ratio", float(ratio), "ratio")
        metric("weborders_tracing_spans_exported", sink.spans, "spans")
        metric("weborders_tracing_traces_exported", len(sink.trace_ids), "traces")
        metric("weborders_tracing_traces_per_request", len(sink.trace_ids) / requests_on, "ratio")
        spans_per_trace = sink.spans / max(1, len(sink.trace_ids))
        metric("weborders_tracing_spans_per_trace", spans_per_trace, "spans")


if __name__ == "__main__":
    main()
