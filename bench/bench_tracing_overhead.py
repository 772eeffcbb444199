"""What tracing adds to one weborder's work, measured in one process (issue 11).

bench_weborders.py --tracing measures the whole stack, but on a shared 2-core machine its CPU
per 1,000 spreads by more than the effect. This one isolates the tracing hooks a weborder
create passes through and counts this process's CPU time, in blocks of requests that
alternate between an untraced and a traced copy of the same path (so a drifting machine
affects both alike):

- the gateway's server span (ck_gateway.middleware.tracing) around a FastAPI route,
- the RPC client span and its `traceparent` header (as ck_runtime.rpc_client),
- the service's server span from that header (ck_runtime.tracing.consume_span),
- five SQL statements on an instrumented engine (ck_runtime.tracing.instrument_engine; an
  in-memory SQLite engine without aiosqlite's thread, whose hand-overs made the CPU time of
  a block vary by a third from one block to the next),
- the outbox's trace carrier (ck_runtime.tracing.current_context_carrier).

The untraced copy takes the path production takes with tracing off (no middleware, no
instrumented engine, no span). Tracing on is the production set-up: OTLP/HTTP export with the
batch processor (to bench/otlp_sink.py in the parent process, which decodes and discards),
parent-based sampler at 10 %; the exporter's thread is part of the measured process's CPU.

    uv run python bench/bench_tracing_overhead.py

Prints the CPU per request untraced and traced, the difference in microseconds, and that
difference as a share of the whole stack's CPU per weborder (BENCH_STACK_CPU_MS: the CPU per
weborder of bench_weborders.py with tracing off; default 4.9 ms, measured on a quiet machine).
"""

import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BLOCKS = int(os.environ.get("BENCH_TRACING_BLOCKS", "16"))  # per mode
BLOCK = int(os.environ.get("BENCH_TRACING_BLOCK", "400"))  # requests per block
STACK_CPU_MS = float(os.environ.get("BENCH_STACK_CPU_MS", "4.9"))
SAMPLER = {
    "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
    "OTEL_TRACES_SAMPLER_ARG": "0.1",
    "OTEL_BSP_SCHEDULE_DELAY": "500",
}


async def measure() -> tuple[list[float], list[float], int]:
    """CPU seconds per request of each block, untraced and traced, and the requests traced."""
    import httpx
    from ck_gateway.middleware.tracing import TracingMiddleware
    from ck_runtime import tracing
    from fastapi import FastAPI
    from opentelemetry.trace import SpanKind
    from pydantic import BaseModel
    from sqlalchemy import create_engine, text

    assert tracing.setup_from_environment("gateway"), "OTEL_EXPORTER_OTLP_ENDPOINT is not set"
    untraced_db = create_engine("sqlite://")
    traced_db = create_engine("sqlite://")
    tracing.instrument_engine(traced_db, "weborders")
    for db in (untraced_db, traced_db):
        with db.begin() as conn:
            conn.execute(text("CREATE TABLE w (id INTEGER PRIMARY KEY, v TEXT)"))

    class Body(BaseModel):
        school_number: int
        activity: str
        amount_cents: int
        date: str

    async def service_side(headers: dict[str, str], traced: bool) -> None:
        span: Any = contextlib.nullcontext()
        if traced:
            name = "weborders/weborder.create"
            span = tracing.consume_span("weborders", name, headers, SpanKind.SERVER)
        with span:
            db = traced_db if traced else untraced_db
            with db.begin() as conn:
                for _ in range(4):
                    conn.execute(text("INSERT INTO w (v) VALUES (:v)"), {"v": "x"})
                conn.execute(text("SELECT count(*) FROM w WHERE id < 3"))
            if traced:
                tracing.current_context_carrier()  # what the outbox keeps with an event

    def app(traced: bool) -> FastAPI:
        made = FastAPI(telemetry={"tracing": False, "metrics": False, "logs": False})

        @made.post("/api/v1/provider/weborders", status_code=201)
        async def create(body: Body) -> dict[str, int]:
            headers: dict[str, str] = {}
            tracer = tracing.tracer("gateway") if traced else None
            if tracer is None:
                await service_side(headers, traced)
            else:
                with tracer.start_as_current_span(
                    "weborders/weborder.create",
                    kind=SpanKind.CLIENT,
                    attributes={"rpc.system": "ck-amqp", "rpc.service": "weborders"},
                ):
                    tracing.inject(headers)
                    await service_side(headers, traced)
            return {"school_number": body.school_number}

        if traced:
            found = tracing.tracer("gateway")
            assert found is not None
            made.add_middleware(TracingMiddleware, tracer=found)
        return made

    payload = {
        "school_number": 100001,
        "activity": "Voorstelling Romeo en Julia",
        "amount_cents": 12500,
        "date": "2026-12-24",
    }
    clients = {
        traced: httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app(traced)), base_url="http://p"
        )
        for traced in (False, True)
    }

    async def block(traced: bool, count: int) -> float:
        started = time.process_time()
        for _ in range(count):
            reply = await clients[traced].post("/api/v1/provider/weborders", json=payload)
            assert reply.status_code == 201, reply.text
        return (time.process_time() - started) / count

    await block(False, 300)
    await block(True, 300)
    figures: dict[bool, list[float]] = {False: [], True: []}
    for turn in range(BLOCKS):
        for traced in (False, True) if turn % 2 == 0 else (True, False):
            figures[traced].append(await block(traced, BLOCK))
    tracing.shutdown()
    for client in clients.values():
        await client.aclose()
    for db in (untraced_db, traced_db):
        db.dispose()
    return figures[False], figures[True], 300 + BLOCKS * BLOCK


def main() -> None:
    if sys.argv[1:2] == ["--child"]:  # the measuring process: the sink's CPU is not in it
        untraced, traced, requests = asyncio.run(measure())
        print(json.dumps({"untraced": untraced, "traced": traced, "requests": requests}))
        return
    sys.path.insert(0, str(Path(__file__).parent))
    from benchkit import metric
    from otlp_sink import OtlpSink

    with OtlpSink() as sink:
        env = {**os.environ, **SAMPLER, "OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint}
        env.pop("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", None)
        out = subprocess.run(
            [sys.executable, __file__, "--child"], env=env, capture_output=True, text=True
        )
        if out.returncode != 0:
            raise SystemExit(out.stderr)
        figures = json.loads(out.stdout.strip().splitlines()[-1])
        time.sleep(0.5)
        traces = len(sink.trace_ids)
    off = statistics.median(figures["untraced"]) * 1e6
    on = statistics.median(figures["traced"]) * 1e6
    metric("tracing_hooks_cpu_per_request_off", off, "us")
    metric("tracing_hooks_cpu_per_request_on", on, "us")
    metric("tracing_hooks_cpu_added_per_request", on - off, "us")
    metric("tracing_hooks_traces_per_request", traces / figures["requests"], "ratio")
    metric("tracing_added_share_of_stack_cpu", (on - off) / (STACK_CPU_MS * 1000), "ratio")


if __name__ == "__main__":
    main()
