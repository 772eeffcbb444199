"""`ck-gateway`: run the portal with uvicorn.

The lifespan is entered here rather than by uvicorn, so that an unreachable broker at start-up
ends the process with one clear sentence and exit code 2 instead of a traceback.
"""

from __future__ import annotations

import gc
import signal
import sys
from types import FrameType
from typing import Any

import uvicorn
from ck_runtime import event_loop, tracing
from ck_runtime.amqp import BrokerUnreachable
from ck_runtime.logs import configure_logging, get_logger
from ck_runtime.settings import SettingsError
from fastapi import FastAPI
from pydantic import ValidationError

from ck_gateway.app import create_app
from ck_gateway.http_protocol import OneWriteHttpToolsProtocol
from ck_gateway.settings import GatewaySettings, get_settings


def uvicorn_config(app: Any, settings: GatewaySettings) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        lifespan="off",  # entered in serve()
        log_config=None,  # keep configure_logging's JSON lines
        access_log=False,  # the gateway writes its own access line (no query strings)
        server_header=False,
        # uvicorn would rewrite the client address from X-Forwarded-For for the peers in
        # FORWARDED_ALLOW_IPS (by default 127.0.0.1): the gateway decides that itself, from
        # GATEWAY_TRUSTED_PROXIES only (client_address.py).
        proxy_headers=False,
        # uvicorn's httptools protocol, an answer's head and body in one write (http_protocol.py)
        http=OneWriteHttpToolsProtocol,
    )


async def serve(app: FastAPI, settings: GatewaySettings) -> None:
    server = uvicorn.Server(uvicorn_config(app, settings))
    _stop_on_signals(server)
    async with app.router.lifespan_context(app):
        settle_heap()
        await server.serve()


def settle_heap() -> None:
    """What start-up built (routes, schemas, templates, the broker connection) out of the
    garbage collector's way: frozen objects are never scanned again. Requests promote some of
    their objects to the oldest generation, and each full collection then walked the whole
    start-up heap too, ~8 % of the gateway's CPU per weborder (docs/performance.md)."""
    gc.collect()
    gc.freeze()


def _stop_on_signals(server: uvicorn.Server) -> None:
    """SIGINT/SIGTERM stop the server and let the lifespan close the broker connection.

    uvicorn handles both while it serves, then re-raises the signal to the handler that was
    there before; with the default one the process would die before the lifespan's exit.
    """

    def stop(_signal: int, _frame: FrameType | None) -> None:
        server.should_exit = True

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, stop)


def main() -> None:
    try:
        settings = get_settings()
    except ValidationError as exc:
        names = ", ".join(f"GATEWAY_{'_'.join(map(str, e['loc'])).upper()}" for e in exc.errors())
        print(
            f"gateway: invalid setting(s): {names}; see services/gateway/README.md", file=sys.stderr
        )
        raise SystemExit(2) from None
    configure_logging("gateway", settings.log_level, settings.log_json)
    if tracing.setup_from_environment("gateway"):  # before create_app, which instruments it
        get_logger(__name__).info("tracing.on", detail="OTLP export (OTEL_EXPORTER_OTLP_ENDPOINT)")
    try:
        app = create_app(settings)  # a missing GATEWAY_SECRET_KEY stops here (fail closed)
        event_loop.run(serve(app, settings))
    except (BrokerUnreachable, SettingsError) as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    finally:
        tracing.shutdown()  # flush the spans still batched


if __name__ == "__main__":
    main()
