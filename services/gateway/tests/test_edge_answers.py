"""What our middleware does to every answer, pinned byte for byte (issue 15, third round).

The six middleware layers (metrics, correlation id and access log, security headers,
Idempotency-Key, body limit, the unhandled-error net) became one layer. These answers were
recorded from the six layers (the snapshot file next to this one, written with
CK_WRITE_EDGE_SNAPSHOT=1 on the commit before the change) and must stay exactly the same:
status, every header in its order, the body, the metrics' labels, and what escapes the app.
The app runs over raw ASGI (no HTTP client in between that could reorder or merge headers).
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from ck_gateway.app import create_app
from ck_gateway.settings import get_settings
from ck_runtime import metrics
from ck_testkit.weborder_stub import KEY, PATH, StubRpc, stored
from fastapi import FastAPI
from starlette.responses import PlainTextResponse, StreamingResponse
from starlette.types import Message
from structlog.testing import capture_logs

BODY: dict[str, Any] = {
    "school_number": 10289,
    "activity": "Voorstelling",
    "activity_date": "2031-03-14",
    "participants": 28,
    "amount_cents": 42000,
}


SNAPSHOT = Path(__file__).with_name("edge_answers.json")
CID = "test-correlation-0001"
# A static file's, from the checkout's file times.
VARYING = (b"etag", b"last-modified")


async def boom() -> None:
    raise RuntimeError("kapot")


async def own_headers() -> PlainTextResponse:
    return PlainTextResponse(
        "eigen",
        headers={"Cache-Control": "max-age=5", "X-Frame-Options": "SAMEORIGIN"},
    )


async def breaks_midway() -> StreamingResponse:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"begin"
        raise RuntimeError("halverwege")

    return StreamingResponse(chunks())


def build(hsts: bool) -> FastAPI:
    app = create_app(
        get_settings(secret_key="s", max_body_bytes=4096, secure_cookies=hsts),
        rpc=StubRpc(stored(BODY)),  # type: ignore[arg-type]
    )
    app.add_api_route("/kapot", boom)
    app.add_api_route("/api/v1/kapot", boom)
    app.add_api_route("/eigen-headers", own_headers)
    app.add_api_route("/halverwege", breaks_midway)
    return app


def weborder(**extra: str) -> dict[str, str]:
    return {
        "authorization": f"Bearer {KEY}",
        "content-type": "application/json",
        "x-correlation-id": CID,
        **extra,
    }


BODY_BYTES = json.dumps(BODY).encode()
# name: (method, path, headers, body chunks)
CASES: dict[str, tuple[str, str, dict[str, str], list[bytes]]] = {
    "weborder_201": ("POST", PATH, weborder(**{"idempotency-key": "k-1"}), [BODY_BYTES]),
    "weborder_201_no_key": ("POST", PATH, weborder(), [BODY_BYTES]),
    "weborder_bad_idempotency_key": (
        "POST",
        PATH,
        weborder(**{"idempotency-key": "met spatie"}),
        [BODY_BYTES],
    ),
    "weborder_declared_too_large": (
        "POST",
        PATH,
        weborder(**{"content-length": "5000"}),
        [b"x" * 5000],
    ),
    "weborder_streamed_too_large": ("POST", PATH, weborder(), [b"x" * 3000, b"x" * 3000]),
    "weborder_422": ("POST", PATH, weborder(), [b"{}"]),
    "page_streamed_too_large": (
        "POST",
        "/inloggen",
        {"x-correlation-id": CID},
        [b"x" * 3000, b"x" * 3000],
    ),
    "page_500": ("GET", "/kapot", {"x-correlation-id": CID}, []),
    "api_500": ("GET", "/api/v1/kapot", {"x-correlation-id": CID}, []),
    "api_404": ("GET", "/api/v1/bestaat-niet", {"x-correlation-id": CID}, []),
    "own_headers_kept": ("GET", "/eigen-headers", {"x-correlation-id": CID}, []),
    "static": ("GET", "/static/portal.css", {"x-correlation-id": CID}, []),
    "static_no_slash": ("GET", "/static", {"x-correlation-id": CID}, []),
    "docs": ("GET", "/api/docs", {"x-correlation-id": CID}, []),
    "health": ("GET", "/health/live", {"x-correlation-id": CID}, []),
    "login_page": ("GET", "/inloggen", {"x-correlation-id": "not sane!"}, []),
    "breaks_midway": ("GET", "/halverwege", {"x-correlation-id": CID}, []),
}


async def answer(app: FastAPI, case: str) -> dict[str, Any]:
    method, path, headers, chunks = CASES[case]
    raw = [(k.encode(), v.encode()) for k, v in headers.items()]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), *raw],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "app": app,
    }
    pending = [
        {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
        for i, chunk in enumerate(chunks)
    ] or [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive() -> Message:
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    before = counts()
    escaped = None
    with capture_logs() as logs:
        try:
            await app(scope, receive, send)
        except Exception as exc:
            escaped = type(exc).__name__
    after = counts()
    lines = [
        # `where` without the checkout's folder and the line number.
        {k: where(v) if k == "where" else str(v) for k, v in line.items()}
        for line in logs
        if line["event"] in ("http.request", "http.unhandled")
    ]
    for line in lines:
        line.pop("duration_ms", None)
    recorded: dict[str, Any] = {"escaped": escaped, "logs": lines, "messages": []}
    for message in sent:
        if message["type"] == "http.response.start":
            pairs = []
            for name, value in message["headers"]:
                text = value.decode("latin-1")
                if name in VARYING:
                    text = "<varies>"
                elif name == b"set-cookie" and text.startswith("ck_csrf="):
                    text = "ck_csrf=<random>" + text[text.index(";") :]
                elif name == b"x-correlation-id" and text != CID:
                    text = f"<new, {len(text)} characters>"
                pairs.append([name.decode("latin-1"), text])
            recorded["messages"].append({"status": message["status"], "headers": pairs})
        else:
            recorded["messages"].append(
                {"body": message.get("body", b"").decode("utf-8", "replace")[:400]}
            )
    changed = {k for k in after if after[k] != before.get(k, 0)}
    recorded["metrics"] = {k: after[k] - before.get(k, 0) for k in sorted(changed)}
    return recorded


def where(value: str) -> str:
    file_and_line, _, function = value.rpartition(" in ")
    return f"{file_and_line.rsplit('/', 1)[-1].split(':')[0]} in {function}"


def counts() -> dict[str, float]:
    found: dict[str, float] = {}
    for family in metrics.HTTP_REQUESTS.collect():
        for sample in family.samples:
            if sample.name.endswith("_total"):
                found[f"{sample.labels['route']} {sample.labels['status']}"] = sample.value
    return found


async def all_answers() -> dict[str, Any]:
    recorded: dict[str, Any] = {}
    for hsts in (False, True):
        app = build(hsts)
        for case in CASES:
            recorded[f"{case} hsts={hsts}"] = await answer(app, case)
    return recorded


@pytest.fixture(autouse=True)
def metrics_on() -> Any:
    was = metrics.ENABLED
    metrics.configure(True)
    yield
    metrics.configure(was)


async def test_every_answer_is_as_the_six_layers_gave_it() -> None:
    recorded = await all_answers()
    if os.environ.get("CK_WRITE_EDGE_SNAPSHOT") == "1":
        SNAPSHOT.write_text(json.dumps(recorded, indent=1, ensure_ascii=False) + "\n")
    expected = json.loads(SNAPSHOT.read_text())
    assert recorded.keys() == expected.keys()
    for case, answer_ in recorded.items():
        assert answer_ == expected[case], case
