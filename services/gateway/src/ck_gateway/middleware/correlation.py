"""Correlation id per request, and one JSON access-log line per request.

The id comes from X-Correlation-ID when it is a sane token (a client or proxy may trace its
own requests), otherwise a new one. It is bound in structlog's context, so the RPC client sends
it on to the services and every log line of this request carries it, and it is echoed in the
response. The access log holds method, path (never the query string: it may carry tokens),
status and duration; never names or addresses (R-AVG-2).

The rules live here; ck_gateway.middleware.edge applies them, one layer for all six.
"""

from __future__ import annotations

import re

from ck_runtime.logs import get_logger

log = get_logger("ck_gateway.access")

HEADER = "X-Correlation-ID"
_SANE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{7,63}$")
_MAX_LOGGED_PATH = 200


def sane_correlation_id(value: str | None) -> str | None:
    """The client's id when it is 8-64 plain characters; anything else is not trusted."""
    if value and _SANE.match(value):
        return value
    return None
