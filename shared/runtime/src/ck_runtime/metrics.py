"""Prometheus metrics of a process (prometheus-client), served as text on GET /metrics.

Names and labels (docs/operations.md, "Watch: health, metrics, alerts", says what to do):

- `ck_rpc_requests_total{side,service,op,outcome}` and `ck_rpc_duration_seconds{side,service,op}`:
  request/reply on both sides in one family, told apart by `side`: "server" (the service
  that answers, ck_runtime.rpc_consumer) and "client" (the gateway, ck_runtime.rpc_client).
  `service` is the answering service. outcome: "ok", an error code of the reply
  (ck_contracts.rpc.ErrorCode, lower case), or on the client also "timeout" / "unavailable".
- `ck_events_handled_total{queue,outcome}`: handled, duplicate, poison, failed.
- `ck_outbox_published_total{service}`: outbox rows this process's relay published (with two
  replicas each relay counts its own rows: both take part, see docs/operations.md).
- `ck_outbox_pending{service}`, `ck_outbox_oldest_pending_seconds{service}`,
  `ck_dead_letter_messages{queue}` and service-specific gauges (the notifier's mails):
  sampled by a background task every `metrics_sample_seconds`, never per scrape.
- `ck_ready{service}`: 1 while ready, 0 while /health/ready answers 503.
- The gateway's `ck_http_requests_total{route,status}` and `ck_http_request_duration_seconds
  {route}` (route = the route's template, ck_gateway.middleware.metrics).

Metrics live in prometheus-client's process-wide registry. METRICS_ENABLED=false (the
benchmark's "off" run) turns every recording into one flag test and /metrics into a 404.
"""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

# Read on every recording: a module attribute, set once at start (configure()).
ENABLED = True

# Latencies from sub-millisecond (a cached read) to the RPC timeout and beyond.
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

RPC_REQUESTS = Counter(
    "ck_rpc_requests",
    "Requests of request/reply by side (client, server), service, operation and outcome.",
    ["side", "service", "op", "outcome"],
)
RPC_DURATION = Histogram(
    "ck_rpc_duration_seconds",
    "Time from request to reply by side, service and operation.",
    ["side", "service", "op"],
    buckets=_BUCKETS,
)
EVENTS_HANDLED = Counter(
    "ck_events_handled",
    "Event deliveries by queue and outcome (handled, duplicate, poison, failed).",
    ["queue", "outcome"],
)
OUTBOX_PUBLISHED = Counter(
    "ck_outbox_published", "Outbox rows published by this process's relay.", ["service"]
)
OUTBOX_PENDING = Gauge(
    "ck_outbox_pending", "Outbox rows not yet published to the broker.", ["service"]
)
OUTBOX_OLDEST = Gauge(
    "ck_outbox_oldest_pending_seconds",
    "Age of the oldest unpublished outbox row (0 when none waits).",
    ["service"],
)
DEAD_LETTERS = Gauge(
    "ck_dead_letter_messages", "Messages in the dead-letter queue of an event queue.", ["queue"]
)
HTTP_REQUESTS = Counter(
    "ck_http_requests", "Gateway HTTP answers by route template and status.", ["route", "status"]
)
HTTP_DURATION = Histogram(
    "ck_http_request_duration_seconds",
    "Gateway HTTP request duration by route template.",
    ["route"],
    buckets=_BUCKETS,
)
READY = Gauge(
    "ck_ready",
    "1 while /health/ready answers 200 (database and broker usable), else 0; set per scrape "
    "from the cached readiness answer.",
    ["service"],
)
MAILS_PENDING = Gauge("ck_mails_pending", "Notifier mails waiting to be sent.")
MAILS_FAILED = Gauge("ck_mails_failed", "Notifier mails that failed for good (need a look).")

# labels() takes a lock and builds a key per call; the hot paths keep their children here.
_rpc_counters: dict[tuple[str, str, str, str], Counter] = {}
_rpc_histograms: dict[tuple[str, str, str], Histogram] = {}


def configure(enabled: bool) -> None:
    global ENABLED
    ENABLED = enabled


def rpc_observed(side: str, service: str, op: str, outcome: str, seconds: float) -> None:
    """One request/reply on `side`: counted and timed."""
    key = (side, service, op, outcome)
    counter = _rpc_counters.get(key)
    if counter is None:
        counter = _rpc_counters[key] = RPC_REQUESTS.labels(*key)
    counter.inc()
    hkey = (side, service, op)
    histogram = _rpc_histograms.get(hkey)
    if histogram is None:
        histogram = _rpc_histograms[hkey] = RPC_DURATION.labels(*hkey)
    histogram.observe(seconds)


def outbox_published(service: str, count: int) -> None:
    if ENABLED:
        OUTBOX_PUBLISHED.labels(service).inc(count)


def event_handled(queue: str, outcome: str) -> None:
    if ENABLED:
        EVENTS_HANDLED.labels(queue, outcome).inc()


def exposition() -> tuple[bytes, str]:
    """The body and content type of GET /metrics."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
