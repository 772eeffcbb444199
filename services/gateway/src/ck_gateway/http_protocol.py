"""uvicorn's httptools protocol, writing an answer's head and body in one `write` (issue 15).

uvicorn (0.54) writes the status line and headers when the app sends `http.response.start` and
the body on `http.response.body`: two `transport.write` calls, and on uvloop two `send`
syscalls and two TCP segments per answer. In the gateway's profile under the weborders
benchmark uvicorn's `send` was ~13 % of the GIL-held samples (docs/performance.md). This
protocol holds the head of an answer with a Content-Length and writes it together with the
first body message: the same bytes in the same order, one syscall.

What is held, and when it is written:
- only the head of an answer whose length is known (a chunked answer may stream, and its head
  goes out at once, as before); a `100 Continue` is written before the answer starts and is
  never held;
- with the first body message (joined with it); for a HEAD request, which writes no body,
  when the answer completes; before the connection is closed (an app that fails or returns
  after starting its answer: the client gets the head, then the close, as before); before
  a 400 for a malformed pipelined request.

It is uvicorn's own protocol class passed as `uvicorn.Config(http=...)`; the request/response
cycle is uvicorn's too, built with this transport stand-in and completion callback in place
of the real ones (both are constructor arguments). A test compares the raw bytes of many
kinds of answers with uvicorn's stock protocol (tests/test_http_protocol.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle


class HeadJoiningTransport:
    """What one request/response cycle writes through: the answer's head is kept back until the
    body's first write, then both go in one `write`. Everything else is the connection's."""

    __slots__ = ("_cycle", "_head", "_on_response", "_started", "transport")

    def __init__(self, transport: asyncio.Transport, cycle: RequestResponseCycle) -> None:
        self.transport = transport
        self._cycle = cycle
        self._head = b""
        self._started = False  # the answer's head has gone through write()
        self._on_response: Callable[..., None] = cycle.on_response

    def write(self, data: bytes) -> None:
        if not self._started and self._cycle.response_started:
            # The first write after `http.response.start` is the head (uvicorn has decided
            # Content-Length vs chunked just before it).
            self._started = True
            if self._cycle.chunked_encoding is False:
                self._head = data
                return
        head = self._head
        if head:
            self._head = b""
            data = head + data
        self.transport.write(data)

    def flush(self) -> None:
        """Write a head still held (HEAD request, an answer that will not get its body)."""
        head = self._head
        if head:
            self._head = b""
            self.transport.write(head)

    def close(self) -> None:
        self.flush()
        self.transport.close()

    def is_closing(self) -> bool:
        return self.transport.is_closing()

    def on_response(self) -> None:
        """The cycle's completion callback: the held head (a HEAD answer) goes first."""
        self.flush()
        self._on_response()

    def __getattr__(self, name: str) -> Any:
        # Whatever else a cycle may ask of its transport is the connection's.
        return getattr(self.transport, name)


class OneWriteHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol whose cycles write through a `HeadJoiningTransport`."""

    def on_headers_complete(self) -> None:
        before = self.cycle
        super().on_headers_complete()
        cycle = self.cycle
        # A new cycle (not an upgrade, which returns without one); its ASGI task may have been
        # created but has not run yet, so it writes through the stand-in from its first send.
        if cycle is not None and cycle is not before:
            joining = HeadJoiningTransport(self.transport, cycle)
            cycle.transport = joining  # type: ignore[assignment]
            cycle.on_response = joining.on_response

    def send_400_response(self, msg: str) -> None:
        # A malformed pipelined request while an answer's head is held: that head first.
        cycle = self.cycle
        if cycle is not None and isinstance(cycle.transport, HeadJoiningTransport):
            cycle.transport.flush()
        super().send_400_response(msg)
