"""A health endpoint per service: GET /health answers 200 when the database and the broker
connection work, 503 otherwise. Plain asyncio: a service needs no web framework for this."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

Check = Callable[[], Awaitable[dict[str, str]]]


class HealthServer:
    def __init__(self, host: str, port: int, check: Check) -> None:
        self._host = host
        self._port = port
        self._check = check
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self._host, self._port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = await asyncio.wait_for(reader.readline(), 5)
            while (await asyncio.wait_for(reader.readline(), 5)) not in (b"\r\n", b"\n", b""):
                pass  # headers are not needed
            parts = request_line.decode("latin-1").split()
            if len(parts) < 2 or parts[0] != "GET" or parts[1].split("?")[0] != "/health":
                status, body = "404 Not Found", {"status": "not found"}
            else:
                body = await self._check()
                healthy = all(v == "ok" for k, v in body.items() if k not in ("service",))
                status = "200 OK" if healthy else "503 Service Unavailable"
                body["status"] = "ok" if healthy else "unhealthy"
            payload = json.dumps(body).encode()
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode()
                + payload
            )
            await writer.drain()
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
