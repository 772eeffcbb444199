"""Exception handlers: each failure answered as a Dutch page, or as JSON under /api."""

from __future__ import annotations

from urllib.parse import quote

from ck_runtime.logs import get_logger
from ck_runtime.rpc_client import RpcFailed, ServiceUnavailable
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Mount

from ck_gateway import errors
from ck_gateway.auth import LoginRequired
from ck_gateway.csrf import EXPIRED_MESSAGE, CsrfFailed
from ck_gateway.errors import GatewayError
from ck_gateway.rendering import render_bare_error, render_error

log = get_logger(__name__)

API_PREFIX = "/api"


def is_api_path(path: str) -> bool:
    return path == API_PREFIX or path.startswith(API_PREFIX + "/")


def json_error(error: GatewayError) -> JSONResponse:
    headers = error.headers()
    if error.status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(error.body(), status_code=error.status, headers=headers)


def login_redirect(request: Request) -> RedirectResponse:
    """To /inloggen, and back to the page asked for (GET only: a form post is not repeated)."""
    target = "/inloggen"
    if request.method == "GET" and request.url.path not in ("/", "/inloggen"):
        target += "?next=" + quote(request.url.path, safe="/")
    return RedirectResponse(target, status_code=303)


def respond(request: Request, error: GatewayError) -> Response:
    if error.status >= 500:
        log.warning("http.failed", status=error.status, code=error.code)
    if is_api_path(request.url.path):
        return json_error(error)
    if error.status == 401:
        return login_redirect(request)
    try:
        return render_error(request, error)
    except Exception:  # the layout itself failed: still answer in Dutch
        log.exception("http.error_page_failed")
        return render_bare_error(error)


async def _gateway_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, GatewayError)
    return respond(request, exc)


async def _rpc_failed(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RpcFailed)
    return respond(request, errors.from_rpc_error(exc.error))


async def _service_unavailable(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ServiceUnavailable)
    log.warning("rpc.unavailable", service=exc.service, reason=exc.reason)
    return respond(request, errors.from_unavailable(exc))


async def _validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    error = errors.from_validation(list(exc.errors()))
    if not is_api_path(request.url.path) and error.status == 422:
        # On pages only a malformed address gets here (forms are read by the routes).
        error = errors.from_http_status(404)
    return respond(request, error)


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route takes on this path. Starlette's own Allow names only the first
    route whose path matched, while GET and POST of one path are often two routes here (and
    included routers nest), so each method is tried against the routes. Mounts (static files)
    answer 405 with their own Allow."""
    routes = [r for r in request.app.router.routes if not isinstance(r, Mount)]
    allowed = []
    for method in _METHODS:
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] == Match.FULL for route in routes):
            allowed.append(method)
    return allowed


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 405:
        allowed = allowed_methods(request)
        if not allowed and exc.headers and "Allow" in exc.headers:
            allowed = [m.strip() for m in exc.headers["Allow"].split(",")]
        return respond(request, errors.method_not_allowed(allowed))
    return respond(request, errors.from_http_status(exc.status_code))


async def _csrf_failed(request: Request, exc: Exception) -> Response:
    log.info("csrf.refused", path=request.url.path)
    return respond(request, GatewayError(403, "csrf", EXPIRED_MESSAGE))


async def _login_required(request: Request, exc: Exception) -> Response:
    return login_redirect(request)


def install(app: FastAPI) -> None:
    app.add_exception_handler(GatewayError, _gateway_error)
    app.add_exception_handler(RpcFailed, _rpc_failed)
    app.add_exception_handler(ServiceUnavailable, _service_unavailable)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http_exception)
    app.add_exception_handler(CsrfFailed, _csrf_failed)
    app.add_exception_handler(LoginRequired, _login_required)
