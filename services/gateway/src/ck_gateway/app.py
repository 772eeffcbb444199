"""The gateway application: pages and JSON API in front of the services (no domain data here).

create_app() wires settings, the RPC client, middleware, error handlers and routes. The
FastAPI lifespan starts the RPC client (unless the caller already did) and stops what it
started.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from ck_runtime import metrics, tracing
from ck_runtime.clock import Clock, install_clock
from ck_runtime.health import HealthServer, Readiness
from ck_runtime.logs import get_logger
from ck_runtime.rpc_client import RpcClient
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response
from starlette.types import Scope
from swagger_ui_bundle import swagger_ui_path

from ck_gateway import error_handlers, errors, openapi_errors
from ck_gateway.middleware.edge import GatewayEdge
from ck_gateway.middleware.fast_weborders import FastWeborderCreate
from ck_gateway.middleware.tracing import TracingMiddleware
from ck_gateway.rendering import STATIC_DIR, render_bare_error
from ck_gateway.routes import (
    api,
    api_budget,
    api_docent_plus,
    api_membership,
    api_provider,
    api_roster,
    api_weborders,
    docs,
    health,
    pages_admin,
    pages_admin_operations,
    pages_admin_payouts,
    pages_admin_providers,
    pages_audit,
    pages_auth,
    pages_budget_admin,
    pages_budget_allocation,
    pages_budget_ledger,
    pages_budget_orders,
    pages_docent_plus,
    pages_dossier,
    pages_membership,
    pages_offer,
    pages_participants,
    pages_provider,
    pages_roster,
    pages_school,
    pages_weborders,
)
from ck_gateway.settings import GatewaySettings

log = get_logger(__name__)

DESCRIPTION = """JSON API of the MBO Cultuurkaart school portal.

Log in with `POST /api/v1/auth/login`, then send the token as `Authorization: Bearer <token>`.
Errors are `{"error": {"code", "message", "fields"}}`; messages are Dutch and meant for users.

Cultural providers use `/api/v1/provider/...` with their API key instead
(`Authorization: Bearer ck_live_...`); see the tag "provider".
"""


# Roster files (validatietool and upload, pages and API) may be larger than other bodies.
UPLOAD_PATHS = re.compile(
    r"^(/beheer-(studenten|docenten)/(validatietool|upload)"
    r"|/api/v1/schools/[^/]+/roster/[^/]+/(validate|upload))/?$"
)


def body_limit_for(settings: GatewaySettings) -> Callable[[Scope], int]:
    def limit(scope: Scope) -> int:
        if scope.get("method") == "POST" and UPLOAD_PATHS.match(str(scope.get("path", ""))):
            return settings.max_upload_bytes
        return settings.max_body_bytes

    return limit


def _error_response(scope: Scope, error: errors.GatewayError) -> Response:
    """For middleware that answers before routing: JSON under /api, a page elsewhere."""
    if error_handlers.is_api_path(str(scope.get("path", ""))):
        return error_handlers.json_error(error)
    return render_bare_error(error)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    rpc: RpcClient = app.state.rpc
    settings: GatewaySettings = app.state.settings
    started_here = not rpc.connected
    if started_here:
        await rpc.start()  # raises BrokerUnreachable with a one-sentence message
    # Probes and /metrics on a port of their own, never exposed through the ingress.
    health: HealthServer | None = None
    if settings.health_port:
        health = HealthServer(settings.health_host, settings.health_port, app.state.readiness)
        await health.start()
    log.info("gateway.started", health_port=settings.health_port or None)
    try:
        yield
    finally:
        if health is not None:
            await health.stop()
        if started_here:
            await rpc.stop()
        app.state.readiness.invalidate()
        log.info("gateway.stopped")


def create_app(
    settings: GatewaySettings, rpc: RpcClient | None = None, clock: Clock | None = None
) -> FastAPI:
    app = FastAPI(
        title="MBO Cultuurkaart portal API",
        version="1",
        description=DESCRIPTION,
        openapi_tags=[api_provider.PROVIDER_TAG],
        lifespan=lifespan,
        openapi_url=docs.OPENAPI_PATH,
        docs_url=None,  # our own page: Swagger UI from local files, no inline script
        redoc_url=None,
        # FastAPI's own OpenTelemetry hooks would add a second server span (and metrics and
        # logs we take elsewhere) once a tracer provider is global: ours is TracingMiddleware.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    if settings.portal_url.startswith("https://") and not settings.secure_cookies:
        log.warning(
            "gateway.insecure_cookies",
            detail="the portal is served over https: set GATEWAY_SECURE_COOKIES=true",
        )
    app.state.settings = settings
    app.state.secret_key = settings.effective_secret_key()
    app.state.trusted_proxies = settings.trusted_proxy_networks()
    app.state.clock = clock or settings.clock()
    install_clock(app.state.clock)
    app.state.rpc = rpc or RpcClient(
        settings.amqp_url, timeout=settings.rpc_timeout, signer=settings.request_signer()
    )
    app.state.readiness = Readiness("gateway", {"broker": app.state.rpc.probe})
    metrics.configure(settings.metrics_enabled)

    error_handlers.install(app)
    # The provider API's weborder creation, the hot path, is answered before the router;
    # around it and everything else, our middleware as one layer (ck_gateway.middleware.edge:
    # metrics, access log, security headers, Idempotency-Key, body limit, the error net).
    app.add_middleware(FastWeborderCreate, fastapi=app)
    limit_for = body_limit_for(settings)
    app.add_middleware(
        GatewayEdge,
        secret=app.state.secret_key,
        hsts=settings.secure_cookies,
        max_bytes=settings.max_body_bytes,
        reject=lambda scope: _error_response(scope, errors.too_large(limit_for(scope))),
        limit_for=limit_for,
        respond=lambda scope: _error_response(scope, errors.internal()),
    )

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.mount(docs.DOCS_ASSETS, StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")
    for router in (
        # First: routes are matched in order, and the provider API's weborder creation is the
        # hottest path (bench/bench_weborders.py); its paths overlap no other route.
        api_provider.router,
        pages_auth.router,
        pages_school.router,
        pages_roster.router,
        pages_membership.router,
        pages_budget_orders.router,
        pages_budget_ledger.router,
        pages_budget_allocation.router,
        pages_budget_admin.router,
        pages_weborders.router,
        pages_participants.router,  # issue 13: opnieuw goedkeuren, deelnemers
        pages_offer.router,
        pages_dossier.router,
        pages_admin.router,
        pages_admin_providers.router,
        pages_admin_payouts.router,  # issue 13: reimbursement statements
        pages_admin_operations.router,
        pages_docent_plus.router,
        pages_audit.router,  # audit trail (issue 13)
        pages_provider.router,  # issue 13: the provider portal (/aanbieder)
        api.router,
        api_budget.router,
        api_membership.router,
        api_weborders.router,
        api_docent_plus.router,
        api_roster.router,
        health.router,
        docs.router,
    ):
        app.include_router(router)
    openapi_errors.install(app)
    _trace_requests(app)
    return app


def _trace_requests(app: FastAPI) -> None:
    """A server span per HTTP request, outermost, when tracing is on (ck_runtime.tracing)."""
    found = tracing.tracer("gateway")
    if found is not None:
        app.add_middleware(TracingMiddleware, tracer=found)
