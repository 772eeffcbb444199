"""The last safety net: an unexpected exception becomes a Dutch 500, logged without data.

Innermost of our middleware, so the 500 still passes the security headers and the access log
(Starlette's own ServerErrorMiddleware sits outside all of them).

The rules live here; ck_gateway.middleware.edge applies them, one layer for all six.
"""

from __future__ import annotations

from ck_runtime.logs import get_logger

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
