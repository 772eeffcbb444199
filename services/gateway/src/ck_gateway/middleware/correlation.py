"""Correlation id per request, and one JSON access-log line per request.

The id comes from X-Correlation-ID when it is a sane token (a client or proxy may trace its
own requests), otherwise a new one. It is bound in structlog's context, so the RPC client sends
it on to the services and every log line of this request carries it, and it is echoed in the
response. The access log holds method, path (never the query string: it may carry tokens),
status and duration; never names or addresses (R-AVG-2).
"""

from __future__ import annotations

import re
import time

from ck_runtime.logs import bind_correlation_id, get_logger
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from structlog.contextvars import get_contextvars, unbind_contextvars

log = get_logger("ck_gateway.access")

HEADER = "X-Correlation-ID"
_SANE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{7,63}$")
_MAX_LOGGED_PATH = 200


def sane_correlation_id(value: str | None) -> str | None:
    """The client's id when it is 8-64 plain characters; anything else is not trusted."""
    if value and _SANE.match(value):
        return value
    return None


class CorrelationIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        previous = get_contextvars().get("correlation_id")
        cid = bind_correlation_id(sane_correlation_id(Headers(scope=scope).get(HEADER)))
        started = time.perf_counter()
        status = 500  # what the client gets if the app fails before answering

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = list(message.get("headers", []))
                headers.append((HEADER.lower().encode(), cid.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            log.info(
                "http.request",
                method=scope["method"],
                path=str(scope["path"])[:_MAX_LOGGED_PATH],
                status=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 1),
            )
            # Requests served in the caller's task (tests, ASGI transports) must not leak ids.
            if previous is None:
                unbind_contextvars("correlation_id")
            else:
                bind_correlation_id(str(previous))
