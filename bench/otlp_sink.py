"""A tiny local OTLP/HTTP receiver for the benchmarks: accepts `POST /v1/traces` (protobuf, as
opentelemetry-exporter-otlp-proto-http sends it), counts the spans and traces, answers 200 and
keeps nothing. It stands in for an OpenTelemetry Collector, so the services pay the whole
export (batching, protobuf encoding, the HTTP POST) as they would in production.
"""

from __future__ import annotations

import gzip
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class OtlpSink:
    def __init__(self) -> None:
        self.spans = 0
        self.trace_ids: set[bytes] = set()
        self.posts = 0
        self._lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                sink.count(body)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def count(self, body: bytes) -> None:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
        )

        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        with self._lock:
            self.posts += 1
            for resource in request.resource_spans:
                for scope in resource.scope_spans:
                    self.spans += len(scope.spans)
                    self.trace_ids.update(span.trace_id for span in scope.spans)

    def reset(self) -> None:
        with self._lock:
            self.spans, self.posts = 0, 0
            self.trace_ids.clear()

    def __enter__(self) -> OtlpSink:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
