"""Request body size limit: Content-Length is checked before reading, streamed bytes counted.

A body larger than the limit is never read in full: a declared length over the limit is
refused at once, and a chunked body is cut off at the first byte over it. The 413 answer is a
Dutch page, or JSON under /api. After it the app sees a disconnected client and whatever it
still tries to send is dropped.

The rules live here; ck_gateway.middleware.edge applies them, one layer for all six.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import Scope

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
