"""The gateway's server span (ck_gateway.middleware.tracing): the sampler decides before any
attribute is built, an unsampled request leaves its children unsampled, a caller's
traceparent is continued, and a span holds no query string and no client address."""

from __future__ import annotations

import httpx
from ck_gateway.middleware.tracing import TracingMiddleware
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased, Sampler
from opentelemetry.trace import SpanKind

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"


def traced_app(sampler: Sampler) -> tuple[FastAPI, InMemorySpanExporter, list[bool]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=sampler)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    app = FastAPI(telemetry={"tracing": False, "metrics": False, "logs": False})
    inner_sampled: list[bool] = []

    @app.get("/api/v1/schools/{school_id}")
    async def school(school_id: str) -> dict[str, str]:
        # What the RPC client would see: the current span, recording or not.
        inner_sampled.append(trace.get_current_span().get_span_context().trace_flags.sampled)
        return {"school_id": school_id}

    @app.get("/health/live")
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    app.add_middleware(TracingMiddleware, tracer=provider.get_tracer("test"))
    return app, exporter, inner_sampled


async def get(app: FastAPI, path: str, headers: dict[str, str] | None = None) -> int:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://portal") as client:
        return (await client.get(path, headers=headers)).status_code


async def test_a_sampled_request_is_one_server_span_named_by_its_route() -> None:
    app, exporter, _ = traced_app(ALWAYS_ON)
    assert await get(app, "/api/v1/schools/42?token=geheim") == 200
    (span,) = exporter.get_finished_spans()
    assert span.kind == SpanKind.SERVER
    assert span.name == "GET /api/v1/schools/{school_id}"
    attributes = dict(span.attributes or {})
    assert attributes["http.route"] == "/api/v1/schools/{school_id}"
    assert attributes["http.response.status_code"] == 200
    assert attributes["url.path"] == "/api/v1/schools/42"
    text = repr(attributes)
    assert "geheim" not in text and "203.0.113.9" not in text


async def test_an_unsampled_request_records_nothing_and_its_children_stay_unsampled() -> None:
    app, exporter, inner_sampled = traced_app(ParentBased(ALWAYS_OFF))
    assert await get(app, "/api/v1/schools/42") == 200
    assert exporter.get_finished_spans() == ()
    assert inner_sampled == [False]


async def test_a_callers_traceparent_is_continued() -> None:
    app, exporter, inner_sampled = traced_app(ParentBased(ALWAYS_OFF))
    traceparent = f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"  # the caller sampled it
    assert await get(app, "/api/v1/schools/7", {"traceparent": traceparent}) == 200
    (span,) = exporter.get_finished_spans()
    assert format(span.context.trace_id, "032x") == CALLER_TRACE
    assert span.parent is not None and format(span.parent.span_id, "016x") == CALLER_SPAN
    assert inner_sampled == [True]


async def test_probes_are_not_traced() -> None:
    app, exporter, _ = traced_app(ALWAYS_ON)
    assert await get(app, "/health/live") == 200
    assert exporter.get_finished_spans() == ()
