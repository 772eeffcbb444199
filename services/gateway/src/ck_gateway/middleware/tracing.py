"""A server span per HTTP request when tracing is on (ck_runtime.tracing); the RPC client's
spans are its children.

Our own ASGI middleware rather than OpenTelemetry's FastAPI instrumentation: that one builds
every request's attributes (URL, headers, client) before the sampler decides, so with a 10 %
sampler nine requests in ten paid for attributes nobody keeps: 150 to 240 µs of CPU per
request, more than the rest of tracing together (docs/performance.md, "Tracing"). Here the
sampler decides first, on the span's name alone; only a recorded span gets attributes. What
a span may hold is chosen here, not scrubbed afterwards: no query string (password and
activation links carry tokens) and no client address (R-AVG-2).
"""

from __future__ import annotations

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, StatusCode, Tracer
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ck_gateway.middleware.metrics import UNMATCHED, route_template

# Probes and scrapes every few seconds would be most of the traces and tell nothing.
UNTRACED_PREFIXES = ("/health", "/metrics", "/static", "/api/docs")


def _parent(scope: Scope) -> otel_context.Context | None:
    """The caller's W3C context, when the request carries a `traceparent`."""
    carrier: dict[str, str] = {}
    for name, value in scope["headers"]:
        if name in (b"traceparent", b"tracestate"):
            carrier[name.decode("latin-1")] = value.decode("latin-1")
    return propagate.extract(carrier) if "traceparent" in carrier else None


class TracingMiddleware:
    def __init__(self, app: ASGIApp, tracer: Tracer) -> None:
        self.app = app
        self.tracer = tracer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(UNTRACED_PREFIXES):
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        parent = _parent(scope)
        span = self.tracer.start_span(method, context=parent, kind=SpanKind.SERVER)
        token = otel_context.attach(trace.set_span_in_context(span, parent))
        try:
            if not span.is_recording():  # not sampled: the RPC spans below inherit that
                await self.app(scope, receive, send)
                return
            await self._recorded(span, scope, receive, send)
        finally:
            otel_context.detach(token)
            span.end()

    async def _recorded(self, span: trace.Span, scope: Scope, receive: Receive, send: Send) -> None:
        status = 0

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        method = scope["method"]
        span.set_attributes(
            {
                "http.request.method": method,
                "url.path": scope["path"],
                "url.scheme": scope.get("scheme", "http"),
            }
        )
        try:
            await self.app(scope, receive, send_noting_status)
        except BaseException as exc:
            span.set_status(StatusCode.ERROR, type(exc).__name__)
            raise
        finally:
            route = route_template(scope)
            if route != UNMATCHED:
                span.update_name(f"{method} {route}")
                span.set_attribute("http.route", route)
            if status:
                span.set_attribute("http.response.status_code", status)
            if status >= 500 or status == 0:
                span.set_status(StatusCode.ERROR)
