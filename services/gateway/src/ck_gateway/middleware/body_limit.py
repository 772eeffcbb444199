"""Request body size limit: Content-Length is checked before reading, streamed bytes counted.

A body larger than the limit is never read in full: a declared length over the limit is
refused at once, and a chunked body is cut off at the first byte over it. The 413 answer is a
Dutch page, or JSON under /api. After it the app sees a disconnected client and whatever it
still tries to send is dropped.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

RejectResponse = Callable[[Scope], Response]
LimitFor = Callable[[Scope], int]


def declared_length(headers: Headers) -> int | None:
    """The Content-Length, or None when absent or unreadable (then bytes are counted)."""
    value = headers.get("content-length")
    # ASCII digits only: str.isdigit() also accepts "²" (latin-1 in a header), which int() refuses.
    if value is None or not (digits := value.strip()).isascii() or not digits.isdigit():
        return None
    return int(value)


class ByteBudget:
    """Counts body bytes as they arrive; `exceeded` once the total passes the limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.received = 0

    def add(self, chunk_size: int) -> bool:
        """Add a chunk; True while the total is within the limit."""
        self.received += chunk_size
        return self.received <= self.limit

    @property
    def exceeded(self) -> bool:
        return self.received > self.limit


class BodySizeLimitMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        reject: RejectResponse,
        limit_for: LimitFor | None = None,
    ) -> None:
        """`limit_for` may give some requests (file uploads) another limit than `max_bytes`."""
        self.app = app
        self.max_bytes = max_bytes
        self.reject = reject
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope) if self.limit_for is not None else self.max_bytes
        declared = declared_length(Headers(scope=scope))
        if declared is not None and declared > limit:
            await self.reject(scope)(scope, receive, send)
            return

        budget = ByteBudget(limit)
        response_started = False
        rejected = False

        async def counted_receive() -> Message:
            nonlocal rejected
            if rejected:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request" and not budget.add(len(message.get("body", b""))):
                rejected = True
                if not response_started:
                    await self.reject(scope)(scope, receive, send)
                return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal response_started
            if rejected:
                return  # the 413 went out already; the app's own answer is dropped
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except Exception:
            if not rejected:
                raise
            # The app failed on the body we cut off; the client has its 413 already.
