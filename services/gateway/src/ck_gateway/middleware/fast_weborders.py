"""POST /api/v1/provider/weborders without FastAPI's routing and dependency solving (issue 15).

The gateway's hottest request (bench/bench_weborders.py). Under load, py-spy showed Starlette's
routing, FastAPI's request handler and its dependency solving (the HTTPBearer dependency, the
header and the body parameter) at about a fifth of the gateway's busy samples, more than the
RPC call itself. A well-formed request is answered here instead: the key as the route's
dependency accepts it, an absent or valid Idempotency-Key, a JSON body that validates as
FastAPI validates it (`json.loads`, then the model in Python mode). Same use case, same
response, same exception handlers as the route.

Anything else (no or a malformed key, another content type, a body that does not validate)
goes on to the route with the body replayed, so every error answer (401, 400, 422) is still
the route's own. The route stays declared: the OpenAPI document is built from it.

Innermost of our middleware: metrics, access log, security headers, Idempotency-Key, body
limit and the unhandled-error net wrap this exactly as they wrap the router. The route is put
in the scope as the router would, for the metrics label and the trace's name.
"""

from __future__ import annotations

import inspect
import json
from typing import Any

from ck_contracts.bounds import Key
from ck_contracts.weborders import WeborderFields
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.security.utils import get_authorization_scheme_param
from pydantic import TypeAdapter, ValidationError
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ck_gateway.routes import api_provider
from ck_gateway.usecases import providers as usecase
from ck_gateway.usecases.providers import ProviderCaller

PATH = "/api/v1/provider/weborders"
_FIELDS: TypeAdapter[WeborderFields] = TypeAdapter(WeborderFields)
_KEY: TypeAdapter[str] = TypeAdapter(Key)


def _route() -> APIRoute:
    for route in api_provider.router.routes:
        if isinstance(route, APIRoute) and route.path == PATH and "POST" in (route.methods or ()):
            return route
    raise LookupError(f"no POST {PATH} route")  # pragma: no cover - a wiring mistake


def _accepted_headers(scope: Scope) -> tuple[str, str] | None:
    """(API key, Idempotency-Key or "") when the route would accept both, else None.

    The first value of each header, as Starlette's Headers.get gives it to the route."""
    authorization = content_type = idempotency = None
    for name, value in scope["headers"]:
        if name == b"authorization" and authorization is None:
            authorization = value.decode("latin-1")
        elif name == b"content-type" and content_type is None:
            content_type = value
        elif name == b"idempotency-key" and idempotency is None:
            idempotency = value.decode("latin-1")
    if content_type != b"application/json":
        return None
    # The route's HTTPBearer dependency and api_key(), in their order.
    scheme, key = get_authorization_scheme_param(authorization)
    if not (authorization and scheme and key) or scheme.lower() != "bearer":
        return None
    if not api_provider.is_key_shaped(key):
        return None
    if idempotency is None:
        return key, ""
    if not idempotency:  # FastAPI reads an empty header as absent; leave that case to it
        return None
    try:
        return key, _KEY.validate_python(idempotency)
    except ValidationError:
        return None


class FastWeborderCreate:
    def __init__(self, app: ASGIApp, fastapi: FastAPI) -> None:
        self.app = app
        self.fastapi = fastapi
        self.route = _route()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] != PATH
            or scope["method"] != "POST"
            or scope.get("root_path")
            or (accepted := _accepted_headers(scope)) is None
        ):
            await self.app(scope, receive, send)
            return
        messages, body = await _read_body(receive)
        fields = _validated(body) if body is not None else None
        if fields is None:
            await self.app(scope, _replaying(messages, receive), send)
            return
        key, idempotency_key = accepted
        scope["route"] = self.route
        scope["endpoint"] = self.route.endpoint
        scope["path_params"] = {}
        request = Request(scope, receive)
        try:
            answer = await usecase.create_weborder(
                request, ProviderCaller.of_key(key), fields, idempotency_key
            )
            response = api_provider.json_answer(answer, status_code=201)
        except Exception as exc:
            handler = self._handler_for(exc)
            if handler is None:
                raise
            response = handler(request, exc)
            if inspect.isawaitable(response):
                response = await response
        await response(scope, receive, send)

    def _handler_for(self, exc: Exception) -> Any:
        """The app's exception handler for `exc`, looked up as Starlette's ExceptionMiddleware
        does (by the exception's classes, most specific first)."""
        handlers = self.fastapi.exception_handlers
        for cls in type(exc).__mro__:
            if cls in handlers:
                return handlers[cls]
        return None


async def _read_body(receive: Receive) -> tuple[list[Message], bytes | None]:
    """The messages received and the whole body, or None for the body when the client
    disconnected (or the body limit cut it off) before its end."""
    messages: list[Message] = []
    chunks: list[bytes] = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages, None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return messages, b"".join(chunks)


def _validated(body: bytes) -> WeborderFields | None:
    """The body as the route would have it (Starlette's Request.json() is `json.loads`, then
    FastAPI validates in Python mode), or None when the route would refuse it."""
    if not body:
        return None
    try:
        return _FIELDS.validate_python(json.loads(body), from_attributes=True)
    except (ValueError, ValidationError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        return None


def _replaying(messages: list[Message], receive: Receive) -> Receive:
    """`receive` that first gives back the messages already read."""
    pending = list(messages)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay
