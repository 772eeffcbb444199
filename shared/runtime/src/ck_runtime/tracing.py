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

from opentelemetry import context as otel_context
from opentelemetry import trace
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
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

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
# W3C trace context only (no baggage): called for every RPC request and outbox row, so the
# propagator is used directly rather than through the global composite one.
_W3C = TraceContextTextMapPropagator()


def inject(headers: MutableMapping[str, Any], context: Context | None = None) -> None:
    """Put `traceparent` (and `tracestate`) of the current span, or of `context`, in headers."""
    if _make_provider is not None:
        _W3C.inject(headers, context=context)


def current_context_carrier() -> dict[str, str] | None:
    """The current span's context as W3C headers (for an outbox row), None without a span.
    An unsampled context is kept too: its consumers must not start traces of their own."""
    if _make_provider is None or not trace.get_current_span().get_span_context().is_valid:
        return None
    carrier: dict[str, str] = {}
    _W3C.inject(carrier)
    return carrier or None


def extract(headers: Mapping[str, Any] | None) -> Context | None:
    if not headers:
        return None
    carrier = {k: v for k, v in headers.items() if isinstance(v, str)}
    return _W3C.extract(carrier) if "traceparent" in carrier else None


def unsampled(context: Context | None = None) -> bool:
    """Is the span of `context` (default: the current one) a valid one that was not sampled?
    Sampling is parent-based (the standard `parentbased_*` samplers, the default): no child of
    such a span is ever recorded, so the hooks below make none and pass the context on as it
    is, which spares most of what tracing costs for the nine requests in ten not sampled."""
    span_context = trace.get_current_span(context).get_span_context()
    return span_context.is_valid and not span_context.trace_flags.sampled


@contextmanager
def consume_span(
    service: str,
    name: str,
    headers: Mapping[str, Any] | None,
    kind: SpanKind,
    attributes: Mapping[str, str | int] | None = None,
) -> Iterator[Span | None]:
    """A server or consumer span around the handling of one message, child of the context in
    its headers (a new trace when they carry none); None when tracing is off, and when the
    sender's span was not sampled (then its context is current, for what is sent on)."""
    found = tracer(service)
    if found is None:
        yield None
        return
    parent = extract(headers)
    if parent is not None and unsampled(parent):
        token = otel_context.attach(parent)
        try:
            yield None
        finally:
            otel_context.detach(token)
        return
    with found.start_as_current_span(
        name, context=parent, kind=kind, attributes=attributes
    ) as span:
        yield span


@contextmanager
def client_span(
    service: str, name: str, kind: SpanKind, attributes: Mapping[str, str | int]
) -> Iterator[Span | None]:
    """A client or producer span under the current one; None when tracing is off or the
    current span was not sampled."""
    found = tracer(service)
    if found is None or unsampled():
        yield None
        return
    with found.start_as_current_span(name, kind=kind, attributes=attributes) as span:
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
_SPAN_OF_STATEMENT = "_ck_span"


def instrument_engine(engine: Any, service: str) -> None:
    """A client span per SQL statement on this engine, inside a sampled piece of work, when
    tracing is on: `db.system`, `db.name` and the statement as compiled, with placeholders and
    without its parameters (no personal data in spans). Statements outside any span (the
    outbox relay's polls, the retention job, health checks) start no trace of their own, and
    under an unsampled span they cost one check: a statement is the most frequent thing a
    service does.

    Two SQLAlchemy event listeners of our own rather than OpenTelemetry's SQLAlchemy
    instrumentation: that one built each statement's span data before asking whether anyone
    records it (a fifth of what tracing cost per weborder, bench/bench_tracing_overhead.py),
    and it is a process-wide singleton while a test process runs several services, each with
    its own engine and provider."""
    found = tracer(service)
    if found is None:
        return
    from sqlalchemy import event

    target = getattr(engine, "sync_engine", engine)
    system = str(target.dialect.name)
    database = os.path.basename(str(target.url.database or "")) or system

    def before(
        _conn: Any, _cursor: Any, statement: str, _params: Any, context: Any, _many: bool
    ) -> None:
        if context is None or not trace.get_current_span().is_recording():
            return
        verb = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else "SQL"
        span = found.start_span(
            f"{verb} {database}",
            kind=SpanKind.CLIENT,
            attributes={"db.system": system, "db.name": database, "db.statement": statement},
        )
        setattr(context, _SPAN_OF_STATEMENT, span)

    def after(
        _conn: Any, _cursor: Any, _statement: str, _params: Any, context: Any, _many: bool
    ) -> None:
        span = getattr(context, _SPAN_OF_STATEMENT, None)
        if span is not None:
            setattr(context, _SPAN_OF_STATEMENT, None)
            span.end()

    def failed(exception_context: Any) -> None:
        context = exception_context.execution_context
        span = getattr(context, _SPAN_OF_STATEMENT, None)
        if span is not None:
            setattr(context, _SPAN_OF_STATEMENT, None)
            span.set_status(
                Status(StatusCode.ERROR, type(exception_context.original_exception).__name__)
            )
            span.end()

    event.listen(target, "before_cursor_execute", before)
    event.listen(target, "after_cursor_execute", after)
    event.listen(target, "handle_error", failed)
