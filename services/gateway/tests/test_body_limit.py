"""The request body limit, as logic and in the middleware around a stand-in ASGI app (no I/O)."""

from __future__ import annotations

from typing import Any

from ck_gateway.middleware.body_limit import ByteBudget, declared_length
from ck_gateway.middleware.edge import GatewayEdge
from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse, Response
from starlette.types import Message, Receive, Scope, Send

LIMIT = 100


def test_declared_length_reads_only_plain_numbers() -> None:
    assert declared_length(Headers({"content-length": "42"})) == 42
    assert declared_length(Headers({})) is None
    assert declared_length(Headers({"content-length": "-1"})) is None
    assert declared_length(Headers({"content-length": "12abc"})) is None


def test_budget_allows_exactly_the_limit() -> None:
    budget = ByteBudget(LIMIT)
    assert budget.add(60)
    assert budget.add(40)
    assert not budget.exceeded
    assert not budget.add(1)
    assert budget.exceeded


class ReadsWholeBody:
    """A stand-in app that reads the body to its end and echoes its length."""

    def __init__(self) -> None:
        self.read = 0
        self.saw_disconnect = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                self.saw_disconnect = True
                raise ConnectionError("client went away")
            self.read += len(message.get("body", b""))
            if not message.get("more_body", False):
                break
        await PlainTextResponse(str(self.read))(scope, receive, send)


def reject(_scope: Scope) -> Response:
    return PlainTextResponse("te groot", status_code=413)


async def run(
    app: Any, chunks: list[bytes], headers: list[tuple[bytes, bytes]]
) -> tuple[list[Message], int]:
    pending = [
        {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
        for i, chunk in enumerate(chunks)
    ]
    delivered = 0

    async def receive() -> Message:
        nonlocal delivered
        delivered += 1
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/", "headers": headers}
    edge = GatewayEdge(
        app,
        secret="s",
        hsts=False,
        max_bytes=LIMIT,
        reject=reject,
        limit_for=None,
        respond=lambda _scope: PlainTextResponse("kapot", status_code=500),
    )
    await edge(scope, receive, send)
    return sent, delivered


def status_of(sent: list[Message]) -> int:
    starts = [m for m in sent if m["type"] == "http.response.start"]
    assert len(starts) == 1, "exactly one response"
    return int(starts[0]["status"])


async def test_declared_length_over_the_limit_is_refused_before_reading() -> None:
    app = ReadsWholeBody()
    sent, delivered = await run(app, [b"x" * 500], [(b"content-length", b"500")])
    assert status_of(sent) == 413
    assert delivered == 0
    assert app.read == 0


async def test_streamed_body_over_the_limit_is_cut_off_at_the_limit() -> None:
    app = ReadsWholeBody()
    chunks = [b"x" * 60, b"x" * 60, b"x" * 60, b"x" * 60]
    sent, delivered = await run(app, chunks, [])
    assert status_of(sent) == 413
    assert delivered == 2  # the chunk that crossed the limit was the last one read
    assert app.saw_disconnect


async def test_body_within_the_limit_passes() -> None:
    app = ReadsWholeBody()
    sent, _ = await run(app, [b"x" * 50, b"x" * 50], [(b"content-length", b"100")])
    assert status_of(sent) == 200
    assert app.read == 100
