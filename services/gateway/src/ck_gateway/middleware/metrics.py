"""ck_http_requests_total{route,status} and ck_http_request_duration_seconds{route}.

`route` is the template of the route that answered ("/api/v1/schools/{school_id}", or a
mount such as "/static"), read from the scope after routing; a request no route matched is
"unmatched". Raw paths would give a label value per school, weborder and typo: unbounded.
"""

from __future__ import annotations

import time

from ck_runtime import metrics
from starlette.types import ASGIApp, Message, Receive, Scope, Send

UNMATCHED = "unmatched"


def route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else UNMATCHED


class HttpMetricsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not metrics.ENABLED:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if the app fails before answering

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            route = route_template(scope)
            metrics.HTTP_REQUESTS.labels(route, str(status)).inc()
            metrics.HTTP_DURATION.labels(route).observe(time.perf_counter() - started)
