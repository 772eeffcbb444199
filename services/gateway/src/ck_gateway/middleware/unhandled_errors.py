"""The last safety net: an unexpected exception becomes a Dutch 500, logged without data.

Innermost of our middleware, so the 500 still passes the security headers and the access log
(Starlette's own ServerErrorMiddleware sits outside all of them).
"""

from __future__ import annotations

from collections.abc import Callable

from ck_runtime.logs import get_logger
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = get_logger(__name__)


def exception_summary(exc: BaseException) -> dict[str, str]:
    """Type and place of an exception, not its message: messages may quote user input."""
    where = ""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is not None:
        code = tb.tb_frame.f_code
        where = f"{code.co_filename}:{tb.tb_lineno} in {code.co_name}"
    return {"error_type": type(exc).__name__, "where": where}


class UnhandledErrorMiddleware:
    def __init__(self, app: ASGIApp, respond: Callable[[Scope], Response]) -> None:
        self.app = app
        self.respond = respond

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            log.error("http.unhandled", path=str(scope["path"])[:200], **exception_summary(exc))
            if started:
                raise  # too late for an error page; the server closes the connection
            await self.respond(scope)(scope, receive, send)
