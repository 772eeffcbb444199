"""JSON logs with one correlation id followed from the HTTP request through every service.

structlog's contextvars carry the correlation id: the gateway binds it per request, the RPC
client sends it as a header, the consumers bind it again per message, the outbox stores it.
With tracing on (ck_runtime.tracing) a line written inside a span also has its trace_id.
Never log personal data (R-AVG-2): log ids, counts and operation names only.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog
from structlog.contextvars import bind_contextvars, get_contextvars

from ck_runtime.random_ids import uuid4_hex
from ck_runtime.tracing import add_trace_id

_configured = False


def configure_logging(service: str, level: str = "INFO", json: bool = True) -> None:
    global _configured
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        add_trace_id,  # trace_id and span_id while a span is active (tracing on)
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
    ]
    renderer: Any = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[*processors, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    # Libraries (aio-pika, uvicorn, faststream) log through the standard library: keep them
    # quiet unless they warn, and in the same stream.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(message)s")
    structlog.contextvars.bind_contextvars(service=service)
    _configured = True


def get_logger(name: str | None = None) -> Any:
    return structlog.get_logger(name)


def new_correlation_id() -> str:
    return uuid4_hex()


def bind_correlation_id(correlation_id: str | None) -> str:
    cid = correlation_id or new_correlation_id()
    bind_contextvars(correlation_id=cid)
    return cid


def current_correlation_id() -> str | None:
    value = get_contextvars().get("correlation_id")
    return str(value) if value else None
