"""ck-gateway's uvicorn protocol writes an answer's head and body in one write and otherwise
the very bytes of uvicorn's stock httptools protocol (ck_gateway.http_protocol)."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest
import uvicorn
from ck_gateway import main
from ck_gateway.http_protocol import OneWriteHttpToolsProtocol
from ck_gateway.settings import get_settings
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answers of every shape uvicorn writes, chosen by the path."""
    path = scope["path"]
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    size = int(scope["query_string"] or b"5")
    payload = bytes(random.Random(size).randrange(32, 127) for _ in range(size)) + body
    length = [(b"content-length", str(len(payload)).encode())]
    if path == "/sized":
        await send({"type": "http.response.start", "status": 201, "headers": length})
        await send({"type": "http.response.body", "body": payload})
    elif path == "/parts":  # Content-Length, the body in three messages
        await send({"type": "http.response.start", "status": 200, "headers": length})
        third = len(payload) // 3
        await send({"type": "http.response.body", "body": payload[:third], "more_body": True})
        await asyncio.sleep(0)
        await send({"type": "http.response.body", "body": payload[third:], "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    elif path == "/chunked":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": payload, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    elif path == "/empty":
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})
    elif path == "/close":
        headers = [*length, (b"connection", b"close")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": payload})
    elif path == "/fail-after-start":
        await send({"type": "http.response.start", "status": 200, "headers": length})
        raise RuntimeError("boom")
    elif path == "/return-after-start":
        await send({"type": "http.response.start", "status": 200, "headers": length})
    elif path == "/fail":
        raise RuntimeError("boom")
    elif path == "/too-long":
        await send({"type": "http.response.start", "status": 200, "headers": length})
        await send({"type": "http.response.body", "body": payload + b"!"})
    else:
        await send({"type": "http.response.start", "status": 404, "headers": length})
        await send({"type": "http.response.body", "body": payload})


class RecordingTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        assert not self.closed
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 40000)}.get(
            name, default
        )


async def exchange(
    protocol_class: type[HttpToolsProtocol], chunks: list[bytes]
) -> RecordingTransport:
    config = uvicorn.Config(app, log_config=None, lifespan="off", server_header=False)
    config.load()
    protocol = protocol_class(config, ServerState(), {})
    transport = RecordingTransport()
    protocol.connection_made(transport)
    for chunk in chunks:
        protocol.data_received(chunk)
        for _ in range(20):  # let the cycles run
            await asyncio.sleep(0)
    if not transport.closed:
        protocol.connection_lost(None)
    for _ in range(5):
        await asyncio.sleep(0)
    return transport


def get(path: str, method: str = "GET", extra: str = "", version: str = "1.1") -> bytes:
    return f"{method} {path} HTTP/{version}\r\nHost: t\r\n{extra}\r\n".encode()


def post(path: str, body: bytes) -> bytes:
    return f"POST {path} HTTP/1.1\r\nHost: t\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body


CONVERSATIONS: dict[str, list[bytes]] = {
    "sized": [get("/sized?40")],
    "sized empty body": [get("/sized?0")],
    "sized large": [get("/sized?200000")],
    "post": [post("/sized?7", b'{"a": 1}')],
    "HEAD": [get("/sized?40", method="HEAD")],
    "HEAD then GET": [get("/sized?40", method="HEAD") + get("/sized?3")],
    "parts": [get("/parts?90")],
    "chunked": [get("/chunked?33")],
    "204": [get("/empty")],
    "connection close": [get("/close?12")],
    "client asks close": [get("/sized?12", extra="Connection: close\r\n")],
    "HTTP/1.0": [get("/sized?12", version="1.0")],
    "HEAD HTTP/1.0": [get("/sized?12", method="HEAD", version="1.0")],
    "fail after start": [get("/fail-after-start?10")],
    "return after start": [get("/return-after-start?10")],
    "fail before start": [get("/fail")],
    "body longer than declared": [get("/too-long?10")],
    "404": [get("/nowhere?4")],
    "pipelined": [get("/sized?5") + get("/parts?30") + get("/chunked?8") + get("/sized?1")],
    "keep-alive, one at a time": [get("/sized?5"), get("/sized?6"), post("/sized?2", b"xy")],
    "expect 100-continue": [
        b"POST /sized?3 HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n",
        b"abcd",
    ],
    "malformed after an answer": [get("/sized?5") + b"NOT HTTP AT ALL\r\n\r\n"],
    "malformed pipelined": [get("/sized?5") + get("/sized?6") + b"\x00\x01 garbage\r\n\r\n"],
}


@pytest.mark.parametrize("name", list(CONVERSATIONS))
async def test_the_same_bytes_as_uvicorns_protocol(name: str) -> None:
    chunks = CONVERSATIONS[name]
    stock = await exchange(HttpToolsProtocol, chunks)
    ours = await exchange(OneWriteHttpToolsProtocol, chunks)
    assert b"".join(ours.writes) == b"".join(stock.writes)
    assert ours.closed == stock.closed
    assert b"".join(stock.writes)  # every conversation gets an answer


@pytest.mark.parametrize("path", ["/sized?40", "/sized?0", "/close?3", "/nowhere?9"])
async def test_an_answer_with_a_length_is_one_write(path: str) -> None:
    stock = await exchange(HttpToolsProtocol, [get(path)])
    ours = await exchange(OneWriteHttpToolsProtocol, [get(path)])
    assert len(stock.writes) == 2
    assert ours.writes == [b"".join(stock.writes)]


async def test_keep_alive_answers_are_one_write_each() -> None:
    ours = await exchange(OneWriteHttpToolsProtocol, [get("/sized?5"), get("/sized?6")])
    assert len(ours.writes) == 2
    assert all(w.startswith(b"HTTP/1.1 201 Created\r\n") for w in ours.writes)


async def test_a_head_answer_is_written_when_it_completes() -> None:
    ours = await exchange(OneWriteHttpToolsProtocol, [get("/sized?40", method="HEAD")])
    assert len(ours.writes) == 1
    assert ours.writes[0].endswith(b"\r\n\r\n")


async def test_100_continue_is_not_held() -> None:
    ours = await exchange(
        OneWriteHttpToolsProtocol,
        [b"POST /sized?3 HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"],
    )
    assert ours.writes[0] == b"HTTP/1.1 100 Continue\r\n\r\n"


def test_ck_gateway_serves_with_it() -> None:
    config = main.uvicorn_config(app, get_settings(host="127.0.0.1", port=8000))
    assert config.http is OneWriteHttpToolsProtocol
