"""OpenTelemetry traces: one trace from the HTTP request through the RPC call, the service's
database work, the events it publishes and their consumers.

Off unless `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set:
then nothing is created at all (every helper here returns at its first line), so tracing off
costs a global read per hook. On: an SDK tracer provider per process with the standard
sampler settings (`OTEL_TRACES_SAMPLER=parentbased_traceidratio`, `OTEL_TRACES_SAMPLER_ARG`),
a batch processor and the OTLP/HTTP exporter (`OTEL_EXPORTER_OTLP_*`).

Our RPC path is plain aio-pika, so the W3C `traceparent` travels in the AMQP headers by hand:
`inject()` on the sending side, `consume_span()` on the receiving side. The outbox keeps the
context of the transaction that wrote an event with the row (`OUTBOX_TRACE_KEY` in the body,
blanked with it once published) and the relay continues it.

Tests install an in-memory exporter with `install_for_tests()`; every service started in that
process then gets a provider of its own (its own `service.name`) on the same exporter.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.sdk.trace.sampling import ALWAYS_ON
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer

TRACER_NAME = "ck_runtime"
# The key under which an outbox row's body keeps the writer's trace context until published.
OUTBOX_TRACE_KEY = "_trace"
ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")

# service name -> provider; None: tracing is off (the common, cheap case).
_make_provider: Callable[[str], TracerProvider] | None = None
_providers: dict[str, TracerProvider] = {}
# service name -> its tracer: get_tracer builds a new Tracer on every call (a profile's top
# tracing frame when it was asked per RPC call and per message).
_tracers: dict[str, Tracer] = {}


def enabled() -> bool:
    return _make_provider is not None


def wanted(environ: Mapping[str, str] | None = None) -> bool:
    """Is an OTLP endpoint configured (and the SDK not disabled)?"""
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return any(env.get(name, "").strip() for name in ENDPOINT_VARIABLES)


def setup_from_environment(service: str) -> bool:
    """At process start (run_service, the gateway's main): export with OTLP when an endpoint
    is configured. Returns whether tracing is on."""
    global _make_provider
    if not wanted():
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    # sampler=None: the SDK reads OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG.
    provider = TracerProvider(resource=Resource.create({"service.name": f"ck-{service}"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)  # for any library that asks the global one
    _providers.clear()
    _tracers.clear()
    _make_provider = lambda _name: provider  # noqa: E731 - one service per process
    return True


def install_for_tests(exporter: SpanExporter) -> None:
    """Every span of this process to `exporter` (e.g. InMemorySpanExporter), all sampled,
    exported as each span ends; each service gets its own provider (`service.name`)."""
    global _make_provider

    def make(service: str) -> TracerProvider:
        provider = TracerProvider(
            resource=Resource.create({"service.name": f"ck-{service}"}), sampler=ALWAYS_ON
        )
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        return provider

    _providers.clear()
    _tracers.clear()
    _make_provider = make


def shutdown() -> None:
    """Flush what is batched and turn tracing off (process exit, end of a test)."""
    global _make_provider
    for provider in {id(p): p for p in _providers.values()}.values():
        provider.shutdown()
    _providers.clear()
    _tracers.clear()
    _make_provider = None


def provider(service: str) -> TracerProvider | None:
    make = _make_provider
    if make is None:
        return None
    found = _providers.get(service)
    if found is None:
        found = _providers[service] = make(service)
    return found


def tracer(service: str) -> Tracer | None:
    """The service's tracer; None when tracing is off."""
    if _make_provider is None:
        return None
    cached = _tracers.get(service)
    if cached is None:
        found = provider(service)
        if found is None:
            return None
        cached = _tracers[service] = found.get_tracer(TRACER_NAME)
    return cached


# -- propagation in AMQP headers ------------------------------------------------------------
def inject(headers: MutableMapping[str, Any], context: Context | None = None) -> None:
    """Put `traceparent` (and `tracestate`) of the current span, or of `context`, in headers."""
    if _make_provider is not None:
        propagate.inject(headers, context=context)


def current_context_carrier() -> dict[str, str] | None:
    """The current span's context as W3C headers (for an outbox row), None without a span.
    An unsampled context is kept too: its consumers must not start traces of their own."""
    if _make_provider is None or not trace.get_current_span().get_span_context().is_valid:
        return None
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier or None


def extract(headers: Mapping[str, Any] | None) -> Context | None:
    if not headers:
        return None
    carrier = {k: v for k, v in headers.items() if isinstance(v, str)}
    return propagate.extract(carrier) if "traceparent" in carrier else None


@contextmanager
def consume_span(
    service: str,
    name: str,
    headers: Mapping[str, Any] | None,
    kind: SpanKind,
    attributes: Mapping[str, str | int] | None = None,
) -> Iterator[Span | None]:
    """A server or consumer span around the handling of one message, child of the context in
    its headers (a new trace when they carry none); None when tracing is off."""
    found = tracer(service)
    if found is None:
        yield None
        return
    with found.start_as_current_span(
        name, context=extract(headers), kind=kind, attributes=attributes
    ) as span:
        yield span


def mark_failed(span: Span | None, description: str) -> None:
    if span is not None and span.is_recording():
        span.set_status(Status(StatusCode.ERROR, description))


# -- logs ---------------------------------------------------------------------------------------
def add_trace_id(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: the trace and span id of the current span, when there is one."""
    if _make_provider is not None:
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            event_dict["trace_id"] = format(context.trace_id, "032x")
            event_dict["span_id"] = format(context.span_id, "016x")
    return event_dict


# -- the database -------------------------------------------------------------------------------
def instrument_engine(engine: Any, service: str) -> None:
    """A span per statement on this engine (SQLAlchemy instrumentation) inside a sampled
    piece of work, when tracing is on. Statements outside any span (the outbox relay's polls,
    the retention job, health checks) start no trace of their own, and under an unsampled
    span they are skipped at once: their spans would be dropped by the parent-based sampler
    anyway, and a statement is the most frequent thing a service does.

    EngineTracer rather than SQLAlchemyInstrumentor().instrument(engine=...): the instrumentor
    is a process-wide singleton that instruments once and also patches create_engine, while a
    test process runs several services, each with its own engine and provider."""
    found = tracer(service)
    if found is None:
        return
    from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
    from opentelemetry.metrics import get_meter

    class _InSampledSpansOnly(EngineTracer):
        @classmethod
        def _register_event_listener(
            cls, target: Any, identifier: str, func: Any, *args: Any, **kw: Any
        ) -> None:
            # Statements only: the pool events feed a connection-usage metric of OpenTelemetry
            # metrics, which this platform does not export (metrics are Prometheus').
            if identifier in ("before_cursor_execute", "after_cursor_execute", "handle_error"):
                super()._register_event_listener(  # type: ignore[no-untyped-call]
                    target, identifier, func, *args, **kw
                )

        def _before_cur_exec(
            self, conn: Any, cursor: Any, statement: Any, params: Any, context: Any, many: Any
        ) -> tuple[Any, Any]:
            if not trace.get_current_span().is_recording():
                return statement, params
            result: tuple[Any, Any] = super()._before_cur_exec(  # type: ignore[no-untyped-call]
                conn, cursor, statement, params, context, many
            )
            return result

    # Statements are recorded without their parameters (no personal data in spans).
    usage = get_meter(TRACER_NAME).create_up_down_counter("db.client.connections.usage")
    _InSampledSpansOnly(found, getattr(engine, "sync_engine", engine), usage)  # type: ignore[no-untyped-call]
