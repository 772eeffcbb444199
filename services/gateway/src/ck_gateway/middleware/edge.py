"""Our request middleware as one pure-ASGI layer (issue 15).

What used to be six layers, outermost first, each with its own `send` wrapper, header parse
and coroutine frame (0.055-0.085 ms of the app's 0.09-0.13 ms per weborder in-process,
docs/performance.md "Gateway, third round"):

1. metrics: ck_http_requests_total{route,status} and the duration (ck_gateway.middleware.
   metrics), counted for every answer, also a 413, a 400 or a 500 made here;
2. correlation id and the access-log line (ck_gateway.middleware.correlation);
3. security headers on every answer (ck_gateway.middleware.security_headers);
4. Idempotency-Key: a bad key answers 400; a good one scopes the derived request ids to the
   request (ck_gateway.idempotency);
5. body size limit: a declared length over it answers 413 at once, a streamed body is cut
   off at the first byte over it and the app's own answer dropped
   (ck_gateway.middleware.body_limit);
6. the unhandled-error net: an exception before the answer started becomes the Dutch 500
   (ck_gateway.middleware.unhandled_errors).

Same order, same answers, same headers in the same order as the six layers gave them; the
modules named above keep the rules (policies, header names, limits), this one applies them.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ck_runtime import metrics
from ck_runtime.logs import bind_correlation_id
from starlette.datastructures import Headers
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from structlog.contextvars import get_contextvars, unbind_contextvars

from ck_gateway import errors, idempotency
from ck_gateway.middleware.body_limit import ByteBudget, LimitFor, RejectResponse, declared_length
from ck_gateway.middleware.correlation import _MAX_LOGGED_PATH, sane_correlation_id
from ck_gateway.middleware.correlation import log as access_log
from ck_gateway.middleware.metrics import route_template
from ck_gateway.middleware.security_headers import (
    DOCS_PREFIX,
    FIXED_HEADERS,
    HSTS,
    policy_for,
)
from ck_gateway.middleware.unhandled_errors import exception_summary
from ck_gateway.middleware.unhandled_errors import log as error_log

_CORRELATION = b"x-correlation-id"
_CORRELATION_NAME = "x-correlation-id"
_IDEMPOTENCY_NAME = idempotency.HEADER.lower()


def _security_headers(path: str, hsts: bool) -> list[tuple[bytes, bytes]]:
    """The headers the security layer set by default for a path, in its order."""
    pairs = [("Content-Security-Policy", policy_for(path)), *FIXED_HEADERS.items()]
    if hsts:
        pairs.append(("Strict-Transport-Security", HSTS))
    if not path.startswith("/static/") and not path.startswith(DOCS_PREFIX):
        # Pages carry school data: no copies in shared or back-button caches.
        pairs.append(("Cache-Control", "no-store"))
    return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in pairs]


class GatewayEdge:
    def __init__(
        self,
        app: ASGIApp,
        *,
        secret: str,
        hsts: bool,
        max_bytes: int,
        reject: RejectResponse,
        limit_for: LimitFor | None,
        respond: Callable[[Scope], Response],
    ) -> None:
        self.app = app
        self.secret = secret
        self.max_bytes = max_bytes
        self.reject = reject
        self.limit_for = limit_for
        self.respond = respond
        # Built once per kind of path instead of five MutableHeaders.setdefault scans per
        # answer: the policies depend only on these two path prefixes.
        self._docs_headers = _security_headers(DOCS_PREFIX, hsts)
        self._static_headers = _security_headers("/static/", hsts)
        self._page_headers = _security_headers("/", hsts)

    def _defaults_for(self, path: str) -> list[tuple[bytes, bytes]]:
        if path.startswith(DOCS_PREFIX):
            return self._docs_headers
        if path.startswith("/static/"):
            return self._static_headers
        return self._page_headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        measured = metrics.ENABLED
        started = time.perf_counter()
        status = 500  # what the client gets if the app fails before answering
        path = str(scope["path"])
        method = scope["method"]
        headers = Headers(scope=scope)
        previous = get_contextvars().get("correlation_id")
        cid = bind_correlation_id(sane_correlation_id(headers.get(_CORRELATION_NAME)))
        defaults = self._defaults_for(path)
        correlation = (_CORRELATION, cid.encode())

        async def edge_send(message: Message) -> None:
            """What every answer passes on its way out: security headers, correlation id,
            the status noted for the access log and the metrics."""
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                out = list(message["headers"])
                present = {name for name, _ in out}
                out.extend(pair for pair in defaults if pair[0] not in present)
                out.append(correlation)
                message["headers"] = out
            await send(message)

        try:
            await self._idempotency(scope, headers, path, method, receive, edge_send)
        finally:
            access_log.info(
                "http.request",
                method=method,
                path=str(scope["path"])[:_MAX_LOGGED_PATH],
                status=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 1),
            )
            # Requests served in the caller's task (tests, ASGI transports) must not leak ids.
            if previous is None:
                unbind_contextvars("correlation_id")
            else:
                bind_correlation_id(str(previous))
            if measured:
                route = route_template(scope)
                metrics.HTTP_REQUESTS.labels(route, str(status)).inc()
                metrics.HTTP_DURATION.labels(route).observe(time.perf_counter() - started)

    async def _idempotency(
        self,
        scope: Scope,
        headers: Headers,
        path: str,
        method: str,
        receive: Receive,
        send: Send,
    ) -> None:
        if method not in idempotency.STATE_CHANGING or not path.startswith(idempotency.API_PREFIX):
            await self._limited(scope, headers, receive, send)
            return
        key = headers.get(_IDEMPOTENCY_NAME)
        principal = headers.get("authorization", "")
        if key is None or not principal:
            await self._limited(scope, headers, receive, send)
            return
        if not idempotency.valid_key(key):
            error = errors.GatewayError(400, errors.BAD_REQUEST, idempotency.BAD_KEY_MESSAGE)
            await JSONResponse(error.body(), status_code=400)(scope, receive, send)
            return
        token = idempotency.use(idempotency.derive(self.secret, principal, method, path, key))
        try:
            await self._limited(scope, headers, receive, send)
        finally:
            idempotency.release(token)

    async def _limited(self, scope: Scope, headers: Headers, receive: Receive, send: Send) -> None:
        """The body limit around the unhandled-error net around the app."""
        limit = self.limit_for(scope) if self.limit_for is not None else self.max_bytes
        declared = declared_length(headers)
        if declared is not None and declared > limit:
            await self.reject(scope)(scope, receive, send)
            return

        budget = ByteBudget(limit)
        started = False  # the app (or the 500 below) began its answer
        rejected = False

        async def counted_receive() -> Message:
            nonlocal rejected
            if rejected:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request" and not budget.add(len(message.get("body", b""))):
                rejected = True
                if not started:
                    await self.reject(scope)(scope, receive, send)
                return {"type": "http.disconnect"}
            return message

        async def app_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            if rejected:
                return  # the 413 went out already; the app's own answer is dropped
            await send(message)

        try:
            await self.app(scope, counted_receive, app_send)
        except Exception as exc:
            error_log.error(
                "http.unhandled", path=str(scope["path"])[:200], **exception_summary(exc)
            )
            if started:
                if rejected:
                    return  # the app failed on the body we cut off; the client has its 413
                raise  # too late for an error page; the server closes the connection
            await self.respond(scope)(scope, counted_receive, app_send)
