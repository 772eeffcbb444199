"""Health and metrics port of a process (every service; the gateway with GATEWAY_HEALTH_PORT).

- `GET /health/live`: 200 while the process and its event loop answer. Liveness only: a
  database or broker outage never makes an orchestrator restart a healthy process.
- `GET /health/ready` (and `/health`, kept for older probes): 200 when the database and the
  broker are usable right now, else 503 with a JSON body naming what is down. Each probe
  does real work with a short timeout (`SELECT 1`, opening a channel on the broker
  connection), and the answer is kept for `cache_seconds`, so probes from several sources
  cost one round trip each per period.
- `GET /metrics`: Prometheus text (ck_runtime.metrics), unless metrics are off.

Plain asyncio: a service needs no web framework for this.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from ck_runtime import metrics

# A probe returns when its dependency works and raises (or times out) when it does not.
Probe = Callable[[], Awaitable[None]]
DOWN = "unreachable"


class Readiness:
    """Runs named probes with a timeout; caches the answer for `cache_seconds` and lets
    concurrent callers share one run."""

    def __init__(
        self,
        service: str,
        probes: Mapping[str, Probe],
        *,
        timeout: float = 2.0,
        cache_seconds: float = 2.0,
    ) -> None:
        self.service = service
        self._probes = dict(probes)
        self._timeout = timeout
        self._cache_seconds = cache_seconds
        self._answer: dict[str, Any] | None = None
        self._answered_at = 0.0
        self._running: asyncio.Task[dict[str, Any]] | None = None

    async def check(self) -> dict[str, Any]:
        """{"service", "status": "ok"|"unhealthy", one "ok"|"unreachable" per probe, and
        "down": [names] when something is}."""
        # Monotonic loop time, not the runtime Clock: a test may stop or move that clock.
        now = asyncio.get_running_loop().time()
        if self._answer is not None and now - self._answered_at < self._cache_seconds:
            return self._answer
        if self._running is None:
            self._running = asyncio.create_task(self._run())
        running = self._running
        try:
            return await asyncio.shield(running)
        finally:
            if running.done() and self._running is running:
                self._running = None

    async def _run(self) -> dict[str, Any]:
        names = list(self._probes)
        results = await asyncio.gather(
            *(asyncio.wait_for(self._probes[name](), self._timeout) for name in names),
            return_exceptions=True,
        )
        answer: dict[str, Any] = {"service": self.service}
        down = [name for name, result in zip(names, results, strict=True) if result is not None]
        for name in names:
            answer[name] = DOWN if name in down else "ok"
        answer["status"] = "unhealthy" if down else "ok"
        if down:
            answer["down"] = down
        self._answer, self._answered_at = answer, asyncio.get_running_loop().time()
        return answer

    def invalidate(self) -> None:
        """Probe again on the next check (at stop: the answer must not outlive the process's
        connections)."""
        self._answer = None

    @staticmethod
    def ready(answer: Mapping[str, Any]) -> bool:
        return answer.get("status") == "ok"


class HealthServer:
    def __init__(self, host: str, port: int, readiness: Readiness) -> None:
        self._host = host
        self._port = port
        self._readiness = readiness
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

    async def _answer(self, method: str, path: str) -> tuple[str, str, bytes]:
        """(status line, content type, body) of one request."""
        if method != "GET":
            return "405 Method Not Allowed", "application/json", b'{"status":"not allowed"}'
        if path == "/health/live":
            body = {"service": self._readiness.service, "status": "ok"}
            return "200 OK", "application/json", json.dumps(body).encode()
        if path in ("/health/ready", "/health"):
            answer = await self._readiness.check()
            status = "200 OK" if Readiness.ready(answer) else "503 Service Unavailable"
            return status, "application/json", json.dumps(answer).encode()
        if path == "/metrics" and metrics.ENABLED:
            answer = await self._readiness.check()  # cached: a scrape adds no probe storm
            metrics.READY.labels(self._readiness.service).set(int(Readiness.ready(answer)))
            payload, content_type = metrics.exposition()
            return "200 OK", content_type, payload
        return "404 Not Found", "application/json", b'{"status":"not found"}'

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = await asyncio.wait_for(reader.readline(), 5)
            while (await asyncio.wait_for(reader.readline(), 5)) not in (b"\r\n", b"\n", b""):
                pass  # headers are not needed
            parts = request_line.decode("latin-1").split()
            if len(parts) < 2:
                return
            status, content_type, payload = await self._answer(parts[0], parts[1].split("?")[0])
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode()
                + payload
            )
            await writer.drain()
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
